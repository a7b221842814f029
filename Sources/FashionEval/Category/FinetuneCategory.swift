// Category fine-tuning of a pretrained checkpoint, one loop for every model family (CategoryModel.swift says
// what differs). MVLT (mvlt.md §7, config dws_mvlt_ft_exp48): the pretrained model with the two category heads
// instead of the MLM/ITM/MIR heads, loaded by name from a pretraining checkpoint (new heads fresh); input =
// MLM-corrupted ids of the matched caption (no ITM swap) and the clean image; CE(48) + CE(122), weight 1 each;
// one fresh forward per step (the original's t2i = 0 reuse bug avoided). SyncMask (spec §6): the student towers
// and fusion encoder with two fresh MLP heads on the fusion [CLS]; clean text of the pretraining's text field;
// the same losses. The loop is FashionTrain's Trainer.
import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

public final class CategoryFinetuning {
    /// Which losses train: `both` is the original recipe; `mcr` trains only the main-category loss and `scr`
    /// only the subcategory loss (the other head is present but untouched, so its checkpoint scores are chance).
    public enum Task: String, Codable, Sendable, CaseIterable {
        case mcr, scr, both
        public var heads: [CategoryHead] {
            switch self {
            case .mcr: return [.mcr]
            case .scr: return [.scr]
            case .both: return [.mcr, .scr]
            }
        }
    }

    public struct Options {
        public var task: Task, checkpoint: String, data: String, run: String
        public var steps: Int?, epochs: Int?, batch: Int
        public var device: Device, threads: Int, seed: UInt64
        public var lr: Double?, warmup: Int?, clipNorm: Double?, weightDecay: Double
        public var logEvery: Int, checkpointEvery: Int, evalEvery: Int
        /// Validation batches of the held-out accuracy; nil = the whole validation split.
        public var evalBatches: Int?
        /// The text field (SyncMask only; nil = the pretraining run's).
        public var caption: LoaderConfig.Caption?

        public init(task: Task, checkpoint: String, data: String, run: String, steps: Int?, epochs: Int?, batch: Int,
                    device: Device, threads: Int, seed: UInt64, lr: Double?, warmup: Int?, clipNorm: Double?,
                    weightDecay: Double, logEvery: Int, checkpointEvery: Int, evalEvery: Int, evalBatches: Int?,
                    caption: LoaderConfig.Caption? = nil) {
            (self.task, self.checkpoint, self.data, self.run, self.steps, self.epochs) = (task, checkpoint, data, run, steps, epochs)
            (self.batch, self.device, self.threads, self.seed, self.lr, self.warmup) = (batch, device, threads, seed, lr, warmup)
            (self.clipNorm, self.weightDecay, self.logEvery, self.checkpointEvery) = (clipNorm, weightDecay, logEvery, checkpointEvery)
            (self.evalEvery, self.evalBatches, self.caption) = (evalEvery, evalBatches, caption)
        }
    }

    /// RUN/config.json: `model` (the family's config, read by `EvalModel.open` for MVLT), the task, the train
    /// class lists and where the pretrained weights came from; a resumed run must find the same values.
    public struct RunConfig: Codable, Sendable {
        public var model: CategoryModelConfig
        public var train: TrainOptions
        public var task: Task
        public var classes: CategoryClasses
        /// The pretraining run folder or weights file the shared weights were loaded from.
        public var pretrained: String
        public var data: String
        public var evalBatches: Int?
        /// The text field the model reads (SyncMask); absent for MVLT, which reads the description.
        public var caption: LoaderConfig.Caption?
    }

    /// Defaults sized for a ~2-minute CPU run of mvlt-demo (≈0.3 s/step at batch 16 on 2 free cores). On the demo
    /// catalog after the demo's 400-step pretraining (BERT-style text init) they reach M-CR 68.9 % / S-CR 27.6 %
    /// held-out accuracy (37.9 % / 10.7 % after 150 steps); with the original text init they stayed at the prior.
    public static let defaultLR = 5e-4
    public static let defaultSteps = 400

    public let runConfig: RunConfig
    public let model: any CategoryModel
    let trainer: Trainer
    let resume: Bool
    /// The newest held-out evaluation of this process (the trainer writes it to metrics.jsonl too).
    private final class LastEval { var values: [String: Double]? }
    private let lastEval: LastEval

