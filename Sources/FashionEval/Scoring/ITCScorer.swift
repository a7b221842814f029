import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

/// Scores candidates by ITC: the cosine of a dual encoder's L2-normalised image and text embeddings. Every
/// needed image row and every distinct text is embedded once (batched, no grad; the model is in eval mode as
/// `EvalCheckpoint` opens it) and kept on the device; scores are dot products. The full protocol is one matrix
/// product (c, E) × (E, n) per chunk of c queries, so n² fusion passes never happen and memory stays O(c·n).
public final class ITCScorer: RetrievalScorer {
    public let model: any DualEncoder
    public let batcher: PairBatcher
    public let texts: [String]
    public let device: Device
    /// Images or texts per embedding forward pass.
    public let batch: Int
    /// Upper bound on c·n floats of one full-protocol score block (32 MiB by default).
    public var blockElements = 8 << 20
    /// A data-parallel group: each rank embeds its share of every new batch of rows and texts (whole batches), the
    /// embeddings are gathered, and every rank holds the whole tables (docs/DISTRIBUTED.md). Every rank must then
    /// ask for the same embeddings in the same order.
    public var dataParallel: DataParallel?

    public var kind: RetrievalScorerKind { .itc }
    public var file: FashionGenFile { batcher.file }
    public var pairsScored: Int { 0 }
    public var embedded: Int { imageSlot.count + textSlot.count }

    private var imageSlot: [Int: Int] = [:]
    private var textSlot: [String: Int] = [:]
    private var imageTable: Tensor?
    private var textTable: Tensor?
    /// The full protocol's galleries: one image and one text embedding per product, in product order.
    private var gallery: (rows: [Int], images: Tensor, texts: Tensor)?

    public init(model: any DualEncoder, file: FashionGenFile, textField: TextField, device: Device, batch: Int = 64,
                batcher: PairBatcher? = nil) throws {
        self.model = model
        self.batcher = try batcher ?? PairBatcher(file: file, imageSize: model.imageSize, textLength: model.textLength)
        self.batcher.imageCacheLimit = self.batcher.imageCacheLimit ?? PairBatcher.dualEncoderCacheLimit
        texts = try textField.column(file)
        self.device = device
        self.batch = max(1, batch)
    }

    // MARK: Embedding once

    /// Embeds the rows and texts not embedded yet.
    public func embed(imageRows: [Int], texts wanted: [String]) throws {
        var newRows: [Int] = [], seenRows = Set<Int>()
        for r in imageRows where imageSlot[r] == nil && seenRows.insert(r).inserted { newRows.append(r) }
        var newTexts: [String] = [], seenTexts = Set<String>()
        for t in wanted where textSlot[t] == nil && seenTexts.insert(t).inserted { newTexts.append(t) }
        let dim = [model.embeddingDim]
        if !newRows.isEmpty {
            let e = try Sharding.rows(newRows.count, unit: batch, over: dataParallel, trailing: dim, device: device) {
                try ITCScorer.embedImages(model, batcher: batcher, rows: Array(newRows[$0]), batch: batch, device: device)
            }
            imageTable = try imageTable.map { try Tensor.cat([$0, e]) } ?? e
            for r in newRows { imageSlot[r] = imageSlot.count }
        }
        if !newTexts.isEmpty {
            let e = try Sharding.rows(newTexts.count, unit: batch, over: dataParallel, trailing: dim, device: device) {
                try ITCScorer.embedTexts(model, batcher: batcher, texts: Array(newTexts[$0]), batch: batch, device: device)
            }
            textTable = try textTable.map { try Tensor.cat([$0, e]) } ?? e
            for t in newTexts { textSlot[t] = textSlot.count }
        }
    }

    /// (rows.count, E) float32 image embeddings on `device`.
    public static func embedImages(_ model: any DualEncoder, batcher: PairBatcher, rows: [Int], batch: Int, device: Device)
        throws -> Tensor
    {
        var parts: [Tensor] = []
        try Torch.noGrad {
            var start = 0
            while start < rows.count {
                let end = min(start + batch, rows.count)
                var pixels: [Float] = []
                let s = batcher.imageSize
                pixels.reserveCapacity((end - start) * 3 * s * s)
                for r in rows[start..<end] { pixels += try batcher.image(r, cache: false) }  // each row is embedded once
                let images = try Tensor(pixels, shape: [end - start, 3, s, s], device: device)
                parts.append(try checked(model.imageEmbeddings(images), count: end - start, model: model, what: "imageEmbeddings"))
                start = end
            }
        }
        return try parts.count == 1 ? parts[0] : Tensor.cat(parts)
    }

