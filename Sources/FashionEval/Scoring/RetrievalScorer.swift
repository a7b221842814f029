import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

/// Scores retrieval candidates (higher = better) for the one protocol loop in `RetrievalEvaluation`: the
/// sample-100 draws and the full protocol are the same for every scorer; only how a query's candidates get
/// their scores differs. Implementations: `ITMScorer` (a cross-encoder over every pair: MVLT, or a dual encoder's
/// ITM head), `ITCScorer` (dot products of embeddings computed once), `ITCITMScorer` (ITC top-k re-ranked by ITM).
public protocol RetrievalScorer: AnyObject {
    var kind: RetrievalScorerKind { get }
    /// ITC candidates re-ranked by ITM (itc+itm); nil for the others.
    var k: Int? { get }
    /// The file the rows index.
    var file: FashionGenFile { get }
    /// The text of every row of the file, in the protocol's text field.
    var texts: [String] { get }
    /// Cross-encoder (image, text) pairs scored so far.
    var pairsScored: Int { get }
    /// Images and distinct texts embedded so far (ITC).
    var embedded: Int { get }

    /// Called once with every draw before scoring any, so that a dual encoder embeds each needed image and text
    /// once, batched. Optional: `scores` embeds what is missing.
    func prepare(_ set: S100DrawSet) throws
    /// sample-100: the scores of each query's candidates, in candidate order. TIR pairs the query text with each
    /// candidate image, ITR the query image with each candidate product's text. Adds the queries done to `done`.
    func scores(_ draw: S100Draw, progress: ProgressLine?, done: inout Int) throws -> [[Float]]
    /// full: called on every rank before any `fullScores`, so that a dual encoder embeds its galleries (split
    /// across the ranks of a data-parallel group). Optional: `fullScores` embeds what is missing.
    func prepareFull(_ products: [(product: Int64, row: Int)]) throws
    /// full: how many queries one `fullScores` call takes against a gallery of `n` (bounds its memory).
    func fullQueryChunk(gallery n: Int) -> Int
    /// full: a (queries.count, n) float32 score block of the queries `queries` (indices into `products`) against
    /// every product: TIR = product text against one image per product, ITR = one image per product against
    /// every product text.
    func fullScores(_ direction: RetrievalDirection, queries: Range<Int>, products: [(product: Int64, row: Int)]) throws
        -> Tensor
}

extension RetrievalScorer {
    public var k: Int? { nil }
    public var embedded: Int { 0 }
    public func prepare(_ set: S100DrawSet) throws {}
    public func prepareFull(_ products: [(product: Int64, row: Int)]) throws {}
}

/// A cross-encoder: P(match) of B (image, text) pairs, images (B, 3, S, S) in [0, 1] and ids (B, L) → (B).
public typealias MatchProbability = (_ images: Tensor, _ ids: Tensor) throws -> Tensor
/// A cross-encoder that reads a product's image through precomputed per-row inputs (Kaleido-BERT's patch
/// features): P(match) of B (image row, text) pairs, ids (B, L) → (B).
public typealias RowMatchProbability = (_ imageRows: [Int], _ ids: Tensor) throws -> Tensor

/// Scores candidates with a cross-encoder: one forward pass per image-text pair. For MVLT that is its ITM head,
/// score = softmax(itm logits)[:, 1] (mvlt.md §7); for a dual encoder its `matchProbabilities`.
public final class ITMScorer: RetrievalScorer {
    public let batcher: PairBatcher
    public let texts: [String]
    public let device: Device
    /// Pairs per forward pass.
    public let chunk: Int
    public private(set) var pairsScored = 0
    private let match: MatchProbability?
    private let rowMatch: RowMatchProbability?

    public var kind: RetrievalScorerKind { .itm }
    public var file: FashionGenFile { batcher.file }

    /// `batcher` builds the model's inputs; `match` scores a batch of pairs.
    public init(batcher: PairBatcher, textField: TextField, device: Device, chunk: Int = 101,
                match: @escaping MatchProbability) throws {
        self.batcher = batcher
        texts = try textField.column(batcher.file)
        self.device = device
        self.chunk = chunk
        self.match = match
        rowMatch = nil
    }

