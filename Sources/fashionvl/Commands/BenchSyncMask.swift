import ArgumentParser
import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

/// `fashionvl bench syncmask`: the full SyncMask training step (momentum update and pass with the sync-layer
/// attention, ITC + ITM + MLM + MIM, backward, AdamW lr 1e-4 wd 0.02 without decay for biases / 1-D tensors /
/// momentum copies) in Swift and in the PyTorch reference port (Tests/reference/syncmask_port.py, a persistent
/// python3 on the same libtorch and thread count), in alternating rounds; one JSON line.
///
/// Both sides train the same state dict on the same batch: `syncmask_parity.py worker` writes weights, batch,
/// MLM/MIM masks and ITM negatives once (as `make` does) and both load them; every step reuses them.
struct BenchSyncMask: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "syncmask",
        abstract: "Times SyncMask training steps in Swift and in the PyTorch port (same libtorch, same threads); one JSON line.")

    @Option(help: "Registry name, JSON file or inline JSON ('{\"family\": \"syncmask\", ...}').")
    var config = "syncmask-demo"
    @Option(help: "Samples per step (at least 3).") var batch = 8
    @Option(help: "libtorch threads for both sides.") var threads = 1
    @Option(help: "Timed steps per round and side.") var steps = 1
    @Option(help: "Alternating rounds (Swift, then PyTorch); one step each by default, so load changes hit both.")
    var rounds = 5
    @Option(help: "Untimed warm-up steps per side.") var warmup = 1
    @Option(help: "Seed of the weights, batch and masks.") var seed = 0
    @Flag(help: "Choose the ITM negatives every step by the semihard_top1 rule on both sides (default: the batch file's, fixed).")
    var ruleNegatives = false
    @Flag(help: "The port computes MLM logits at the labelled positions only, as Swift does (default: at all B×L positions, as the port is written; same loss).")
    var pytorchSelectedMLM = false
    @Flag(help: "Time the Swift side only (python3 still writes the batch).") var swiftOnly = false
    @Flag(help: "Also time the parts of a Swift step (momentum pass, student forward per loss, backward, AdamW).")
    var profile = false
    @Option(help: "Also write the JSON line to this file (temp file + rename).") var out: String?

    func validate() throws {
        guard batch >= 3, threads > 0, steps > 0, rounds > 0, warmup >= 0 else {
            throw ValidationError("batch must be at least 3, threads, steps and rounds positive, warmup ≥ 0")
        }
    }

    func run() throws { try BenchSupport.reportingErrors(bench) }

    /// A registry name or file, or inline JSON.
    static func loadConfig(_ spec: String) throws -> SyncMaskConfig {
        if spec.trimmingCharacters(in: .whitespaces).hasPrefix("{") {
            return try SyncMaskConfig.decode(Data(spec.utf8), source: "--config")
        }
        return try SyncMaskConfig.load(nameOrPath: spec)
    }

    func bench() throws {
        let c = try Self.loadConfig(config)
        guard c.mlpRatio == 4 else {
            throw TorchError.invalidArgument("the PyTorch port builds mlp_ratio 4 only; '\(config)' has \(c.mlpRatio)")
        }
        guard batch <= c.queueSize else { throw TorchError.invalidArgument("--batch \(batch) exceeds queue_size \(c.queueSize)") }
        Torch.setNumThreads(threads)
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("fashionvl-bench-syncmask-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // The Swift config, written out in full, is what the port builds (its presets differ: text_pool).
        let configPath = dir.appendingPathComponent("config.json").path
        try JSONEncoder().encode(c).write(to: URL(fileURLWithPath: configPath))
        let ref = try BenchSupport.referenceDir(holding: "syncmask_parity.py")
        var arguments = [ref + "/syncmask_parity.py", "worker", "--out", dir.path, "--config", configPath,
                         "--batch", String(batch), "--threads", String(threads), "--seed", String(seed)]
        if ruleNegatives { arguments.append("--rule-negatives") }
        if pytorchSelectedMLM { arguments.append("--selected-mlm-logits") }
        let python = try PythonWorker(source: Self.pythonSource, arguments: arguments)
        _ = try python.stepTimes(0)                                   // the files are written
        let step = try SyncMaskStepBench(config: c, directory: dir.path, ruleNegatives: ruleNegatives, seed: UInt64(seed))
        let times = try BenchSupport.interleave(rounds: rounds, steps: steps, warmup: warmup,
                                                python: swiftOnly ? nil : python, swiftStep: step.timedStep)
        let s = times.swiftMedian, p = times.pytorchMedian
        var result: [String: Any] = [
            "config": config, "batch": batch, "image_size": c.imageSize, "text_length": c.textLength,
            "vocab_size": c.vocabSize, "image_encoder": c.imageEncoder.rawValue, "threads": threads,
            "rounds": rounds, "steps": steps, "warmup": warmup, "device": "cpu", "torch": Torch.version,
            "negatives": ruleNegatives ? "rule" : "fixed", "pytorch_mlm_logits": pytorchSelectedMLM ? "selected" : "all",
            "parameters": step.parameterCount,
            "swift_ms": round3(s), "swift_steps_ms": times.swiftMs.map(round3),
            "samples_per_s": round3(Double(batch) * 1000 / s), "swift_last_total": step.lastTotal,
            "load_avg_1m": BenchSupport.loadAverage() as Any,
        ]
        if !swiftOnly {
            BenchSupport.addPyTorch(to: &result, swiftMs: s, pytorchMs: p, times: times, batch: batch, rateKey: "pytorch_samples_per_s")
        }
        if profile { result["swift_profile_ms"] = try step.profile(steps: max(steps * rounds, 3)).mapValues(round3) }
        try BenchSupport.emit(result, to: out)
    }

    /// Runs syncmask_parity.py (argv[1]) with the rest of argv: its `worker` mode.
    static let pythonSource = #"""
import runpy, sys
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""#
}

