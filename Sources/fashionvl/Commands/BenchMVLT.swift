import ArgumentParser
import Dispatch
import FashionModels
import FashionTrain
import Foundation
import Torch

/// `fashionvl bench mvlt`: the full MVLT training step (train-mode forward, losses, backward, AdamW with the
/// two weight-decay groups) in Swift and in the PyTorch reference port (Tests/reference/mvlt_port.py, a
/// persistent python3 on the same libtorch and thread count), in alternating rounds; one JSON line.
struct BenchMVLT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mvlt",
        abstract: "Times MVLT training steps in Swift and in the PyTorch port (same libtorch, same threads); one JSON line.")

    enum Precision: String, ExpressibleByArgument { case fp32, bf16 }

    @Option(help: "Registry name or JSON file (the PyTorch side needs mvlt-tiny's architecture).")
    var config = "mvlt-tiny"
    @Option(help: "Samples per step.") var batch = 8
    @Option(help: "Image side (default: the config's).") var imageSize: Int?
    @Option(help: "cpu, cuda or cuda:N.") var device = "cpu"
    @Option(help: "libtorch threads for both sides.") var threads = 1
    @Option(help: "Timed steps per round and side.") var steps = 1
    @Option(help: "Alternating rounds (Swift, then PyTorch); one step each by default, so load changes hit both.")
    var rounds = 5
    @Option(help: "Untimed warm-up steps per side.") var warmup = 1
    @Option(help: "fp32, or bf16 autocast (CUDA only).") var dtype = Precision.fp32
    @Flag(help: "Time the Swift side only.") var swiftOnly = false
    @Option(help: "Also write the JSON line to this file (temp file + rename).") var out: String?
    @Flag(help: "Swift computes MLM logits at every position, as the port does (default: labelled positions only).")
    var fullMLMLogits = false

    func validate() throws {
        guard batch > 0, threads > 0, steps > 0, rounds > 0, warmup >= 0 else {
            throw ValidationError("batch, threads, steps and rounds must be positive, warmup ≥ 0")
        }
    }

    func run() throws { try BenchSupport.reportingErrors(bench) }

    func bench() throws {
        var c = try MVLTConfig.load(nameOrPath: config)
        if let imageSize { c.imageSize = imageSize }
        try c.validate()
        let dev = try Device(parsing: device)
        if case .cuda = dev, !CUDA.isAvailable {
            throw TorchError.invalidArgument("--device \(device): CUDA is not available (libtorch built with CUDA: \(Torch.builtWithCUDA))")
        }
        if dtype == .bf16, dev == .cpu { throw TorchError.invalidArgument("--dtype bf16 needs --device cuda (autocast)") }
        let tiny = MVLTConfig.tiny
        if !swiftOnly, c.embedDims != tiny.embedDims || c.numHeads != tiny.numHeads || c.depths != tiny.depths
            || c.textHidden != tiny.textHidden || c.mlpRatios != tiny.mlpRatios || c.srRatios != tiny.srRatios
            || c.heads != tiny.heads || c.tokenOrder != tiny.tokenOrder || c.posEmbedResize != tiny.posEmbedResize {
            throw TorchError.invalidArgument("the PyTorch port only builds mvlt-tiny's architecture; use --swift-only for '\(config)'")
        }
        Torch.setNumThreads(threads)
        let step = try MVLTStepBench(config: c, batch: batch, device: dev, autocast: dtype == .bf16,
                                     fullMLMLogits: fullMLMLogits)
        let python = swiftOnly ? nil : try PythonWorker(source: Self.pythonSource, arguments: [
            try BenchSupport.referenceDir(holding: "mvlt_port.py"), String(threads), String(batch), String(c.imageSize),
            String(c.textLength), String(c.vocabSize), dev.description, dtype.rawValue,
        ])
        let times = try BenchSupport.interleave(rounds: rounds, steps: steps, warmup: warmup, python: python,
                                                swiftStep: step.timedStep)
        let s = times.swiftMedian, p = times.pytorchMedian
        var result: [String: Any] = [
            "config": config, "batch": batch, "image_size": c.imageSize, "text_length": c.textLength,
            "threads": threads, "device": dev.description, "swift_full_mlm_logits": fullMLMLogits, "dtype": dtype.rawValue, "torch": Torch.version,
            "swift_ms": round3(s), "swift_steps_ms": times.swiftMs.map(round3),
            "samples_per_s": round3(Double(batch) * 1000 / s),
            "load_avg_1m": BenchSupport.loadAverage() as Any,
        ]
        if !swiftOnly {
            BenchSupport.addPyTorch(to: &result, swiftMs: s, pytorchMs: p, times: times, batch: batch, rateKey: "pytorch_samples_per_s")
        }
        try BenchSupport.emit(result, to: out)
    }

    /// The PyTorch side: mvlt_parity.py's `bench` step (port model, synthetic batch, torch.optim.AdamW with the
    /// port's weight-decay groups), answering each line "N" with the N step times in ms as a JSON list.
    static let pythonSource = #"""
