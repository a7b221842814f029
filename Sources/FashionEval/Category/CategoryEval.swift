// Category recognition evaluation (mvlt.md §7, protocols.md §4): every evaluated row (a folder's validation.h5;
// the held-out products of the fine-tuning run's own single file; else every row of the file) goes through
// the fine-tuned model with its clean caption ids and clean image; argmax over the train classes' logits;
// accuracy, macro-F1 (present classes, and all classes), confusion matrix, written to RUN/eval/{mcr,scr}.json.
import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

extension MVLT {
    /// Main (B, 48) and sub (B, 122) category logits only: the four stages, then both category heads on [CLS].
    public func categoryLogits(image: Tensor, inputIds: Tensor) throws -> (main: Tensor, sub: Tensor) {
        guard let sup_cls_head, let sup_cls_head_embed, let sub_cls_head, let sub_cls_head_embed else {
            throw EvalError.invalidArgument("this MVLT has no category heads (fine-tune it with `fashionvl finetune` first)")
        }
        let (_, texts) = try features(image: image, inputIds: inputIds)
        let cls = try texts[3].select(dim: 1, index: 0)
        return (try sup_cls_head(sup_cls_head_embed(cls)), try sub_cls_head(sub_cls_head_embed(cls)))
    }
}

/// Predictions of both heads over a loader's batches, with the truth as the loader gives it (file indices).
public struct CategoryPredictions {
    public var main: [Int] = [], sub: [Int] = []
    public var mainTruth: [Int64] = [], subTruth: [Int64] = []
    public var samples: Int { main.count }

    /// Eval mode, no gradient, `inputIds` = the clean ids. `classes` limits each argmax to the train classes'
    /// logits (the first `count` outputs of a head); `batches` nil = the whole epoch 0 of `loader`.
    public static func run(model: any CategoryModel, loader: FashionGenLoader, classes: CategoryClasses, batches: Int? = nil,
                           device: Device) throws -> CategoryPredictions {
        model.eval()
        var p = CategoryPredictions()
        let epoch = loader.epoch(0)
        let limit = min(batches ?? loader.batchesPerEpoch, loader.batchesPerEpoch)
        try Torch.noGrad {
            for _ in 0..<limit {
                guard let host = try epoch.next() else { break }
                let b = try DeviceBatch(host, device: device)
                loader.recycle(host)
                let (main, sub) = try model.categoryLogits(b, ids: b.originalInputIds, file: loader.file)
                p.main += try main.narrow(dim: 1, start: 0, length: classes.categories.count).argmax(dim: 1)
                    .toArray(Int64.self).map(Int.init)
                p.sub += try sub.narrow(dim: 1, start: 0, length: classes.subcategories.count).argmax(dim: 1)
                    .toArray(Int64.self).map(Int.init)
                p.mainTruth += try b.categoryLabels.toArray(Int64.self)
                p.subTruth += try b.subcategoryLabels.toArray(Int64.self)
            }
        }
        return p
    }

    /// Metrics of one head against the truth remapped from the loader's names to the train class list.
    public func score(_ head: CategoryHead, loader: FashionGenLoader, classes: CategoryClasses) throws
        -> (metrics: ClassificationMetrics, remap: LabelRemap, unknown: Int) {
        let list = classes.list(head)
        let remap = LabelRemap(fileNames: head == .mcr ? loader.categories : loader.subcategories, classes: list)
        let truth = remap(head == .mcr ? mainTruth : subTruth)
        let m = try CategoryScoring.score(truth: truth, predicted: head == .mcr ? main : sub, classes: list)
        return (m, remap, truth.filter { $0 == list.unknownIndex }.count)
    }
}

/// `fashionvl evaluate mcr|scr`: a checkpoint scored on a whole file.
public struct CategoryEvaluation {
    public struct Options {
        public var checkpoint: String, data: String, out: String?
        public var batch: Int, device: Device
        /// A train .h5 (or a folder with train.h5) giving the class lists when the checkpoint is a bare weights file.
        public var classesFrom: String?
        /// Input size of a weights-file model (a run folder's config.json gives its own).
        public var imageSize: Int?
        /// Score every row of a single file, even when it is the file the run was fine-tuned on.
        public var allRows: Bool

        public init(checkpoint: String, data: String, out: String?, batch: Int, device: Device, classesFrom: String?,
                    imageSize: Int? = nil, allRows: Bool = false) {
            (self.checkpoint, self.data, self.out, self.batch, self.device, self.classesFrom) =
                (checkpoint, data, out, batch, device, classesFrom)
            (self.imageSize, self.allRows) = (imageSize, allRows)
        }
    }

    /// One line of JSON on stdout (protocols.md §7).
    public struct Summary: Codable, Sendable {
        public var task: String
        public var accuracy: Double
        public var macroF1: Double
        public var macroF1AllClasses: Double
        /// 100 × (accuracy + macro-F1), MVLT's SumC for one task.
        public var sumC: Double
        /// Train classes the head predicts among.
        public var classes: Int
        public var samples: Int
        /// Samples whose label the train split never had (always errors).
        public var unknownLabels: Int
        public var dataset: String
        public var split: String
        public var checkpoint: String
        public var device: String
        public var wallSeconds: Double
        /// Where the CategoryResult was written.
        public var result: String

