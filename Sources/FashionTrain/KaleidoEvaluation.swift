import FashionData
import FashionModels
import Foundation
import Torch

/// A trained Kaleido-BERT bound to one catalog file's patch features, for evaluation: clean inputs only (spec
/// §9: θ = 0, identity permutation, no camouflage, no grey, no blank; unmasked text).
public final class KaleidoEvaluation {
    public let model: KaleidoBERT
    public let builder: KaleidoBatchBuilder
    public let device: Device
    public var textLength: Int { model.config.textLength }

    public init(model: KaleidoBERT, builder: KaleidoBatchBuilder, device: Device) {
        self.model = model
        self.builder = builder
        self.device = device
    }

    /// Opens the run's model (its config.json) and latest weights, and the run's feature source for `file`.
    public static func open(run: String, weights: String, device: Device, file: FashionGenFile) throws -> KaleidoEvaluation {
        guard let rc = try RunFolder.savedConfig(KaleidoPretraining.RunConfig.self, run: run, resume: true,
                                                 kind: "Kaleido-BERT pretraining run") else {
            throw TrainError.badArgument("\(run): no config.json (expected a Kaleido-BERT run folder)")
        }
        let model = try KaleidoBERT(rc.model)
        try model.loadForEvaluation(try SafeTensors.load(weights).tensors, path: weights, device: device)
        let field = rc.recipe.caption == .name ? "title" : "description"
        let source = try KaleidoSources.open(rc.recipe.features, file: file, textField: field, textLength: rc.model.textLength,
                                             featureDim: rc.model.featureDim)
        let builder = KaleidoBatchBuilder(source: source, captions: try KaleidoPretraining.captions(file, rc.recipe.caption),
                                          productIDs: try file.productIDs, pool: Array(0..<file.count),
                                          textLength: rc.model.textLength, vocabularySize: rc.model.vocabSize,
                                          mode: rc.recipe.masking, vocab: try SyncMaskVocab.bertBaseUncased(),
                                          tokenizer: try WordPieceTokenizer.bertBaseUncased())
        return KaleidoEvaluation(model: model, builder: builder, device: device)
    }

    /// P(match) of (image row, text ids) pairs: ITM class 1 on clean inputs.
    public func matchProbabilities(imageRows: [Int], ids: Tensor) throws -> Tensor {
        let rows = try ids.to(device: .cpu).contiguous().toArray(Int64.self)
        let l = ids.size(1)
        let perPair = (0..<imageRows.count).map { Array(rows[($0 * l)..<(($0 + 1) * l)]) }
        let x = try builder.clean(imageRows: imageRows, ids: perPair, device: device)
        return try model.matchProbabilities(ids: x.ids, attentionMask: x.attentionMask, features: x.features, positions: x.positions)
    }
}