/// One Swift SyncMask training step on the worker's files: momentum pass (sync attention on), the four losses
/// with the file's masks (and its negatives unless the rule chooses), backward, AdamW.
final class SyncMaskStepBench {
    let model: SyncMask
    let optimizer: AdamW
    let x: SyncMaskInputs
    let masks: SyncMaskMasks
    let alpha: Double
    let negatives: (image: [Int], text: [Int])?
    var rng: SeededRNG
    private(set) var lastTotal = Double.nan

    var parameterCount: Int { model.trainableParameters().reduce(0) { $0 + $1.1.numel } }

    init(config: SyncMaskConfig, directory: String, ruleNegatives: Bool, seed: UInt64) throws {
        model = try SyncMask(config)
        try model.loadStateDict(try SafeTensors.load(directory + "/weights.safetensors").tensors)
        model.train()
        optimizer = AdamW(ParamGroup.decayAndNoDecay(model.trainableParameters(), weightDecay: 0.02), lr: 1e-4)
        let b = try SafeTensors.load(directory + "/batch.safetensors").tensors
        func t(_ k: String) throws -> Tensor {
            guard let v = b[k] else { throw BenchError.pythonFailed("batch.safetensors has no '\(k)'") }
            return v
        }
        x = SyncMaskInputs(images: try t("image"), ids: try t("input_ids"), attentionMask: try t("attention_mask"),
                           productIDs: try t("pids"), textHashes: try t("hashes"))
        masks = SyncMaskMasks(mlmIds: try t("mlm_ids"), mlmLabels: try t("mlm_labels"), patchMask: try t("patch_mask").gt(0))
        alpha = try t("alpha").item()
        negatives = ruleNegatives ? nil : (try t("neg_image").toArray(Int64.self).map(Int.init),
                                           try t("neg_text").toArray(Int64.self).map(Int.init))
        rng = SeededRNG(seed: seed)
    }

    /// One step; its wall time in ms.
    func timedStep() throws -> Double {
        var total: Tensor!
        let ms = try BenchSupport.milliseconds {
            try optimizer.zeroGrad()
            let mp = try model.momentumPass(x, alpha: alpha, syncAttention: true)
            let l = try model.stepLosses(x, momentum: mp, masks: masks, alpha: alpha, terms: SyncMaskTerms(),
                                         rule: .semihardTop1, negatives: negatives, rng: &rng)
            try l.total.backward()
            try optimizer.step()
            total = l.total
        }
        lastTotal = try total.item()                                  // outside the timing, as the port reads none
        return ms
    }

    /// The fastest ms (the least disturbed by other load) of the parts of a step over `steps` steps: the momentum pass; the student forward with one loss on
    /// (`forward_itc` … `forward_mim`; each includes the student image and text encoders and the enqueue); the
    /// forward with all four, its backward, AdamW; the backward of each one-loss forward (`backward_itc` …).
    func profile(steps: Int) throws -> [String: Double] {
        var parts: [String: [Double]] = [:]
        func record(_ name: String, _ ms: Double) { parts[name, default: []].append(ms) }
        let single: [(String, SyncMaskTerms)] = [
            ("forward_itc", SyncMaskTerms(itc: true, itm: false, mlm: false, mim: false)),
            ("forward_itm", SyncMaskTerms(itc: false, itm: true, mlm: false, mim: false)),
            ("forward_mlm", SyncMaskTerms(itc: false, itm: false, mlm: true, mim: false)),
            ("forward_mim", SyncMaskTerms(itc: false, itm: false, mlm: false, mim: true)),
        ]
        for _ in 0..<steps {
            try optimizer.zeroGrad()
            record("momentum_update", try BenchSupport.milliseconds { try model.momentumUpdate() })
            var mp: SyncMaskMomentumPass!
            record("momentum_pass", try BenchSupport.milliseconds {
                mp = try model.momentumPass(x, alpha: alpha, syncAttention: true)
            })
            for (name, terms) in single {
                record(name, try BenchSupport.milliseconds {
                    _ = try model.stepLosses(x, momentum: mp, masks: masks, alpha: alpha, terms: terms,
                                             rule: .semihardTop1, negatives: negatives, rng: &rng)
                })
            }
            var l: SyncMaskStepLosses!
            record("forward_all", try BenchSupport.milliseconds {
                l = try model.stepLosses(x, momentum: mp, masks: masks, alpha: alpha, terms: SyncMaskTerms(),
                                         rule: .semihardTop1, negatives: negatives, rng: &rng)
            })
            record("backward", try BenchSupport.milliseconds { try l.total.backward() })
            record("adamw", try BenchSupport.milliseconds { try optimizer.step() })
            for (name, terms) in single {
                let one = try model.stepLosses(x, momentum: mp, masks: masks, alpha: alpha, terms: terms,
                                               rule: .semihardTop1, negatives: negatives, rng: &rng)
                try optimizer.zeroGrad()
                record("backward_" + name.dropFirst("forward_".count), try BenchSupport.milliseconds { try one.total.backward() })
            }
        }
        return parts.mapValues { $0.min() ?? .nan }
    }
}