    public init(options o: Options, resume: Bool) throws {
        let saved = try RunFolder.savedConfig(RunConfig.self, run: o.run, resume: resume, kind: "fine-tuning run")
        let split = try DataSplit.open(saved?.data ?? o.data, seed: saved?.train.seed ?? o.seed)
        let classes = try saved?.classes ?? CategoryClasses.fromTrain(split.trainFile, rows: split.trainRows)
        let train = try saved?.train ?? CategoryFinetuning.trainOptions(o, trainRows: split.trainRows.count)

        // The pretrained model, its pretraining heads replaced by the category heads (shared weights by name).
        Torch.manualSeed(train.seed)
        let pretrained = saved?.pretrained ?? o.checkpoint
        let start = try CategoryModels.start(pretrained: pretrained, classes: classes, caption: saved?.caption ?? o.caption,
                                             device: o.device)
        model = start.model
        let rc = RunConfig(model: start.config, train: train, task: saved?.task ?? o.task, classes: classes,
                           pretrained: pretrained, data: saved?.data ?? o.data, evalBatches: saved?.evalBatches ?? o.evalBatches,
                           caption: start.config.family == .mvlt ? nil : start.caption)
        runConfig = rc
        if saved == nil { try RunFolder.create(rc, run: o.run) }

        let optimizer = AdamW(ParamGroup.decayAndNoDecay(start.trainable, weightDecay: train.weightDecay),
                              lr: train.lr, betas: (0.9, 0.999), eps: 1e-8)
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let loader = try FashionGenLoader(
            file: split.trainFile, config: LoaderConfig.forCategoryRun(rc, rows: split.trainRows, shuffle: true),
            tokenize: tokenizer.captionTokenizer, transforms: start.trainingTransforms)
        // The loader's labels index its own sorted names over the whole file; the targets are train-list indices.
        let mainTable = try CategoryFinetuning.lookup(loader.categories, classes.list(.mcr), device: o.device)
        let subTable = try CategoryFinetuning.lookup(loader.subcategories, classes.list(.scr), device: o.device)
        let m = model, heads = rc.task.heads
        trainer = Trainer(runFolder: o.run, model: model, optimizer: optimizer, options: train, loader: loader,
                          device: o.device) { batch, _ in
            let (main, sub) = try m.categoryLogits(batch, ids: batch.inputIds, file: loader.file)
            var values: [String: Tensor] = [:]
            var total: Tensor?
            for head in heads {
                let logits = head == .mcr ? main : sub
                let target = try (head == .mcr ? mainTable : subTable)
                    .indexSelect(dim: 0, index: head == .mcr ? batch.categoryLabels : batch.subcategoryLabels)
                let loss = try logits.crossEntropy(target: target)
                values[head.rawValue] = loss
                values["\(head.rawValue)_acc"] = try Torch.noGrad { try logits.argmax(dim: 1).eq(target).to(dtype: .float32).mean() }
                total = try total.map { try $0 + loss } ?? loss
            }
            values["total"] = total
            return values
        }
        trainer.label = "finetune"
        let valLoader = try FashionGenLoader(
            file: split.validationFile, config: LoaderConfig.forCategoryRun(rc, rows: split.validationRows, shuffle: false),
            tokenize: tokenizer.captionTokenizer)
        let lastEval = LastEval()
        self.lastEval = lastEval
        trainer.evaluate = { _ in
            let p = try CategoryPredictions.run(model: m, loader: valLoader, classes: classes, batches: rc.evalBatches,
                                                device: o.device)
            var out: [String: Double] = ["val_samples": Double(p.samples)]
            for head in heads {
                let (metrics, _, unknown) = try p.score(head, loader: valLoader, classes: classes)
                out["val_\(head.rawValue)_acc"] = metrics.accuracy
                out["val_\(head.rawValue)_macro_f1"] = metrics.macroF1
                out["val_\(head.rawValue)_unknown"] = Double(unknown)
            }
            lastEval.values = out
            return out
        }
        self.resume = resume
    }

    /// Trains and returns the last step's values plus the final held-out accuracies.
    public func run() throws -> [String: Double] {
        var last = try trainer.run(resume: resume)
        // A resumed run that had already finished trains no step and so has not evaluated yet.
        let held = try lastEval.values ?? trainer.evaluate?(runConfig.train.steps) ?? [:]
        last.merge(held) { $1 }
        return last
    }

    static func trainOptions(_ o: Options, trainRows: Int) throws -> TrainOptions {
        let perEpoch = max(1, trainRows / o.batch)
        let steps = o.steps ?? (o.epochs.map { $0 * perEpoch } ?? defaultSteps)
        let lr = o.lr ?? defaultLR
        return TrainOptions(steps: steps, batchSize: o.batch, lr: lr, minLR: lr * 0.04, warmupSteps: o.warmup ?? max(1, steps / 20),
                            warmupStartLR: 1e-6, weightDecay: o.weightDecay, clipNorm: o.clipNorm, seed: o.seed,
                            threads: o.threads, device: o.device.description, logEvery: o.logEvery,
                            checkpointEvery: o.checkpointEvery, evalEvery: o.evalEvery == 0 ? steps : o.evalEvery)
    }

    /// A (file classes) int64 tensor: file label index → train class index (unknown for unseen names).
    static func lookup(_ fileNames: [String], _ classes: ClassList, device: Device) throws -> Tensor {
        try Tensor(LabelRemap(fileNames: fileNames, classes: classes).table.map(Int64.init), shape: [fileNames.count], device: device)
    }
}

extension LoaderConfig {
    /// The loader of a fine-tuning run: MVLT's `forRun` (descriptions), with the run's text field for other families.
    static func forCategoryRun(_ rc: CategoryFinetuning.RunConfig, rows: [Int], shuffle: Bool) -> LoaderConfig {
        training(rc.train, imageSize: rc.model.imageSize, textLength: rc.model.textLength, rows: rows, shuffle: shuffle,
                 caption: rc.caption ?? .description)
    }
}