    /// (texts.count, E) float32 text embeddings on `device`; attention mask = non-padding ids.
    public static func embedTexts(_ model: any DualEncoder, batcher: PairBatcher, texts: [String], batch: Int, device: Device)
        throws -> Tensor
    {
        var parts: [Tensor] = []
        try Torch.noGrad {
            var start = 0
            while start < texts.count {
                let end = min(start + batch, texts.count)
                var ids: [Int64] = []
                for t in texts[start..<end] { ids += try batcher.ids(t) }
                let idsT = try Tensor(ids, shape: [end - start, batcher.textLength], device: device)
                let mask = try idsT.ne(0).to(dtype: .int64)
                parts.append(try checked(model.textEmbeddings(ids: idsT, attentionMask: mask), count: end - start, model: model,
                                         what: "textEmbeddings"))
                start = end
            }
        }
        return try parts.count == 1 ? parts[0] : Tensor.cat(parts)
    }

    private static func checked(_ e: Tensor, count: Int, model: any DualEncoder, what: String) throws -> Tensor {
        guard e.shape == [count, model.embeddingDim] else {
            throw EvalError.invalidArgument("\(what) returned shape \(e.shape) for \(count) inputs; expected [\(count), \(model.embeddingDim)]")
        }
        return try e.dtype == .float32 ? e.detach() : e.to(dtype: .float32).detach()
    }

    // MARK: sample-100

    public func prepare(_ set: S100DrawSet) throws {
        var rows: [Int] = [], wanted: [String] = []
        for d in set.draws { collect(d, rows: &rows, texts: &wanted) }
        try embed(imageRows: rows, texts: wanted)
    }

    private func collect(_ draw: S100Draw, rows: inout [Int], texts wanted: inout [String]) {
        for q in draw.queries {
            switch draw.direction {
            case .tir:
                wanted.append(texts[q.queryRow])
                rows += q.candidateRows
            case .itr:
                rows.append(q.queryRow)
                wanted += q.candidateRows.map { texts[$0] }
            }
        }
    }

    public func scores(_ draw: S100Draw, progress: ProgressLine?, done: inout Int) throws -> [[Float]] {
        var rows: [Int] = [], wanted: [String] = []
        collect(draw, rows: &rows, texts: &wanted)
        try embed(imageRows: rows, texts: wanted)
        guard let imageTable, let textTable else { return draw.queries.map { _ in [] } }
        // Per pair: the query's slot and the candidate's slot; scores = rowwise dot products, in chunks of pairs.
        var out: [[Float]] = []
        out.reserveCapacity(draw.queries.count)
        var qi = 0
        let pairBudget = max(1, blockElements / max(1, model.embeddingDim))
        try Torch.noGrad {
            while qi < draw.queries.count {
                var querySlots: [Int64] = [], candidateSlots: [Int64] = [], counts: [Int] = []
                while qi < draw.queries.count, counts.isEmpty || candidateSlots.count + draw.queries[qi].candidateRows.count <= pairBudget {
                    let q = draw.queries[qi]
                    let (qs, cs): (Int, [Int])
                    switch draw.direction {
                    case .tir: (qs, cs) = (textSlot[texts[q.queryRow]]!, q.candidateRows.map { imageSlot[$0]! })
                    case .itr: (qs, cs) = (imageSlot[q.queryRow]!, q.candidateRows.map { textSlot[texts[$0]]! })
                    }
                    querySlots += Array(repeating: Int64(qs), count: cs.count)
                    candidateSlots += cs.map(Int64.init)
                    counts.append(cs.count)
                    qi += 1
                }
                let (queryTable, candidateTable) = draw.direction == .tir ? (textTable, imageTable) : (imageTable, textTable)
                let qe = try queryTable.indexSelect(dim: 0, index: Tensor(querySlots, device: device))
                let ce = try candidateTable.indexSelect(dim: 0, index: Tensor(candidateSlots, device: device))
                let flat = try (qe * ce).sum(dims: [1]).to(device: .cpu).toArray(Float.self)
                var start = 0
                for c in counts {
                    out.append(Array(flat[start..<(start + c)]))
                    start += c
                }
            }
        }
        done += draw.queries.count
        progress?.update(done, items: embedded)
        return out
    }

    // MARK: full

    public func fullQueryChunk(gallery n: Int) -> Int { max(1, min(n, blockElements / max(n, 1))) }

    public func prepareFull(_ products: [(product: Int64, row: Int)]) throws { _ = try galleries(products) }

    /// The galleries of `products`: one image embedding (its row) and one text embedding per product.
    public func galleries(_ products: [(product: Int64, row: Int)]) throws -> (images: Tensor, texts: Tensor) {
        let rows = products.map(\.row)
        if let g = gallery, g.rows == rows { return (g.images, g.texts) }
        let productTexts = rows.map { texts[$0] }
        try embed(imageRows: rows, texts: productTexts)
        guard let imageTable, let textTable else { throw EvalError.invalidArgument("full retrieval: no products") }
        let images = try imageTable.indexSelect(dim: 0, index: Tensor(rows.map { Int64(imageSlot[$0]!) }, device: device))
        let textsE = try textTable.indexSelect(dim: 0, index: Tensor(productTexts.map { Int64(textSlot[$0]!) }, device: device))
        gallery = (rows, images, textsE)
        return (images, textsE)
    }