    /// A cross-encoder over per-row image inputs (`rowMatch`); `batcher` only encodes the texts.
    public init(batcher: PairBatcher, textField: TextField, device: Device, chunk: Int = 101,
                rowMatch: @escaping RowMatchProbability) throws {
        self.batcher = batcher
        texts = try textField.column(batcher.file)
        self.device = device
        self.chunk = chunk
        match = nil
        self.rowMatch = rowMatch
    }

    /// MVLT's ITM head.
    public convenience init(model: MVLT, file: FashionGenFile, textField: TextField, device: Device, chunk: Int = 101) throws {
        let batcher = try PairBatcher(file: file, imageSize: model.config.imageSize, textLength: model.config.textLength)
        try self.init(batcher: batcher, textField: textField, device: device, chunk: chunk) { images, ids in
            try model.itmLogits(image: images, inputIds: ids).softmax(dim: 1).select(dim: 1, index: 1)
        }
    }

    /// A dual encoder's ITM head (`matchProbabilities`; attention mask = non-padding ids). `batcher` may be shared
    /// with an `ITCScorer` of the same model (one image cache).
    public convenience init(dualEncoder model: any DualEncoder, batcher: PairBatcher? = nil, file: FashionGenFile,
                            textField: TextField, device: Device, chunk: Int = 101, checkpoint: String) throws {
        let batcher = try batcher ?? PairBatcher(file: file, imageSize: model.imageSize, textLength: model.textLength)
        batcher.imageCacheLimit = batcher.imageCacheLimit ?? PairBatcher.dualEncoderCacheLimit
        try self.init(batcher: batcher, textField: textField, device: device, chunk: chunk) { images, ids in
            let mask = try ids.ne(0).to(dtype: .int64)
            guard let p = try model.matchProbabilities(images: images, ids: ids, attentionMask: mask) else {
                throw EvalError.invalidArgument("\(checkpoint): the model has no ITM head, so it cannot score pairs (use --scorer itc)")
            }
            return p
        }
    }

    /// P(match) for each (image row, text) pair.
    public func score(imageRows: [Int], texts pairTexts: [String]) throws -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(imageRows.count)
        try Torch.noGrad {
            var start = 0
            while start < imageRows.count {
                let end = min(start + chunk, imageRows.count)
                let p: Tensor
                if let rowMatch {
                    let ids = try pairTexts[start..<end].flatMap { try batcher.ids($0) }
                    p = try rowMatch(Array(imageRows[start..<end]), Tensor(ids, shape: [end - start, batcher.textLength], device: device))
                } else if let match {
                    let (images, ids) = try batcher.batch(images: Array(imageRows[start..<end]), texts: Array(pairTexts[start..<end]),
                                                          device: device)
                    p = try match(images, ids)
                } else {
                    throw EvalError.invalidArgument("ITM scorer without a model")
                }
                out += try p.to(dtype: .float32).toArray(Float.self)
                start = end
            }
        }
        pairsScored += imageRows.count
        return out
    }

    public func scores(_ draw: S100Draw, progress: ProgressLine?, done: inout Int) throws -> [[Float]] {
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

    /// One query per block: n pairs, as many forward passes as `chunk` allows.
    public func fullQueryChunk(gallery n: Int) -> Int { 1 }

    public func fullScores(_ direction: RetrievalDirection, queries: Range<Int>, products: [(product: Int64, row: Int)]) throws
        -> Tensor
    {
        var block: [Float] = []
        block.reserveCapacity(queries.count * products.count)
        for qi in queries {
            let q = products[qi]
            switch direction {
            case .tir:
                block += try score(imageRows: products.map(\.row), texts: Array(repeating: texts[q.row], count: products.count))
            case .itr:
                block += try score(imageRows: Array(repeating: q.row, count: products.count), texts: products.map { texts[$0.row] })
            }
        }
        return try Tensor(block, shape: [queries.count, products.count])
    }

    /// P(match) of explicit pairs (for re-ranking), as a flat list.
    func score(pairs: [(row: Int, text: String)]) throws -> [Float] {
        try score(imageRows: pairs.map(\.row), texts: pairs.map(\.text))
    }
}