        enum CodingKeys: String, CodingKey {
            case task, accuracy, macroF1 = "macro_f1", macroF1AllClasses = "macro_f1_all_classes", sumC = "sum_c",
                 classes, samples, unknownLabels = "unknown_labels", dataset, split, checkpoint, device,
                 wallSeconds = "wall_seconds", result
        }
    }

    public static func run(_ head: CategoryHead, _ o: Options) throws -> (result: CategoryResult, summary: Summary) {
        let start = Date()
        let (em, classes, trainedTask) = try CategoryModels.open(o.checkpoint, imageSize: o.imageSize,
                                                                 classesFrom: o.classesFrom, device: o.device)
        guard let run = o.out ?? em.runFolder else {
            throw EvalError.invalidArgument("\(o.checkpoint) is a weights file, not a run folder: pass --out RUN for the results")
        }
        let data = try EvaluationData.open(o.data, run: em.runFolder, allRows: o.allRows)
        try data.require(data.rowCount, atLeast: 1, "row", for: "category recognition")
        var lc = LoaderConfig()
        lc.rows = data.rows
        lc.batchSize = o.batch
        lc.imageSize = em.config.imageSize
        lc.textLength = em.config.textLength
        lc.shuffle = false
        lc.dropLast = false
        lc.caption = em.caption
        let loader = try FashionGenLoader(file: data.file, config: lc, tokenize: try WordPieceTokenizer.bertBaseUncased().captionTokenizer)
        let predictions = try CategoryPredictions.run(model: em.model, loader: loader, classes: classes, device: o.device)
        let (metrics, remap, unknown) = try predictions.score(head, loader: loader, classes: classes)
        let list = classes.list(head)

        var notes = ["\(list.count) classes from the train split (sorted names); argmax over the first \(list.count) of "
            + "the head's \(em.model is MVLT ? head.outputs : list.count) logits; clean caption ids (input_\(em.caption.rawValue)) and clean images"]
        if unknown > 0 {
            notes.append("\(unknown) of \(metrics.samples) samples have a label unseen in train, scored as errors "
                + "(\"unknown\" row): " + remap.unseenNames.joined(separator: ", "))
        }
        if let trainedTask, !trainedTask.heads.contains(head) {
            notes.append("the checkpoint was fine-tuned with --task \(trainedTask.rawValue): this run did not train the \(head.taskName) head")
        }
        let names = CategoryScoring.axisNames(metrics, classes: list)
        let png = try ConfusionMatrixImage.render(metrics.confusion, labels: names,
                                                  title: "\(head.taskName) confusion (\(metrics.samples) samples)")
        let eval = (run as NSString).appendingPathComponent(EvalFiles.folder)
        do {
            try FileManager.default.createDirectory(atPath: eval, withIntermediateDirectories: true)
            try png.writePNG(to: (eval as NSString).appendingPathComponent(head.confusionImage))
        } catch {
            throw EvalError.unwritable(file: eval, reason: "\(error)")
        }
        let result = CategoryResult(task: head.taskName, method: em.config.method, dataset: o.data, split: data.split,
                                    checkpoint: em.weightsPath, classNames: names, metrics: metrics,
                                    confusionImage: head.confusionImage, notes: notes)
        try EvalFiles.write(result, run: run, file: head.resultFile)
        let summary = Summary(task: head.taskName, accuracy: metrics.accuracy, macroF1: metrics.macroF1,
                              macroF1AllClasses: metrics.macroF1AllClasses,
                              sumC: 100 * (metrics.accuracy + metrics.macroF1), classes: list.count,
                              samples: metrics.samples, unknownLabels: unknown, dataset: o.data, split: data.split,
                              checkpoint: em.weightsPath, device: o.device.description,
                              wallSeconds: Date().timeIntervalSince(start),
                              result: (run as NSString).appendingPathComponent(head.resultFile))
        return (result, summary)
    }

    /// The class lists (and fine-tuning task) stored in a fine-tuning run's config.json, or from `classesFrom`.
    static func runClasses(run: String?, weights: String, classesFrom: String?) throws -> (CategoryClasses, CategoryFinetuning.Task?) {
        if let classesFrom {
            let split = try DataSplit.open(classesFrom, seed: 0)
            return (try CategoryClasses.fromTrain(split.trainFile, rows: split.trainRows), nil)
        }
        guard let run else {
            throw EvalError.invalidArgument("\(weights) is a weights file without class lists: pass "
                + "--classes-from with the train .h5 (or data folder) it was fine-tuned on")
        }
        let path = run + "/config.json"
        struct Stored: Decodable { var task: CategoryFinetuning.Task; var classes: CategoryClasses }
        guard let data = FileManager.default.contents(atPath: path),
              let stored = try? JSONDecoder().decode(Stored.self, from: data) else {
            throw EvalError.invalidArgument("\(path) holds no category class lists (not a `fashionvl finetune` run): "
                + "pass --classes-from with the train .h5 or data folder")
        }
        return (stored.classes, stored.task)
    }
}
