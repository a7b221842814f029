import ArgumentParser
import FashionEval
import FashionModels
import FashionTrain
import Foundation
import Torch

/// `fashionvl pretrain`: one command for every model family, dispatched on the config's `family`.
struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pretrain a model on a Fashion-Gen-schema catalog: MVLT (MIR + ITM + MLM), SyncMask (ITC + ITM + MLM + MIM) or Kaleido-BERT (AMLM + ITM + five AKPM tasks).",
        discussion: """
        The config's family picks the recipe: mvlt-tiny / mvlt-demo train MVLT with the original recipe, \
        syncmask-base / syncmask-demo / syncmask-minilm / syncmask-effnet train SyncMask (docs/SYNCMASK.md; \
        syncmask-minilm starts its text tower from all-MiniLM-L6-v2: scripts/fetch-weights minilm-l6; syncmask-effnet \
        its image tower from EfficientNet-Lite0: scripts/fetch-weights efficientnet-lite0), kaleido-base / kaleido-demo train \
        Kaleido-BERT on cached kaleido patch features (--features; --akpm and --masking are Table 4's ablations). Writes RUN/config.json, RUN/metrics.jsonl, \
        checkpoints under RUN/checkpoints and RUN/last.json. With --resume, continues from the last complete \
        checkpoint and gives the same losses as an uninterrupted run. Data-parallel: --nproc N on one host, or \
        --rank/--world-size/--master (or torchrun's environment) per host or GPU; --batch is per process \
        (docs/DISTRIBUTED.md).
        """)

    @Option(name: .customLong("config"), help: "Named model config (\(ModelRegistry.names.joined(separator: ", "))) or a JSON config file (default mvlt-demo; with --resume, the run's own).")
    var configOption: String?
    var config: String { configOption ?? "mvlt-demo" }
    @OptionGroup var loop: TrainingLoopOptions
    @Option(help: "Start from these weights where names and shapes match (e.g. ImageNet PVT-v1-Tiny converted with scripts/convert-mvlt-checkpoint --partial), as the original does.")
    var initFrom: String?
    @Option(help: "fp32, or bf16 (CUDA autocast; float32 weights and optimizer state).") var dtype = "fp32"
    @Option(help: "Grid-mask rule: code (the original's sliding-window rows) or paper (random cells).")
    var maskRule: MaskRuleOption = .code
    @Option(help: "Validation batches for the held-out ITM accuracy.") var evalBatches = 8
    @Flag(help: "Drop masked image reconstruction (MVLT ablation).") var noMir = false
    @Flag(help: "Drop image-text matching (ablation).") var noItm = false
    @Flag(help: "Drop masked language modelling (ablation).") var noMlm = false
    @OptionGroup(title: "SyncMask") var syncmask: SyncMaskOptions
    @OptionGroup(title: "Kaleido-BERT") var kaleido: KaleidoOptions
    @OptionGroup(title: "Distributed") var dist: DistributedOptions
    @OptionGroup(title: "Distributed") var buckets: GradientBucketOptions

    func validate() throws {
        guard ["fp32", "bf16"].contains(dtype) else { throw ValidationError("--dtype must be fp32 or bf16, got \(dtype)") }
        if dtype == "bf16" && loop.device == "cpu" { throw ValidationError("--dtype bf16 runs as CUDA autocast: use it with --device cuda") }
        if noMir && noItm && noMlm { throw ValidationError("--no-mir, --no-itm and --no-mlm leave no loss to train") }
        guard evalBatches > 0 else { throw ValidationError("--eval-batches must be positive, got \(evalBatches)") }
    }

    /// The family of the run: the saved run's when resuming (a --config given too must be of that family),
    /// else the config's.
    func family() throws -> ModelFamily {
        let saved = loop.out + "/config.json"
        if loop.resume, let data = FileManager.default.contents(atPath: saved) {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let model = object["model"] as? [String: Any] else {
                let place = JSONText.syntaxError(in: data).map { "not valid JSON: \($0)" } ?? "expected a JSON object with a \"model\" object"
                throw TrainError.badCheckpoint(path: saved, reason: "not a FashionVL run config: \(place)")
            }
            let raw = model["family"] as? String ?? ModelFamily.mvlt.rawValue
            guard let family = ModelFamily(rawValue: raw) else {
                throw TrainError.badCheckpoint(path: saved, reason: "model.family '\(raw)' is not one of \(ModelFamily.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let given = configOption {
                let (data, source) = try ModelRegistry.source(nameOrPath: given)
                let wanted = try ModelRegistry.family(of: data, source: source)
                if wanted != family {
                    throw TrainError.badArgument("\(loop.out) holds a \(family.rawValue) run, but --config \(given) is a \(wanted.rawValue) config; --resume continues the run with its saved config (drop --config, or choose another --out)")
                }
            }
            return family
        }
        let (data, source) = try ModelRegistry.source(nameOrPath: config)
        return try ModelRegistry.family(of: data, source: source)
    }

    func run() throws {
        try dist.launchIfRequested()
        Torch.setNumThreads(loop.threads)
        let setup = try dist.setup(device: loop.device, bucketMb: buckets.bucketMb)
        let dev = try Device(parsing: DistributedOptions.device(loop.device, setup: setup))
        let family = try family()
        if family != .mvlt {
            if noMir { throw TrainError.badArgument("--no-mir is MVLT's; \(family == .syncmask ? "SyncMask's image loss is switched off with --no-mim" : "Kaleido-BERT's image tasks are chosen with --akpm")") }
            if initFrom != nil { throw TrainError.badArgument("--init-from is MVLT's (PVT weights)") }
        }
        if family != .syncmask, let given = syncmask.given.first {
            throw TrainError.badArgument("\(given) is a SyncMask option; --config \(config) is a\(family == .mvlt ? "n MVLT" : " Kaleido-BERT") config")
        }
        if family != .kaleido, let given = kaleido.given.first {
            throw TrainError.badArgument("\(given) is a Kaleido-BERT option; --config \(config) is a\(family == .mvlt ? "n MVLT" : " SyncMask") config")
        }
        var options = MVLTPretraining.Options(
            config: config, data: loop.data, run: loop.out, steps: loop.steps, epochs: loop.epochs, batch: loop.batch,
            device: dev, threads: loop.threads, seed: loop.seed, lr: loop.lr, warmup: loop.warmup, clipNorm: loop.clip,
            weightDecay: loop.weightDecay, maskRule: maskRule.rule, logEvery: loop.logEvery,
            checkpointEvery: loop.checkpointEvery, evalEvery: loop.evalEvery, evalBatches: evalBatches,
            losses: .init(mir: !noMir, itm: !noItm, mlm: !noMlm))
        options.dtype = dtype
        options.initFrom = initFrom
        // Joins the other ranks (rendezvous at rank 0's --master) before anything is written.
        options.dataParallel = try setup.map { try DataParallel($0, device: dev) }
        let main = options.dataParallel?.isMain ?? true
        // A failure before the first checkpoint removes the run folder it created (RunFolder.removingIfUnstarted);
        // only rank 0 of a data-parallel run owns the folder.
        let train: () throws -> [String: Double] = {
            switch family {
            case .mvlt: return try MVLTPretraining(options: options, resume: loop.resume).run()
            case .syncmask:
                let job = try SyncMaskPretraining(options: options, recipe: syncmask.recipe(noItm: noItm, noMlm: noMlm),
                                                  resume: loop.resume, towers: syncmask.towers())
                var s = try job.run()
                guard main else { return s }
                // The masks the trained model chooses, for people to look at.
                let figure = loop.out + "/syncmask_masks.png"
                s["figure_visible_share"] = try SyncMaskFigure.write(model: job.model, config: job.runConfig, to: figure, device: dev)
                FileHandle.standardError.write(Data("wrote \(figure)\n".utf8))
                return s
            case .kaleido:
                return try KaleidoPretraining(options: options, recipe: kaleido.recipe(noItm: noItm, noMlm: noMlm),
                                              resume: loop.resume).run()
            }
        }
        let summary = main ? try RunFolder.removingIfUnstarted(loop.out, train) : try train()
        guard main else { return }
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

enum MaskRuleOption: String, ExpressibleByArgument, CaseIterable {
    case code, paper
    var rule: MVLTPretraining.MaskRule { self == .code ? .slidingWindow : .randomCells }
}
