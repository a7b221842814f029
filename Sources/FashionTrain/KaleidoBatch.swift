// Kaleido-BERT's pretraining batches, built on the host from a `KaleidoInputSource` (the feature cache and its
// alignments) and the catalog's texts: ITM negatives, AGM masks, token corruption and the five AKPM
// perturbations (shared/spec/kaleido-bert.md §5–6); and the clean inputs of evaluation (§9: no perturbation).
import FashionData
import FashionModels
import Foundation
import Torch

/// One built batch, as flat host arrays, with what was drawn per sample (for tests and statistics).
public struct KaleidoHostBatch {
    public var batchSize: Int, textLength: Int, featureDim: Int
    /// (B, L) ids after masking, attention mask; (B, 55, D) features after perturbation; (B, 55, 5) positions.
    public var ids: [Int64], attentionMask: [Int64], features: [Float], positions: [Float]
    /// (B, 10) masked positions, their original ids, weights 1/0.
    public var mlmPositions: [Int64], mlmIds: [Int64], mlmWeights: [Float]
    public var itmLabels: [Int64], rotation: [Int64], jigsaw: [Int64], camouflage: [Int64]
    public var greyPositions: [Int64], greyTargets: [Float], blankPositions: [Int64], blankTargets: [Float]
    /// Per sample: the file row of its image, the row whose text it reads (≠ when a negative), the row whose K3
    /// feature camouflages it, and its masks.
    public var imageRows: [Int], textRows: [Int], camouflageRows: [Int], masks: [KaleidoSampleMask]

    /// The batch as the model's inputs on `device`.
    public func tensors(device: Device) throws -> KaleidoModelInputs {
        let (b, l, d, p) = (batchSize, textLength, featureDim, KaleidoPatchSet.patchCount)
        func t<T: TensorElement>(_ v: [T], _ shape: [Int]) throws -> Tensor { try Tensor(v, shape: shape, device: device) }
        return KaleidoModelInputs(
            ids: try t(ids, [b, l]), attentionMask: try t(attentionMask, [b, l]), features: try t(features, [b, p, d]),
            positions: try t(positions, [b, p, 5]), mlmPositions: try t(mlmPositions, [b, KaleidoMasking.maxPredictions]),
            mlmIds: try t(mlmIds, [b, KaleidoMasking.maxPredictions]), mlmWeights: try t(mlmWeights, [b, KaleidoMasking.maxPredictions]),
            itmLabels: try t(itmLabels, [b]), rotation: try t(rotation, [b]), jigsaw: try t(jigsaw, [b]),
            camouflage: try t(camouflage, [b]), greyPositions: try t(greyPositions, [b, 2]), greyTargets: try t(greyTargets, [b, 2, d]),
            blankPositions: try t(blankPositions, [b, 3]), blankTargets: try t(blankTargets, [b, 3, d]))
    }
}

/// Builds Kaleido-BERT batches for one catalog file.
public final class KaleidoBatchBuilder {
    public let source: any KaleidoInputSource
    public let textLength: Int
    public let vocabularySize: Int
    public let mode: KaleidoMaskingMode
    /// Share of ITM negatives (spec §6.2: 50 %).
    public var negativeRate = 0.5
    let vocab: SyncMaskVocab
    let captions: [String]
    let productIDs: [Int64]
    /// Rows negatives and camouflage sources are drawn from (the split's rows).
    let pool: [Int]
    let tokenize: (String) throws -> [Int32]
    private var idCache: [Int: [Int64]] = [:]

    /// `captions` and `productIDs` by file row (the text field the source's alignments refer to); `pool` the rows
    /// negatives and camouflage sources come from.
    public init(source: any KaleidoInputSource, captions: [String], productIDs: [Int64], pool: [Int], textLength: Int,
                vocabularySize: Int, mode: KaleidoMaskingMode, vocab: SyncMaskVocab, tokenizer: WordPieceTokenizer) {
        self.source = source
        self.captions = captions
        self.productIDs = productIDs
        self.pool = pool
        self.textLength = textLength
        self.vocabularySize = vocabularySize
        self.mode = mode
        self.vocab = vocab
        tokenize = { try tokenizer.encode($0, maxLength: textLength, addSpecialTokens: true) }
    }

    /// [CLS] pieces [SEP] of a row's caption, padded with 0 to the text length.
    public func ids(row: Int) throws -> [Int64] {
        if let cached = idCache[row] { return cached }
        var ids = try tokenize(captions[row]).map(Int64.init)
        ids += [Int64](repeating: 0, count: max(0, textLength - ids.count))
        idCache[row] = ids
        return ids
    }

    /// A uniformly drawn pool row of another product than `product`; nil when the pool has none.
    func otherProductRow(_ product: Int64, rng: inout SeededRNG) -> Int? {
        for _ in 0..<16 {
            let r = pool[rng.int(0...(pool.count - 1))]
            if productIDs[r] != product { return r }
        }
        return pool.filter { productIDs[$0] != product }.randomElement(using: &rng)
    }

    func checked(_ set: KaleidoPatchSet, row: Int) throws -> KaleidoPatchSet {
        let d = source.featureDim
        guard set.dim == d, set.colour.count == 55 * d, set.rotated.count == 3 * d, set.grey.count == 16 * d,
              set.positions.count == 55 * 5 else {
            throw TrainError.badArgument("Kaleido inputs of row \(row): expected 55×\(d) colour, 3×\(d) rotated, 16×\(d) grey features and 55×5 positions; got dim \(set.dim), \(set.colour.count), \(set.rotated.count), \(set.grey.count), \(set.positions.count) values")
        }
        return set
    }

