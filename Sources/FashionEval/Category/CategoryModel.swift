// What category recognition needs of a model family, and the one family switch that provides it: fine-tuning
// (`CategoryFinetuning`) and evaluation (`CategoryEvaluation`) run the same code for every family and ask this
// file for the model, its run-config "model" object, its input sizes, its text field and its trained parameters.
//   mvlt      MVLT with its two category heads (mvlt.md §7): MLM-corrupted descriptions while training, as today.
//   syncmask  SyncMaskClassifier (FashionModels/SyncMaskClassifier.swift): fusion [CLS] → MLP(H→H→C) per task,
//             heads sized to the train classes; clean text of the field the pretraining read (recipe.caption).
import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

/// A model with the main-category and subcategory heads.
public protocol CategoryModel: Module {
    /// Main and sub logits (B, ≥ classes) of images (B, 3, S, S) in [0, 1], ids (B, L) and the attention mask (B, L).
    func categoryLogits(images: Tensor, ids: Tensor, attentionMask: Tensor) throws -> (main: Tensor, sub: Tensor)
    /// The logits of a loader batch of `file` with the text `ids`: what fine-tuning and evaluation call. The default
    /// reads the batch's images; a model that reads per-row inputs (Kaleido-BERT's patch features) uses its rows.
    func categoryLogits(_ batch: DeviceBatch, ids: Tensor, file: FashionGenFile) throws -> (main: Tensor, sub: Tensor)
}

extension CategoryModel {
    public func categoryLogits(_ batch: DeviceBatch, ids: Tensor, file: FashionGenFile) throws -> (main: Tensor, sub: Tensor) {
        try categoryLogits(images: batch.images, ids: ids, attentionMask: batch.attentionMask)
    }
}

extension KaleidoClassifier: CategoryModel {
    public func categoryLogits(images: Tensor, ids: Tensor, attentionMask: Tensor) throws -> (main: Tensor, sub: Tensor) {
        throw EvalError.invalidArgument("Kaleido-BERT reads cached patch features by catalog row, not pixels")
    }

    public func categoryLogits(_ batch: DeviceBatch, ids: Tensor, file: FashionGenFile) throws -> (main: Tensor, sub: Tensor) {
        try categoryLogits(rows: batch.rows, ids: ids, file: file)
    }
}

extension MVLT: CategoryModel {
    /// MVLT reads no attention mask (mvlt.md §4).
    public func categoryLogits(images: Tensor, ids: Tensor, attentionMask: Tensor) throws -> (main: Tensor, sub: Tensor) {
        try categoryLogits(image: images, inputIds: ids)
    }
}

extension SyncMaskClassifier: CategoryModel {}

/// RUN/config.json "model" of a fine-tuning run: the family's own config object, unchanged (`AnyModelConfig`'s
/// Codable form: "family" absent or "mvlt" → MVLT, so MVLT runs read and write exactly what they always have).
public typealias CategoryModelConfig = AnyModelConfig

extension AnyModelConfig {
    /// The method name in result files.
    public var method: String {
        switch family {
        case .mvlt: return "MVLT"
        case .syncmask: return "SyncMask"
        case .kaleido: return "Kaleido-BERT"
        }
    }
}

/// A category model as a fine-tuning run starts it or an evaluation opens it.
public struct CategoryModelHandle {
    public var model: any CategoryModel
    public var config: CategoryModelConfig
    /// The text the model reads.
    public var caption: LoaderConfig.Caption
    /// Parameters the optimizer trains.
    public var trainable: [(String, Tensor)]
    /// Loader transforms of a training batch (MVLT: MLM corruption of the description).
    public var trainingTransforms: [SampleTransform]
    public var runFolder: String?
    public var weightsPath: String
}

public enum CategoryModels {
    /// The family of a run folder's config.json ("family" absent → mvlt); nil for a weights file (MVLT).
    static func family(of checkpoint: String) throws -> String? {
        try EvalCheckpoint.modelObject(of: checkpoint)?.0
    }

    static func unknownFamily(_ checkpoint: String, _ family: String) -> EvalError {
        .invalidArgument("\(checkpoint): model family \"\(family)\" has no category recognition (known: \(ModelFamily.allCases.map(\.rawValue).joined(separator: ", ")))")
    }

