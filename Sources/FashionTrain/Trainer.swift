import FashionData
import Foundation
import Torch

/// Settings of the optimisation loop (model-independent).
public struct TrainOptions: Codable, Sendable {
    public var steps: Int
    public var batchSize: Int
    /// Peak learning rate after warm-up; cosine decay to `minLR` at the last step.
    public var lr: Double
    public var minLR: Double
    public var warmupSteps: Int
    public var warmupStartLR: Double
    public var weightDecay: Double
    /// Global gradient-norm clipping; nil = off.
    public var clipNorm: Double?
    public var seed: UInt64
    public var threads: Int
    public var device: String
    public var logEvery: Int
    public var checkpointEvery: Int
    public var evalEvery: Int
    /// "fp32", or "bf16" (CUDA autocast around the forward pass and losses; fp32 weights and optimizer state).
    public var dtype: String = "fp32"
    /// Processes of a data-parallel run (nil: 1, as in runs saved before it existed); `batchSize` is per process,
    /// the global batch is `batchSize × worldSize`.
    public var worldSize: Int?

    public init(steps: Int, batchSize: Int, lr: Double, minLR: Double = 1e-5, warmupSteps: Int, warmupStartLR: Double = 1e-6,
                weightDecay: Double = 0.01, clipNorm: Double? = 1.0, seed: UInt64 = 0, threads: Int = 2, device: String = "cpu",
                logEvery: Int = 10, checkpointEvery: Int = 100, evalEvery: Int = 0) {
        self.steps = steps
        self.batchSize = batchSize
        self.lr = lr
        self.minLR = minLR
        self.warmupSteps = warmupSteps
        self.warmupStartLR = warmupStartLR
        self.weightDecay = weightDecay
        self.clipNorm = clipNorm
        self.seed = seed
        self.threads = threads
        self.device = device
        self.logEvery = logEvery
        self.checkpointEvery = checkpointEvery
        self.evalEvery = evalEvery
    }

    /// Samples per optimizer step over all processes.
    public var globalBatch: Int { batchSize * (worldSize ?? 1) }

    /// These options for a run on `world` processes. A saved run continues on another world size only when the
    /// recipe's step does not depend on how the global batch is split (`splitInvariant`, shown by the equality
    /// tests) and the global batch divides evenly; otherwise the error says which world size to use.
    public func resumed(onWorld world: Int, splitInvariant: Bool, run: String) throws -> TrainOptions {
        let saved = worldSize ?? 1
        guard world != saved else { return self }
        guard splitInvariant else {
            throw TrainError.badArgument("\(run) was trained on \(saved) process\(saved == 1 ? "" : "es") (global batch \(globalBatch)); this recipe's step depends on the per-process batch (in-batch negatives, per-process normalisation or BatchNorm statistics), so resume it with world size \(saved)")
        }
        guard globalBatch % world == 0 else {
            throw TrainError.badArgument("\(run) has a global batch of \(globalBatch) (\(batchSize) × \(saved) processes), which \(world) processes cannot split evenly; resume it with a world size dividing \(globalBatch)")
        }
        var t = self
        t.batchSize = globalBatch / world
        t.worldSize = world
        return t
    }

    public var schedule: WarmupCosineSchedule {
        WarmupCosineSchedule(baseLR: lr, minLR: minLR, warmupSteps: warmupSteps, totalSteps: steps, warmupStartLR: warmupStartLR)
    }
}

/// The named events of the loop; observers (metrics, progress, evaluation) hook into them.
public struct TrainStepResult {
    public var step: Int
    /// Loss terms and metrics of the step, e.g. "total", "mir", "itm", "mlm", "itm_acc".
    public var values: [String: Double]
    public var lr: Double
    public var gradNorm: Double
}

/// A readable training loop: batches from a loader, a model-specific step that returns the losses, AdamW with
/// warm-up + cosine, clipping, JSONL metrics, atomic checkpoints and exact resume.
public final class Trainer {
    public let runFolder: String
    public let model: Module
    public let optimizer: AdamW
    public let options: TrainOptions
    public let loader: FashionGenLoader
    public let device: Device
    /// Forward pass and losses of one batch; must return a scalar "total" tensor plus any other values.
    public let lossFn: (DeviceBatch, Int) throws -> [String: Tensor]
    /// Optional held-out evaluation, run every `evalEvery` steps and at the end.
    public var evaluate: ((Int) throws -> [String: Double])?
    public var onStep: ((TrainStepResult) -> Void)?
    /// Name on the progress line.
    public var label = "train"
    /// The rows of an epoch in batch order, when the recipe orders them itself (SyncMask's GRIT sampler);
    /// nil = the loader's seeded shuffle.
    public var epochOrder: ((Int) throws -> [Int])?
    /// A recipe's own state, saved with every checkpoint and restored on resume.
    public var extraState: (save: () throws -> String, restore: (String) throws -> Void)?
    /// Values shown on the progress line, in this order, when a step reports them.
    public var progressKeys = ["total", "mlm", "itm", "mir", "itm_acc"]
    /// Data-parallel training: parameters broadcast from rank 0 at the start, gradients averaged after backward;
    /// only rank 0 writes metrics and checkpoints, prints progress and evaluates. nil = one process.
    public var dataParallel: DataParallel?
    let store: CheckpointStore
    var autocastDType: DType? { options.dtype == "bf16" ? .bfloat16 : nil }

    public init(runFolder: String, model: Module, optimizer: AdamW, options: TrainOptions, loader: FashionGenLoader,
                device: Device, lossFn: @escaping (DeviceBatch, Int) throws -> [String: Tensor]) {
        self.runFolder = runFolder
        self.model = model
        self.optimizer = optimizer
        self.options = options
        self.loader = loader
        self.device = device
        self.lossFn = lossFn
        store = CheckpointStore(run: runFolder)
    }

