import ArgumentParser
import FashionModels
import FashionTrain
import Foundation
import Torch

/// `fashionvl pretrain`: MVLT pretraining (MIR + ITM + MLM) with the original recipe.
struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pretrain MVLT on a Fashion-Gen-schema catalog (MIR + ITM + MLM).",
        discussion: """
        Writes RUN/config.json, RUN/metrics.jsonl, checkpoints under RUN/checkpoints and RUN/last.json. \
        With --resume, continues from the last complete checkpoint and gives the same losses as an uninterrupted run.
        """)

    @Option(help: "Named model config (mvlt-tiny, mvlt-demo) or a JSON config file.") var config = "mvlt-demo"
    @Option(help: "A folder with train.h5 and validation.h5, or one Fashion-Gen file (validation products are split off).")
    var data: String
    @Option(help: "Run folder to create (or to resume with --resume).") var out: String
    @Option(help: "Optimizer steps (default: --epochs, else 300).") var steps: Int?
    @Option(help: "Epochs over the training split (alternative to --steps).") var epochs: Int?
    @Option(help: "Batch size.") var batch = 16
    @Flag(help: "Continue from the run's last complete checkpoint.") var resume = false
    @Option(help: "Start from these weights where names and shapes match (e.g. ImageNet PVT-v1-Tiny converted with scripts/convert-mvlt-checkpoint --partial), as the original does.")
    var initFrom: String?
    @Option(help: "fp32, or bf16 (CUDA autocast; float32 weights and optimizer state).") var dtype = "fp32"
    @Option(help: "cpu, cuda or cuda:N.") var device = "cpu"
    @Option(help: "libtorch threads.") var threads = 2
    @Option(help: "Seed of initialisation, data order, masks and dropout.") var seed: UInt64 = 0
    @Option(help: "Peak learning rate (default 2.5e-4 × batch / 512 × 4, the original's rule scaled for short runs).")
    var lr: Double?
    @Option(help: "Linear warm-up steps (default 5 % of the steps).") var warmup: Int?
    @Option(help: "Clip the global gradient norm (0 = off).") var clipNorm = 1.0
    @Option(help: "AdamW weight decay (none on biases and 1-D tensors).") var weightDecay = 0.01
    @Option(help: "Grid-mask rule: code (the original's sliding-window rows) or paper (random cells).")
    var maskRule: MaskRuleOption = .code
    @Option(help: "Write metrics every N steps.") var logEvery = 10
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 100
    @Option(help: "Held-out ITM accuracy every N steps (0 = only at the end).") var evalEvery = 0
    @Option(help: "Validation batches for the held-out ITM accuracy.") var evalBatches = 8
    @Flag(help: "Drop masked image reconstruction (ablation).") var noMir = false
    @Flag(help: "Drop image-text matching (ablation).") var noItm = false
    @Flag(help: "Drop masked language modelling (ablation).") var noMlm = false

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
        guard threads > 0 else { throw ValidationError("--threads must be positive, got \(threads)") }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive, got \(steps)") }
        if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive, got \(epochs)") }
        if steps != nil && epochs != nil { throw ValidationError("give --steps or --epochs, not both") }
        if noMir && noItm && noMlm { throw ValidationError("--no-mir, --no-itm and --no-mlm leave no loss to train") }
        guard ["fp32", "bf16"].contains(dtype) else { throw ValidationError("--dtype must be fp32 or bf16, got \(dtype)") }
        if dtype == "bf16" && device == "cpu" { throw ValidationError("--dtype bf16 runs as CUDA autocast: use it with --device cuda") }
        guard checkpointEvery > 0, logEvery > 0, evalEvery >= 0 else {
            throw ValidationError("--checkpoint-every and --log-every must be positive")
        }
    }

    func run() throws {
        Torch.setNumThreads(threads)
        let dev = try Device(parsing: device)
        var options = MVLTPretraining.Options(
            config: config, data: data, run: out, steps: steps, epochs: epochs, batch: batch, device: dev,
            threads: threads, seed: seed, lr: lr, warmup: warmup, clipNorm: clipNorm > 0 ? clipNorm : nil,
            weightDecay: weightDecay, maskRule: maskRule.rule, logEvery: logEvery, checkpointEvery: checkpointEvery,
            evalEvery: evalEvery, evalBatches: evalBatches,
            losses: .init(mir: !noMir, itm: !noItm, mlm: !noMlm))
        options.dtype = dtype
        options.initFrom = initFrom
        let job = try MVLTPretraining(options: options, resume: resume)
        let summary = try job.run()
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

enum MaskRuleOption: String, ExpressibleByArgument, CaseIterable {
    case code, paper
    var rule: MVLTPretraining.MaskRule { self == .code ? .slidingWindow : .randomCells }
}