    /// The pretrained model of a fine-tuning run with fresh category heads (shared weights by name), on `device`.
    /// `caption` overrides the text field (SyncMask; default: the pretraining run's).
    public static func start(pretrained: String, classes: CategoryClasses, caption: LoaderConfig.Caption? = nil,
                             device: Device) throws -> CategoryModelHandle {
        switch try family(of: pretrained) ?? ModelFamily.mvlt.rawValue {
        case ModelFamily.mvlt.rawValue:
            if let caption, caption != .description {
                throw EvalError.invalidArgument("\(pretrained): --text-field \(caption.rawValue) applies to SyncMask; MVLT fine-tunes on the description")
            }
            let opened = try EvalModel.open(pretrained, heads: MVLTHeads(mlm: false, itm: false, mir: false, category: true),
                                            device: device)
            return CategoryModelHandle(
                model: opened.model, config: .mvlt(opened.config), caption: .description,
                trainable: opened.model.namedParameters(),
                trainingTransforms: [MLMMasking(probability: 0.15, maskID: 103, vocabularySize: opened.config.vocabSize)],
                runFolder: opened.runFolder, weightsPath: opened.weightsPath)
        case ModelFamily.syncmask.rawValue:
            let (modelJSON, object) = try runConfig(pretrained)
            let config = try SyncMaskConfig.decode(modelJSON, source: pretrained + "/config.json")
            let weights = try latestWeights(pretrained)
            let model = try SyncMaskClassifier(config, mainClasses: classes.categories.count,
                                               subClasses: classes.subcategories.count)
            try model.loadPretrained(weights: weights)
            try model.to(device)
            // The pretraining's text field (recipe.caption), or a fine-tuning run's own.
            let stored = ((object["recipe"] as? [String: Any])?["caption"] ?? object["caption"]) as? String
            let field = try caption ?? stored.map { s in
                guard let c = LoaderConfig.Caption(rawValue: s) else {
                    throw EvalError.invalidArgument("\(pretrained)/config.json: unknown text field \"\(s)\"")
                }
                return c
            } ?? .name
            return CategoryModelHandle(model: model, config: .syncmask(config), caption: field,
                                       trainable: model.categoryParameters(), trainingTransforms: [],
                                       runFolder: pretrained, weightsPath: weights)
        case ModelFamily.kaleido.rawValue:
            if let caption {
                throw EvalError.invalidArgument("\(pretrained): --text-field \(caption.rawValue): Kaleido-BERT fine-tunes on the text its pretraining read (its alignments and features refer to it)")
            }
            let (modelJSON, _) = try runConfig(pretrained)
            let config = try KaleidoConfig.decode(modelJSON, source: pretrained + "/config.json")
            let recipe = try KaleidoClassifier.recipe(ofRun: pretrained)
            let model = try KaleidoClassifier(config, recipe: recipe, mainClasses: classes.categories.count,
                                              subClasses: classes.subcategories.count)
            let weights = try latestWeights(pretrained)
            try model.loadPretrained(weights: weights)
            try model.to(device)
            return CategoryModelHandle(model: model, config: .kaleido(config), caption: recipe.caption,
                                       trainable: model.namedParameters(), trainingTransforms: [],
                                       runFolder: pretrained, weightsPath: weights)
        case let other:
            throw unknownFamily(pretrained, other)
        }
    }

