// Kaleido-BERT for category recognition (spec §8, the code's finetune_main.py): the pooled [CLS] state → dropout
// 0.1 (training only) → Dense(C) with N(0, 0.01) weights, one head per task (cls_head_main, cls_head_sub). Inputs
// are clean (§9): the rows' colour patch features from the pretraining run's feature source, the clean text.
// Every other name is KaleidoBERT's, so pretraining checkpoints load by name.
import FashionData
import FashionModels
import Foundation
import Torch

public final class KaleidoClassifier: KaleidoBERT {
    public let cls_head_main: Linear
    public let cls_head_sub: Linear
    /// The pretraining run's recipe: which feature source and text field the inputs come from.
    public let recipe: KaleidoRecipe
    private var builders: [String: KaleidoBatchBuilder] = [:]

    public static let headPrefixes = ["cls_head_main.", "cls_head_sub."]

    public init(_ config: KaleidoConfig, recipe: KaleidoRecipe, mainClasses: Int, subClasses: Int) throws {
        guard mainClasses > 0, subClasses > 0 else {
            throw ModelError.input("a category head needs at least one class (main \(mainClasses), sub \(subClasses))")
        }
        cls_head_main = try Linear(config.hidden, mainClasses)
        cls_head_sub = try Linear(config.hidden, subClasses)
        self.recipe = recipe
        try super.init(config)
        for head in [cls_head_main, cls_head_sub] {
            try truncNormalWeights(head.weight, std: 0.01)
            if let b = head.bias { try Torch.noGrad { try b.zero_() } }
        }
    }

    public var mainClasses: Int { cls_head_main.weight.size(0) }
    public var subClasses: Int { cls_head_sub.weight.size(0) }

    /// The inputs builder of `file` (its feature source opened once).
    func builder(for file: FashionGenFile) throws -> KaleidoBatchBuilder {
        if let b = builders[file.path] { return b }
        let field = recipe.caption == .name ? "title" : "description"
        let source = try KaleidoSources.open(recipe.features, file: file, textField: field, textLength: config.textLength,
                                             featureDim: config.featureDim)
        let b = KaleidoBatchBuilder(source: source, captions: try KaleidoPretraining.captions(file, recipe.caption),
                                    productIDs: try file.productIDs, pool: Array(0..<file.count), textLength: config.textLength,
                                    vocabularySize: config.vocabSize, mode: recipe.masking, vocab: try SyncMaskVocab.bertBaseUncased(),
                                    tokenizer: try WordPieceTokenizer.bertBaseUncased())
        builders[file.path] = b
        return b
    }

    /// Main and sub logits of rows of `file` with their text ids (B, L) (0 = padding).
    public func categoryLogits(rows: [Int], ids: Tensor, file: FashionGenFile) throws -> (main: Tensor, sub: Tensor) {
        let flat = try ids.to(device: .cpu).contiguous().toArray(Int64.self)
        let l = ids.size(1)
        guard l == config.textLength else {
            throw ModelError.input("Kaleido-BERT category inputs: ids of length \(l), the model reads \(config.textLength)")
        }
        let x = try builder(for: file).clean(imageRows: rows, ids: (0..<rows.count).map { Array(flat[($0 * l)..<(($0 + 1) * l)]) },
                                             device: ids.device)
        let states = try encode(ids: x.ids, attentionMask: x.attentionMask, features: x.features, positions: x.positions)
        let pooled = try bert.pooler(states).dropout(p: 0.1, training: training)
        return (try cls_head_main(pooled), try cls_head_sub(pooled))
    }

    /// Loads a Kaleido-BERT checkpoint's weights by name (optimizer tensors skipped); the category heads keep their
    /// fresh values even when the checkpoint has some.
    public func loadPretrained(weights path: String) throws {
        let tensors = try SafeTensors.load(path).tensors.filter { key, _ in
            !key.hasPrefix("optimizer.") && !KaleidoClassifier.headPrefixes.contains { key.hasPrefix($0) }
        }
        let heads = Set(stateDict().map(\.0).filter { name in KaleidoClassifier.headPrefixes.contains { name.hasPrefix($0) } })
        do {
            try loadStateDict(tensors, optional: heads)
        } catch let TorchError.stateDict(missing, unexpected, mismatched) {
            throw ModelError.weights(path: path, missing: missing, unexpected: unexpected, mismatched: mismatched)
        }
    }

    /// The recipe of a Kaleido-BERT pretraining run folder.
    public static func recipe(ofRun run: String) throws -> KaleidoRecipe {
        guard let rc = try RunFolder.savedConfig(KaleidoPretraining.RunConfig.self, run: run, resume: true,
                                                 kind: "Kaleido-BERT pretraining run") else {
            throw TrainError.badArgument("\(run): no config.json (expected a Kaleido-BERT pretraining run folder)")
        }
        return rc.recipe
    }
}

/// N(0, std) truncated at ±2 std's worth of BERT's rule (the model's own initialiser is internal to FashionModels).
func truncNormalWeights(_ t: Tensor, std: Double) throws {
    try Torch.noGrad {
        try t.normal_(mean: 0, std: std)
        try t.clamp_(min: -2 * std, max: 2 * std)
    }
}