import json, sys, time
ref, threads, B, S, L, V, device, dtype = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8]
sys.path.insert(0, ref)
import torch
import mvlt_port as M
import mvlt_parity as P
torch.set_num_threads(threads)
torch.manual_seed(0)
dev = torch.device(device)
model = M.MVLT(M.MVLTConfig(image_size=S, text_len=L, vocab_size=V)).to(dev).train()
opt = torch.optim.AdamW(M.weight_decay_groups(model, 0.01), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
batch = {k: v.to(dev) for k, v in P.make_batch(B, S, L, V, 0).items()}
step = 0
def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()
for line in sys.stdin:
    times = []
    for _ in range(int(line)):
        sync()
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if dtype == "bf16":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                res = M.losses(model, batch, masked=(step % 2 == 1))
        else:
            res = M.losses(model, batch, masked=(step % 2 == 1))
        res["total"].backward()
        opt.step()
        sync()
        times.append((time.perf_counter() - t) * 1000.0)
        step += 1
    print(json.dumps(times), flush=True)
"""#
}

/// One Swift training step of MVLT on a fixed synthetic batch (even steps clean image, odd steps masked, as
/// the original loop), AdamW(lr 1e-4, wd 0.01 except 1-D tensors and biases).
final class MVLTStepBench {
    let model: MVLT
    let optimizer: AdamW
    let image: Tensor, masked: Tensor, ids: Tensor, mlmLabels: Tensor, itmLabels: Tensor
    let device: Device, autocast: Bool, fullMLMLogits: Bool
    var step = 0

    init(config c: MVLTConfig, batch b: Int, device: Device, autocast: Bool, fullMLMLogits: Bool) throws {
        Torch.manualSeed(0)
        model = try MVLT(c)
        try model.to(device)
        model.train()
        optimizer = AdamW(ParamGroup.decayAndNoDecay(model.namedParameters(), weightDecay: 0.01), lr: 1e-4)
        let g = try Generator(seed: 1)
        let s = c.imageSize, l = c.textLength
        image = try Tensor.rand([b, 3, s, s], generator: g).to(device: device)
        let cells = try Tensor.rand([b, 1, s / 16, s / 16], generator: g).gt(0.5)
            .to(dtype: .float32).upsampleNearest(size: [s, s])
        masked = try image.maskedFill(cells.gt(0.5).to(device: device), 1e-6)
        ids = try Tensor.randint(low: min(999, c.vocabSize - 1), high: c.vocabSize, [b, l], generator: g).to(device: device)
        let pick = try Tensor.rand([b, l], generator: g).lt(0.15)
        mlmLabels = try Tensor.randint(low: 0, high: c.vocabSize, [b, l], generator: g).maskedFill(pick.logicalNot(), -100)
            .to(device: device)
        itmLabels = try Tensor.randint(low: 0, high: 2, [b], generator: g).to(device: device)
        self.device = device
        self.autocast = autocast
        self.fullMLMLogits = fullMLMLogits
    }

    /// Runs one step and returns its wall time in ms (CUDA synchronised).
    func timedStep() throws -> Double {
        if case let .cuda(i) = device { try CUDA.synchronize(i) }
        let t = DispatchTime.now().uptimeNanoseconds
        try optimizer.zeroGrad()
        let input = step % 2 == 1 ? masked : image
        func forward() throws -> MVLTLosses {
            try model.losses(input: input, cleanImage: image, inputIds: ids, mlmLabels: mlmLabels, itmLabels: itmLabels,
                             fullMLMLogits: fullMLMLogits)
        }
        let losses = autocast ? try Torch.autocast(.bfloat16) { try forward() } : try forward()
        try losses.total.backward()
        try optimizer.step()
        if case let .cuda(i) = device { try CUDA.synchronize(i) }
        step += 1
        return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6
    }
}
