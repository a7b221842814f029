import ArgumentParser

/// Options every training command shares (`pretrain`, `finetune`): data, run folder, length, optimisation,
/// logging and checkpoints. Declared once, included with `@OptionGroup`.
struct TrainingLoopOptions: ParsableArguments {
    @Option(help: "A folder with train.h5 and validation.h5, or one Fashion-Gen file (validation products are split off).")
    var data: String
    @Option(help: "Run folder to create (or to resume with --resume).") var out: String
    @Option(help: "Optimizer steps (default: --epochs, else the command's default).") var steps: Int?
    @Option(help: "Epochs over the training split (alternative to --steps).") var epochs: Int?
    @Option(help: "Batch size.") var batch = 16
    @Flag(help: "Continue from the run's last complete checkpoint.") var resume = false
    @Option(help: "cpu, cuda or cuda:N.") var device = "cpu"
    @Option(help: "libtorch threads.") var threads = 2
    @Option(help: "Seed of initialisation, data order, masking and dropout.") var seed: UInt64 = 0
    @Option(help: "Peak learning rate (default: the command's).") var lr: Double?
    @Option(help: "Linear warm-up steps (default 5 % of the steps).") var warmup: Int?
    @Option(help: "Clip the global gradient norm (0 = off).") var clipNorm = 1.0
    @Option(help: "AdamW weight decay (none on biases and 1-D tensors).") var weightDecay = 0.01
    @Option(help: "Write metrics every N steps.") var logEvery = 10
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 100
    @Option(help: "Held-out evaluation every N steps (0 = only at the end).") var evalEvery = 0

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
        guard threads > 0 else { throw ValidationError("--threads must be positive, got \(threads)") }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive, got \(steps)") }
        if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive, got \(epochs)") }
        if steps != nil && epochs != nil { throw ValidationError("give --steps or --epochs, not both") }
        if let lr, !(lr > 0) { throw ValidationError("--lr must be positive, got \(lr)") }
        guard checkpointEvery > 0, logEvery > 0, evalEvery >= 0 else {
            throw ValidationError("--checkpoint-every and --log-every must be positive, --eval-every not negative")
        }
    }

    /// --clip-norm as the trainer takes it (nil = off).
    var clip: Double? { clipNorm > 0 ? clipNorm : nil }
}
