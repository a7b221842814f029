import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

extension SyncMaskFigure {
    /// Renders the synchronized masks a trained SyncMask chooses for the first `pairs` validation products of its
    /// run (p_sync = 1: after the warm-up), from the momentum model's cross-attention at the sync layer, and writes
    /// the PNG to `path` (temporary file, then rename). Returns the share of chosen words that are in `visible`.
    @discardableResult
    public static func write(model: SyncMask, config rc: SyncMaskPretraining.RunConfig, to path: String, pairs: Int = 6,
                             device: Device = .cpu) throws -> Double {
        let split = try DataSplit.open(rc.data, seed: rc.train.seed)
        let ids = try split.validationFile.productIDs
        var seen = Set<Int64>(), rows: [Int] = []
        for r in split.validationRows where seen.insert(ids[r]).inserted && rows.count < pairs { rows.append(r) }
        guard !rows.isEmpty else { throw EvalError.invalidArgument("\(rc.data): no validation products to show masks for") }
        var lc = LoaderConfig()
        (lc.batchSize, lc.imageSize, lc.textLength, lc.shuffle, lc.rows, lc.caption) =
            (rows.count, rc.model.imageSize, rc.model.textLength, false, rows, rc.recipe.caption)
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let loader = try FashionGenLoader(file: split.validationFile, config: lc, tokenize: tokenizer.captionTokenizer)
        let host = try loader.batch(epoch: 0, index: 0)
        let b = try DeviceBatch(host, device: device)
        let attention: [Float] = try Torch.noGrad {
            let keyMask = try TextEncoder.keyMask(b.attentionMask)
            let image = try model.visual_encoder_m(b.images)
            let text = try model.text_encoder_m.text(b.originalInputIds, keyMask: keyMask)
            let (_, probs) = try model.text_encoder_m.fusion(text, keyMask: keyMask, image: image,
                                                             probabilitiesOf: rc.model.syncLayerIndex)
            guard let probs else { throw EvalError.invalidArgument("the sync layer returned no attention") }
            return try probs.mean(dims: [1]).to(device: .cpu).contiguous().toArray(Float.self)
        }
        let selector = SyncMaskSelector(vocab: try SyncMaskVocab.bertBaseUncased(), textRatio: rc.model.mlmProbability,
                                        imageRatio: rc.model.mimRatio, poolFactor: rc.model.poolFactor, mode: .sync,
                                        warmupFraction: 0)
        var rng = SeededRNG(seed: rc.train.seed, stream: 0x4649_4755_5245)
        let masks = try selector.select(attention: attention, ids: host.originalInputIds, attentionMask: host.attentionMask,
                                        batchSize: rows.count, patches: rc.model.patches, step: 1, totalSteps: 1, rng: &rng)
        let l = rc.model.textLength, s = rc.model.imageSize, plane = 3 * s * s
        let grid = s / rc.model.tokenPatch
        let figurePairs = try (0..<rows.count).map { i in
            let tokens = try tokenizer.decode(host.originalInputIds[(i * l)..<((i + 1) * l)].map { Int32($0) })
            return Pair(batch: masks, index: i, image: Array(host.images[(i * plane)..<((i + 1) * plane)]), imageSide: s,
                        tokens: tokens, grid: grid)
        }
        let image = try render(figurePairs, title: "SyncMask: words and patches chosen from the momentum cross-attention")
        let tmp = path + ".tmp-\(getpid())"
        try image.writePNG(to: tmp)
        guard rename(tmp, path) == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw EvalError.invalidArgument("\(path): cannot be written (errno \(errno))")
        }
        return masks.visibleShare(in: try SyncMaskPretraining.visibleWords(split.validationFile))
    }
}