    /// Trains to `options.steps`; with `resume`, continues from the run's last complete checkpoint.
    @discardableResult
    public func run(resume: Bool) throws -> [String: Double] {
        var state = TrainerState.fresh()
        if resume, let saved = try store.latest() {
            try store.restore(saved, model: model, optimizer: optimizer)
            if let extra = saved.extra, let extraState { try extraState.restore(extra) }
            state = saved
            FileHandle.standardError.write(Data("resuming from step \(saved.step) (\(saved.weights))\n".utf8))
        }
        let main = dataParallel?.isMain ?? true
        let world = dataParallel?.worldSize ?? 1
        // Every rank starts from rank 0's weights and buffers (a fresh run's initialisation, or its checkpoint).
        try dataParallel?.broadcastState(model)
        // Every BatchNorm normalises with the global batch's statistics (SyncBatchNorm), so N × b trains as 1 × Nb.
        if let dataParallel { model.syncBatchNorm(over: dataParallel.group) }
        let metrics = main ? try MetricsLog(path: runFolder + "/metrics.jsonl", truncateAfterStep: resume ? state.step : nil) : nil
        let progress = ProgressLine(total: options.steps, label: label + (world > 1 ? " ×\(world)" : ""))
        let schedule = options.schedule
        var epochIter: LoaderEpoch?
        var window: (start: Date, samples: Int) = (Date(), 0)
        var last: [String: Double] = [:]
        let samplesAtStart = state.samplesSeen
        let runStart = Date().addingTimeInterval(-state.elapsed)
        var lastCheckpoint: String? = state.weights.isEmpty ? nil : state.weights
        model.train()
        var emptyEpochs = 0
        while state.step < options.steps {
            if epochIter == nil {
                let order = try epochOrder?(state.epoch)
                epochIter = loader.epoch(state.epoch, start: state.batchInEpoch, order: order)
            }
            guard let host = try epochIter?.next() else {
                // An epoch without a single batch would repeat forever: say why instead.
                emptyEpochs = state.batchInEpoch == 0 ? emptyEpochs + 1 : 0
                if emptyEpochs >= 2 {
                    throw TrainError.badArgument("\(loader.file.path): the training split gives no batch: \(loader.catalog.rows.count) rows, batch size \(options.batchSize) (use a smaller --batch or more data)")
                }
                (state.epoch, state.batchInEpoch, epochIter) = (state.epoch + 1, 0, nil)
                continue
            }
            let batch = try DeviceBatch(host, device: device)
            loader.recycle(host)
            let lr = schedule.lr(at: state.step)
            optimizer.lr = lr
            let out = try autocastDType.map { dt in try Torch.autocast(dt) { try lossFn(batch, state.step) } }
                ?? lossFn(batch, state.step)
            guard let total = out["total"] else { throw TrainError.badArgument("the loss function returned no 'total'") }
            var values: [String: Double] = [:]
            for (k, v) in out { values[k] = try v.item() }
            for (k, v) in values where !v.isFinite {
                throw TrainError.nonFinite(step: state.step, what: k == "total" ? "the total loss" : k,
                                           checkpoint: lastCheckpoint.map { runFolder + "/" + $0 })
            }
            try total.backward()
            try dataParallel?.averageGradients(model.parameters())
            let gradNorm = try options.clipNorm.map { try clipGradNorm(model.parameters(), maxNorm: $0) } ?? .nan
            try optimizer.step()
            try optimizer.zeroGrad()
            state.step += 1
            state.batchInEpoch += 1
            state.samplesSeen += batch.batchSize * world
            window.samples += batch.batchSize * world
            last = values
            let result = TrainStepResult(step: state.step, values: values, lr: lr, gradNorm: gradNorm)
            onStep?(result)
            if let metrics, state.step % options.logEvery == 0 || state.step == options.steps || state.step == 1 {
                let now = Date()
                var record: [String: Any] = values.mapValues { $0 as Any }
                record["step"] = state.step
                record["epoch"] = state.epoch
                record["lr"] = lr
                record["grad_norm"] = gradNorm
                if world > 1 { record["world_size"] = world }
                record["samples_per_s"] = Double(window.samples) / max(now.timeIntervalSince(window.start), 1e-9)
                record["elapsed"] = now.timeIntervalSince(runStart)
                if case .cuda = device, let mem = try? CUDA.memoryStats() {
                    record["cuda_allocated_bytes"] = mem.allocatedBytes
                    record["cuda_peak_bytes"] = mem.peakAllocatedBytes
                }
                try metrics.write(record)
                window = (now, 0)
            }
            if main, let metrics, let evaluate, options.evalEvery > 0, state.step % options.evalEvery == 0 || state.step == options.steps {
                var record: [String: Any] = try evaluate(state.step).mapValues { $0 as Any }
                record["step"] = state.step
                try metrics.write(record)
                model.train()
            }
            if main, state.step % options.checkpointEvery == 0 || state.step == options.steps {
                state.elapsed = Date().timeIntervalSince(runStart)
                state.extra = try extraState?.save()
                state = try store.save(model: model, optimizer: optimizer, state: state)
                lastCheckpoint = state.weights
            }
            let shown = progressKeys.compactMap { k in values[k].map { (k, $0) } }
            if main { progress.update(state.step, items: state.samplesSeen - samplesAtStart, values: shown) }
        }
        // Rank 0 hosts the rendezvous store: every rank leaves together, after its last checkpoint.
        try dataParallel?.barrier()
        return last
    }
}