    /// A fine-tuned checkpoint for evaluation, with its class lists and fine-tuning task. MVLT opens exactly as
    /// `EvalModel.open` (run folder or weights file); other families need a `fashionvl finetune` run folder.
    public static func open(_ checkpoint: String, imageSize: Int?, classesFrom: String?, device: Device) throws
        -> (CategoryModelHandle, CategoryClasses, CategoryFinetuning.Task?) {
        switch try family(of: checkpoint) ?? ModelFamily.mvlt.rawValue {
        case ModelFamily.mvlt.rawValue:
            let em = try EvalModel.open(checkpoint, imageSize: imageSize, device: device)
            guard em.config.heads.category else {
                throw EvalError.invalidArgument("\(checkpoint): the model has no category heads (a pretraining run?); "
                    + "fine-tune it with `fashionvl finetune --checkpoint \(checkpoint)` first")
            }
            let (classes, task) = try CategoryEvaluation.runClasses(run: em.runFolder, weights: em.weightsPath,
                                                                    classesFrom: classesFrom)
            let handle = CategoryModelHandle(model: em.model, config: .mvlt(em.config), caption: .description,
                                             trainable: [], trainingTransforms: [], runFolder: em.runFolder,
                                             weightsPath: em.weightsPath)
            return (handle, classes, task)
        case ModelFamily.syncmask.rawValue:
            if imageSize != nil {
                throw EvalError.invalidArgument("\(checkpoint): --image-size applies to MVLT weights only; a syncmask run's config gives its own")
            }
            if classesFrom != nil {
                throw EvalError.invalidArgument("\(checkpoint): --classes-from applies to MVLT weights files; a syncmask fine-tuning run stores its classes")
            }
            let (modelJSON, object) = try runConfig(checkpoint)
            guard object["classes"] != nil else {
                throw EvalError.invalidArgument("\(checkpoint): a SyncMask pretraining run has no category heads; "
                    + "fine-tune it with `fashionvl finetune --checkpoint \(checkpoint)` first")
            }
            let (classes, task) = try CategoryEvaluation.runClasses(run: checkpoint, weights: checkpoint, classesFrom: nil)
            let weights = try latestWeights(checkpoint)
            let model = try SyncMaskClassifier.open(config: modelJSON, mainClasses: classes.categories.count,
                                                    subClasses: classes.subcategories.count, weights: weights, device: device)
            let caption = (object["caption"] as? String).flatMap(LoaderConfig.Caption.init(rawValue:)) ?? .name
            let config = try SyncMaskConfig.decode(modelJSON, source: checkpoint + "/config.json")
            let handle = CategoryModelHandle(model: model, config: .syncmask(config), caption: caption, trainable: [],
                                             trainingTransforms: [], runFolder: checkpoint, weightsPath: weights)
            return (handle, classes, task)
        case ModelFamily.kaleido.rawValue:
            if imageSize != nil || classesFrom != nil {
                throw EvalError.invalidArgument("\(checkpoint): --image-size and --classes-from apply to MVLT weights only")
            }
            let (modelJSON, object) = try runConfig(checkpoint)
            guard object["classes"] != nil, let pretrained = object["pretrained"] as? String else {
                throw EvalError.invalidArgument("\(checkpoint): a Kaleido-BERT pretraining run has no category heads; "
                    + "fine-tune it with `fashionvl finetune --checkpoint \(checkpoint)` first")
            }
            let (classes, task) = try CategoryEvaluation.runClasses(run: checkpoint, weights: checkpoint, classesFrom: nil)
            let weights = try latestWeights(checkpoint)
            let config = try KaleidoConfig.decode(modelJSON, source: checkpoint + "/config.json")
            let model = try KaleidoClassifier(config, recipe: try KaleidoClassifier.recipe(ofRun: pretrained),
                                              mainClasses: classes.categories.count, subClasses: classes.subcategories.count)
            try model.loadForEvaluation(try SafeTensors.load(weights).tensors, path: weights, device: device)
            let handle = CategoryModelHandle(model: model, config: .kaleido(config), caption: model.recipe.caption, trainable: [],
                                             trainingTransforms: [], runFolder: checkpoint, weightsPath: weights)
            return (handle, classes, task)
        case let other:
            throw unknownFamily(checkpoint, other)
        }
    }

    /// A run folder's config.json: its "model" object as JSON, and the whole object.
    static func runConfig(_ run: String) throws -> (Data, [String: Any]) {
        let path = run + "/config.json"
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = object["model"] as? [String: Any] else {
            throw EvalError.invalidArgument("\(path): not a FashionVL run config")
        }
        return (try JSONSerialization.data(withJSONObject: model, options: [.sortedKeys]), object)
    }

    static func latestWeights(_ run: String) throws -> String {
        guard let state = try CheckpointStore(run: run).latest() else {
            throw EvalError.invalidArgument("\(run): the run has no complete checkpoint yet (last.json)")
        }
        return run + "/" + state.weights
    }
}