    /// A pretraining batch of `rows` (masks and perturbations drawn from `rng`).
    public func build(rows: [Int], rng: inout SeededRNG) throws -> KaleidoHostBatch {
        let (b, l, d) = (rows.count, textLength, source.featureDim)
        let slots = KaleidoMasking.maxPredictions
        var out = KaleidoHostBatch(batchSize: b, textLength: l, featureDim: d, ids: [], attentionMask: [], features: [],
                                   positions: [], mlmPositions: [], mlmIds: [], mlmWeights: [], itmLabels: [], rotation: [],
                                   jigsaw: [], camouflage: [], greyPositions: [], greyTargets: [], blankPositions: [],
                                   blankTargets: [], imageRows: rows, textRows: [], camouflageRows: [], masks: [])
        for row in rows {
            let set = try checked(source.patches(row: row), row: row)
            // ITM: a negative reads another product's text and gets random masks (its pairs do not apply).
            var textRow = row
            if rng.chance(negativeRate), let other = otherProductRow(productIDs[row], rng: &rng) { textRow = other }
            var ids = try self.ids(row: textRow)
            let attention = ids.map { $0 == 0 ? Int64(0) : 1 }
            let pairs = try textRow == row ? source.alignments(row: row).filter { $0.token < l } : []
            let mask = KaleidoMasking.choose(words: KaleidoMasking.words(ids: ids, attentionMask: attention, vocab: vocab),
                                             alignments: pairs, mode: mode, rng: &rng)
            let original = ids
            KaleidoMasking.corrupt(&ids, positions: mask.tokens, vocabularySize: vocabularySize, rng: &rng)
            out.ids += ids
            out.attentionMask += attention
            out.mlmPositions += mask.tokens.map(Int64.init) + [Int64](repeating: 0, count: slots - mask.tokens.count)
            out.mlmIds += mask.tokens.map { original[$0] } + [Int64](repeating: 0, count: slots - mask.tokens.count)
            out.mlmWeights += [Float](repeating: 1, count: mask.tokens.count) + [Float](repeating: 0, count: slots - mask.tokens.count)
            out.itmLabels.append(textRow == row ? 1 : 0)
            out.textRows.append(textRow)
            out.masks.append(mask)

            var f = set.colour
            func patch(_ index: Int) -> ArraySlice<Float> { set.colour[(index * d)..<((index + 1) * d)] }
            func write(_ index: Int, _ values: ArraySlice<Float>) { f.replaceSubrange((index * d)..<((index + 1) * d), with: values) }
            // RR: K1 rotated by θ ∈ {0, 90, 180, 270}°.
            let theta = rng.int(0...3)
            if theta > 0 { write(0, set.rotated[((theta - 1) * d)..<(theta * d)]) }
            out.rotation.append(Int64(theta))
            // JPS: slot s of K2 holds patch π(s); positions stay with the slots.
            let label = rng.int(0...23)
            for (s, from) in KaleidoMasking.permutations[label].enumerated() { write(1 + s, patch(1 + from)) }
            out.jigsaw.append(Int64(label))
            // CP: the AGM-chosen K3 slot takes the same slot's K3 feature of another product.
            let slot = mask.level3.first ?? rng.int(0...8)
            let k3 = KaleidoPatchSet.offset(level: 3) + slot
            let camouflageRow = otherProductRow(productIDs[row], rng: &rng)
            if let camouflageRow {
                let other = try checked(source.patches(row: camouflageRow), row: camouflageRow)
                write(k3, other.colour[(k3 * d)..<((k3 + 1) * d)])
            }
            out.camouflage.append(Int64(slot))
            out.camouflageRows.append(camouflageRow ?? row)
            // G2CM: grey inputs, colour targets.
            for p in mask.level4 {
                let index = KaleidoPatchSet.offset(level: 4) + p
                out.greyTargets += patch(index)
                write(index, set.grey[(p * d)..<((p + 1) * d)])
            }
            out.greyPositions += mask.level4.map(Int64.init)
            // B2CM: blanked inputs, original targets.
            for p in mask.level5 {
                let index = KaleidoPatchSet.offset(level: 5) + p
                out.blankTargets += patch(index)
                write(index, ArraySlice(repeating: 0, count: d))
            }
            out.blankPositions += mask.level5.map(Int64.init)
            out.features += f
            out.positions += set.positions
        }
        return out
    }

    /// Evaluation inputs (spec §9): the clean colour features of `imageRows` and the unmasked ids of `texts`.
    public func clean(imageRows: [Int], ids: [[Int64]], device: Device) throws
        -> (ids: Tensor, attentionMask: Tensor, features: Tensor, positions: Tensor)
    {
        let (b, l, d) = (imageRows.count, textLength, source.featureDim)
        var features: [Float] = [], positions: [Float] = []
        features.reserveCapacity(b * 55 * d)
        for row in imageRows {
            let set = try checked(source.patches(row: row), row: row)
            features += set.colour
            positions += set.positions
        }
        let flat = ids.flatMap { $0 }
        return (try Tensor(flat, shape: [b, l], device: device), try Tensor(flat.map { $0 == 0 ? Int64(0) : 1 }, shape: [b, l], device: device),
                try Tensor(features, shape: [b, 55, d], device: device), try Tensor(positions, shape: [b, 55, 5], device: device))
    }
}
