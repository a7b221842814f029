import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

/// Scores retrieval candidates with MVLT's ITM head (a cross-encoder: one forward pass per image-text pair,
/// score = softmax(itm logits)[:, 1], mvlt.md §7), for the sample-100 draws and for the full protocol.
public final class RetrievalScorer {
    public let model: MVLT
    public let batcher: PairBatcher
    /// The text of every row of the file, in the protocol's text field.
    public let texts: [String]
    public let device: Device
    /// Pairs per forward pass.
    public let chunk: Int
    public private(set) var pairsScored = 0

    public init(model: MVLT, file: FashionGenFile, textField: TextField, device: Device, chunk: Int = 101) throws {
        self.model = model
        batcher = try PairBatcher(file: file, imageSize: model.config.imageSize, textLength: model.config.textLength)
        texts = try textField.column(file)
        self.device = device
        self.chunk = chunk
    }

    /// P(match) for each (image row, text) pair.
    public func score(imageRows: [Int], texts pairTexts: [String]) throws -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(imageRows.count)
        try Torch.noGrad {
            var start = 0
            while start < imageRows.count {
                let end = min(start + chunk, imageRows.count)
                let (images, ids) = try batcher.batch(images: Array(imageRows[start..<end]), texts: Array(pairTexts[start..<end]),
                                                      device: device)
                let probs = try model.itmLogits(image: images, inputIds: ids).softmax(dim: 1).select(dim: 1, index: 1)
                out += try probs.to(dtype: .float32).toArray(Float.self)
                start = end
            }
        }
        pairsScored += imageRows.count
        return out
    }

    /// Scores every query of a draw: TIR pairs the query text with each candidate image, ITR the query image
    /// with each candidate product's text.
    public func score(_ draw: S100Draw, progress: ProgressLine? = nil, done: inout Int) throws -> [[Float]] {
        var scores: [[Float]] = []
        for q in draw.queries {
            switch draw.direction {
            case .tir:
                let text = texts[q.queryRow]
                scores.append(try score(imageRows: q.candidateRows, texts: Array(repeating: text, count: q.candidateRows.count)))
            case .itr:
                scores.append(try score(imageRows: Array(repeating: q.queryRow, count: q.candidateRows.count),
                                        texts: q.candidateRows.map { texts[$0] }))
            }
            done += 1
            progress?.update(done, items: pairsScored)
        }
        return scores
    }

    /// The full protocol: every query against every candidate of the file. TIR: one text per product against one
    /// image per product; ITR: one image per product against one text per product (n² pairs each).
    public func fullRanks(direction: RetrievalDirection, products: [(product: Int64, row: Int)], progress: ProgressLine?,
                          done: inout Int) throws -> QueryRanks {
        var scores: [[Float]] = []
        for (qi, q) in products.enumerated() {
            let rows: [Int], ts: [String]
            switch direction {
            case .tir:
                rows = products.map(\.row)
                ts = Array(repeating: texts[q.row], count: products.count)
            case .itr:
                rows = Array(repeating: q.row, count: products.count)
                ts = products.map { texts[$0.row] }
            }
            scores.append(try score(imageRows: rows, texts: ts))
            _ = qi
            done += 1
            progress?.update(done, items: pairsScored)
        }
        return try Retrieval.ranks(scores: scores, positives: Array(0..<products.count))
    }
}