    public func fullScores(_ direction: RetrievalDirection, queries: Range<Int>, products: [(product: Int64, row: Int)]) throws
        -> Tensor
    {
        let (images, textsE) = try galleries(products)
        return try Torch.noGrad {
            switch direction {
            case .tir:
                return try textsE.narrow(dim: 0, start: queries.lowerBound, length: queries.count).mm(images.transpose(0, 1))
            case .itr:
                return try images.narrow(dim: 0, start: queries.lowerBound, length: queries.count).mm(textsE.transpose(0, 1))
            }
        }
    }
}

/// ALBEF's inference: ITC scores every candidate, the k best by ITC are scored again by the ITM cross-encoder
/// and ordered by P(match) above the rest, which keep their ITC order. The combined score is
/// `ITCITMScorer.rerankOffset + P(match)` ∈ [3, 4] for the top k and the ITC cosine ∈ [−1, 1] below, so every
/// re-ranked candidate outranks every other (what `Retrieval.ranks` and the examples see). Candidates tied at the
/// k-th ITC score: sample-100 re-ranks the earlier candidate, the full protocol torch.topk's choice.
public final class ITCITMScorer: RetrievalScorer {
    public let itc: ITCScorer
    public let itm: ITMScorer
    public let depth: Int
    public static let rerankOffset: Float = 3

    public var kind: RetrievalScorerKind { .itcItm }
    public var k: Int? { depth }
    public var file: FashionGenFile { itc.file }
    public var texts: [String] { itc.texts }
    public var pairsScored: Int { itm.pairsScored }
    public var embedded: Int { itc.embedded }

    public init(itc: ITCScorer, itm: ITMScorer, k: Int) throws {
        guard k > 0 else { throw EvalError.invalidArgument("itc+itm: k must be positive, got \(k)") }
        self.itc = itc
        self.itm = itm
        depth = k
    }

    public func prepare(_ set: S100DrawSet) throws { try itc.prepare(set) }

    public func scores(_ draw: S100Draw, progress: ProgressLine?, done: inout Int) throws -> [[Float]] {
        var itcDone = 0
        var scores = try itc.scores(draw, progress: nil, done: &itcDone)
        // The top k of every query of the draw, then their pairs in as few cross-encoder passes as `itm.chunk` allows.
        var tops: [[Int]] = [], pairs: [(row: Int, text: String)] = []
        for (qi, q) in draw.queries.enumerated() {
            let s = scores[qi]
            let top = Array(s.indices.sorted { s[$0] > s[$1] || (s[$0] == s[$1] && $0 < $1) }.prefix(depth))
            tops.append(top)
            pairs += top.map { pair(draw.direction, queryRow: q.queryRow, candidateRow: q.candidateRows[$0]) }
        }
        let probs = try itm.score(pairs: pairs)
        var next = 0
        for (qi, top) in tops.enumerated() {
            for ci in top {
                scores[qi][ci] = ITCITMScorer.rerankOffset + probs[next]
                next += 1
            }
        }
        done += draw.queries.count
        progress?.update(done, items: pairsScored)
        return scores
    }

    private func pair(_ direction: RetrievalDirection, queryRow: Int, candidateRow: Int) -> (row: Int, text: String) {
        direction == .tir ? (candidateRow, texts[queryRow]) : (queryRow, texts[candidateRow])
    }

    public func fullQueryChunk(gallery n: Int) -> Int { itc.fullQueryChunk(gallery: n) }

    public func prepareFull(_ products: [(product: Int64, row: Int)]) throws { try itc.prepareFull(products) }

    public func fullScores(_ direction: RetrievalDirection, queries: Range<Int>, products: [(product: Int64, row: Int)]) throws
        -> Tensor
    {
        let block = try itc.fullScores(direction, queries: queries, products: products)
        let k = min(depth, products.count)
        let (_, top) = try Torch.noGrad { try block.topk(k, dim: 1) }
        let index = try top.to(device: .cpu).toArray(Int64.self)
        var pairs: [(row: Int, text: String)] = []
        pairs.reserveCapacity(index.count)
        for (i, qi) in queries.enumerated() {
            for j in index[(i * k)..<((i + 1) * k)] {
                pairs.append(pair(direction, queryRow: products[qi].row, candidateRow: products[Int(j)].row))
            }
        }
        let probs = try itm.score(pairs: pairs).map { ITCITMScorer.rerankOffset + $0 }
        return try Torch.noGrad {
            try block.scatter(dim: 1, index: top, src: Tensor(probs, shape: [queries.count, k], device: block.device))
        }
    }
}
