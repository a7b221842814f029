import ArgumentParser
import FashionEval
import FashionTrain
import Foundation
import Torch

extension CategoryFinetuning.Task: ExpressibleByArgument {}

/// `fashionvl finetune`: MVLT category fine-tuning (M-CR/S-CR) from a pretraining checkpoint.
struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a pretrained MVLT for category recognition (M-CR, S-CR or both).",
        discussion: """
        The pretrained weights are loaded by name; the MLM/ITM/MIR heads are dropped and the two category heads \
        (48 and 122 outputs) start fresh. Each step: MLM-corrupted ids of the product's own description and the \
        clean image, loss CE(main) + CE(sub) for --task both, only CE(main) for mcr, only CE(sub) for scr. \
        Class lists are the train split's sorted names (stored in RUN/config.json). Writes RUN/config.json, \
        RUN/metrics.jsonl (held-out accuracy and macro-F1 at the end and every --eval-every steps), checkpoints; \
        score the result with `fashionvl evaluate mcr|scr --checkpoint RUN`.
        """)

    @Option(help: "Which losses train: mcr, scr or both (the original recipe).") var task: CategoryFinetuning.Task = .both
    @Option(help: "Pretraining run folder or MVLT weights file (.safetensors).") var checkpoint: String
    @Option(help: "A folder with train.h5 and validation.h5, or one Fashion-Gen file (validation products are split off).")
    var data: String
    @Option(help: "Run folder to create (or to resume with --resume).") var out: String
    @Option(help: "Optimizer steps (default: --epochs, else \(CategoryFinetuning.defaultSteps)).") var steps: Int?
    @Option(help: "Epochs over the training split (alternative to --steps).") var epochs: Int?
    @Option(help: "Batch size.") var batch = 16
    @Flag(help: "Continue from the run's last complete checkpoint.") var resume = false
    @Option(help: "cpu, cuda or cuda:N.") var device = "cpu"
    @Option(help: "libtorch threads.") var threads = 2
    @Option(help: "Seed of the new heads, data order, MLM corruption and dropout.") var seed: UInt64 = 0
    @Option(help: "Peak learning rate (default \(CategoryFinetuning.defaultLR)).") var lr: Double?
    @Option(help: "Linear warm-up steps (default 5 % of the steps).") var warmup: Int?
    @Option(help: "Clip the global gradient norm (0 = off).") var clipNorm = 1.0
    @Option(help: "AdamW weight decay (none on biases and 1-D tensors).") var weightDecay = 0.01
    @Option(help: "Write metrics every N steps.") var logEvery = 10
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 100
    @Option(help: "Held-out accuracy every N steps (0 = only at the end).") var evalEvery = 0
    @Option(help: "Validation batches for the held-out accuracy (0 = the whole validation split).") var evalBatches = 0

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
        guard threads > 0 else { throw ValidationError("--threads must be positive, got \(threads)") }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive, got \(steps)") }
        if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive, got \(epochs)") }
        if steps != nil && epochs != nil { throw ValidationError("give --steps or --epochs, not both") }
        if let lr, !(lr > 0) { throw ValidationError("--lr must be positive, got \(lr)") }
        guard checkpointEvery > 0, logEvery > 0, evalEvery >= 0, evalBatches >= 0 else {
            throw ValidationError("--checkpoint-every and --log-every must be positive, --eval-every and --eval-batches not negative")
        }
    }

    func run() throws {
        Torch.setNumThreads(threads)
        let dev = try Device(parsing: device)
        let job = try CategoryFinetuning(options: .init(
            task: task, checkpoint: checkpoint, data: data, run: out, steps: steps, epochs: epochs, batch: batch,
            device: dev, threads: threads, seed: seed, lr: lr, warmup: warmup, clipNorm: clipNorm > 0 ? clipNorm : nil,
            weightDecay: weightDecay, logEvery: logEvery, checkpointEvery: checkpointEvery, evalEvery: evalEvery,
            evalBatches: evalBatches == 0 ? nil : evalBatches), resume: resume)
        let summary = try job.run()
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
