// What a search request computes: a query embedded by the checkpoint (text tower or image tower), the index's
// nearest rows collapsed to products, and optionally ITC's top k re-ranked by the model's ITM head (ALBEF's
// two stages; both scores returned). Not thread-safe: the service runs it on `InferencePool`'s one queue.
import FashionData
import FashionEval
import FashionModels
import Foundation
import Torch

public struct SearchHit: Codable, Sendable, Equatable {
    public var id: Int64
    public var title: String
    public var category: String
    public var image: String
    /// The rank score: the ITM probability for re-ranked results, else the ITC cosine.
    public var score: Float
    /// Stage one: the cosine of the query and the product's best row.
    public var itcScore: Float
    /// Stage two: P(match) of the query text and the product's image; nil when not re-ranked.
    public var itmScore: Float?

    enum CodingKeys: String, CodingKey {
        case id, title, category, image, score, itcScore = "itc_score", itmScore = "itm_score"
    }
}

/// A request the service refuses, with the HTTP status and code it answers with.
public struct SearchRequestError: Error, Equatable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var description: String { "\(code): \(message)" }

    public init(_ status: Int, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }
}

public final class SearchEngine: @unchecked Sendable {
    public let checkpoint: DualEncoderCheckpoint
    public let catalog: Catalog
    public let index: any SearchIndex
    public let device: Device
    /// Longest query accepted, in characters, and most results per request.
    public static let maxQueryCharacters = 1000
    public static let maxK = 100

    private let tokenizer: WordPieceTokenizer
    /// The catalog images as the model sees them (its bounded image cache serves re-ranking).
    private let batcher: PairBatcher
    private let resampler: ImageResampler
    private let decoder: ImageDecoder

    private var model: any DualEncoder { checkpoint.model }

    public init(checkpoint: DualEncoderCheckpoint, catalog: Catalog, index: any SearchIndex, device: Device = .cpu,
                decoder: ImageDecoder = ImageDecoder(maxSide: 8192, maxPixels: 40_000_000)) throws {
        // Slot i is catalog row i (what IndexFile.load checks of a file): "more like this" reads a row's slot. A
        // load-test index repeats the catalog (slot s is row s mod n, each repeat a distinct "replica" product).
        let n = catalog.rowCount
        guard n > 0, index.count >= n, index.count % n == 0, index.rows.indices.allSatisfy({ index.rows[$0] == $0 % n }) else {
            throw SearchIndexError.shape(what: "index", expected: "rows 0..<\(n) (the catalog's, in order), possibly repeated", found: [index.count])
        }
        self.checkpoint = checkpoint
        self.catalog = catalog
        self.index = index
        self.device = device
        self.decoder = decoder
        tokenizer = try WordPieceTokenizer.bertBaseUncased()
        batcher = try PairBatcher(file: catalog.file, imageSize: checkpoint.model.imageSize, textLength: checkpoint.model.textLength)
        batcher.imageCacheLimit = PairBatcher.dualEncoderCacheLimit
        resampler = ImageResampler(inputSize: catalog.file.imageSize, outputSize: checkpoint.model.imageSize)
    }

    // MARK: Requests

    /// Text → images. `rerank`: the ITC top `rerank` products re-scored by ITM and placed first, by P(match).
    public func searchText(_ query: String, k: Int, rerank: Int? = nil) throws -> [SearchHit] {
        let text = query.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw SearchRequestError(400, "empty_query", "the query is empty") }
        guard text.count <= Self.maxQueryCharacters else {
            throw SearchRequestError(400, "query_too_long", "the query has \(text.count) characters; at most \(Self.maxQueryCharacters)")
        }
        try Self.check(k: k, rerank: rerank)
        let ids = try queryIDs(text)
        let q = try Torch.noGrad {
            let t = try Tensor(ids, shape: [1, model.textLength], device: device)
            return try model.textEmbeddings(ids: t, attentionMask: t.ne(0).to(dtype: .int64))
        }
        var hits = try products(q, in: .image, k: max(k, rerank ?? 0), excluding: nil)
        if let rerank { hits = try reranked(hits, depth: rerank, image: nil, ids: ids) }
        return Array(hits.prefix(k))
    }

    /// Image → images (`target` .image: the uploaded image's ITC embedding against the catalog images'), or
    /// image → texts (.text: against the catalog texts' embeddings; `rerank` then re-scores the top `rerank` by
    /// ITM of the upload and each product's title).
    public func searchImage(_ bytes: Data, k: Int, target: EmbeddingSpace = .image, rerank: Int? = nil) throws -> [SearchHit] {
        try Self.check(k: k, rerank: rerank)
        if rerank != nil, target == .image {
            throw SearchRequestError(400, "rerank_unavailable", "ITM re-ranks image → text results (target=text), not image → image")
        }
        let image: RGBImage
        do {
            image = try decoder.decode(data: bytes, name: "upload")
        } catch let e as ImageError {
            if case .tooLarge = e { throw SearchRequestError(413, "image_too_large", e.description) }
            throw SearchRequestError(400, "undecodable_image", e.description)
        }
        let side = catalog.file.imageSize
        let pixels = try image.squared(size: side).pixels
        var floats = [Float](repeating: 0, count: 3 * model.imageSize * model.imageSize)
        pixels.withUnsafeBufferPointer { src in
            floats.withUnsafeMutableBufferPointer { dst in
                if let s = src.baseAddress, let d = dst.baseAddress { resampler.convert(s, into: d) }
            }
        }
        let q = try Torch.noGrad {
            try model.imageEmbeddings(Tensor(floats, shape: [1, 3, model.imageSize, model.imageSize], device: device))
        }
        var hits = try products(q, in: target, k: max(k, rerank ?? 0), excluding: nil)
        if let rerank { hits = try reranked(hits, depth: rerank, image: floats, ids: nil) }
        return Array(hits.prefix(k))
    }

    /// "More like this": the products whose images are nearest the product's first image, itself excluded.
    public func similar(to id: Int64, k: Int) throws -> [SearchHit] {
        try Self.check(k: k, rerank: nil)
        guard let row = catalog.rowsOfProduct[id]?.first else { throw Self.unknown(id) }
        let q = try index.embedding(slot: row, in: .image).unsqueeze(0)
        return try products(q, in: .image, k: k, excluding: id)
    }

    public func item(_ id: Int64) throws -> CatalogItem {
        guard let item = catalog.item(id) else { throw Self.unknown(id) }
        return item
    }

    public func png(_ id: Int64) throws -> Data {
        guard let row = catalog.rowsOfProduct[id]?.first else { throw Self.unknown(id) }
        return try catalog.png(row: row)
    }

    // MARK: Stages

    /// The k best products for a (1, E) query: rows from the index, each product at its best row.
    private func products(_ query: Tensor, in space: EmbeddingSpace, k: Int, excluding: Int64?) throws -> [SearchHit] {
        // A product has at most maxViews rows, so k·maxViews (+ the excluded product's) rows hold k products.
        let depth = min(index.count, (k + 1) * catalog.maxViews)
        guard let rowHits = try index.nearest(query, in: space, k: depth).first else { return [] }
        var seen = Set<[Int64]>(), out: [SearchHit] = []
        for hit in rowHits {
            let id = catalog.productIDs[index.rows[hit.slot]], replica = Int64(hit.slot / catalog.rowCount)
            guard id != excluding, seen.insert([id, replica]).inserted, let item = catalog.item(id) else { continue }
            out.append(SearchHit(id: id, title: item.title, category: item.category, image: item.image, score: hit.score,
                                 itcScore: hit.score, itmScore: nil))
            if out.count == k { break }
        }
        return out
    }

    /// The first `depth` hits scored by ITM and sorted by P(match); the rest keep their ITC order below them. A
    /// pair is the query's `image` (or else the product's first image) with the query's `ids` (or else the
    /// product's title).
    private func reranked(_ hits: [SearchHit], depth: Int, image: [Float]?, ids: [Int64]?) throws -> [SearchHit] {
        let top = Array(hits.prefix(depth))
        guard !top.isEmpty else { return hits }
        let rows = top.compactMap { catalog.rowsOfProduct[$0.id]?.first }
        var pixels: [Float] = [], allIDs: [Int64] = []
        for r in rows {
            pixels += try image ?? batcher.image(r)
            allIDs += try ids ?? queryIDs(catalog.titles[r])
        }
        let s = model.imageSize
        let probs: [Float] = try Torch.noGrad {
            let images = try Tensor(pixels, shape: [rows.count, 3, s, s], device: device)
            let idsT = try Tensor(allIDs, shape: [rows.count, model.textLength], device: device)
            guard let p = try model.matchProbabilities(images: images, ids: idsT, attentionMask: idsT.ne(0).to(dtype: .int64)) else {
                throw SearchRequestError(400, "rerank_unavailable", "the checkpoint has no ITM head, so it cannot re-rank")
            }
            return try p.to(dtype: .float32).to(device: .cpu).toArray(Float.self)
        }
        var scored = top
        for i in scored.indices {
            scored[i].itmScore = probs[i]
            scored[i].score = probs[i]
        }
        scored.sort { ($0.itmScore ?? 0) > ($1.itmScore ?? 0) }
        return scored + hits.dropFirst(depth)
    }

    // MARK: Checks

    /// [CLS] pieces [SEP], padded to the model's text length (not cached: queries are unbounded).
    private func queryIDs(_ text: String) throws -> [Int64] {
        var ids = try tokenizer.encode(text, maxLength: model.textLength, addSpecialTokens: true).map(Int64.init)
        ids += [Int64](repeating: 0, count: model.textLength - ids.count)
        return ids
    }

    static func check(k: Int, rerank: Int?) throws {
        guard (1...maxK).contains(k) else { throw SearchRequestError(400, "invalid_k", "k must be in 1...\(maxK), got \(k)") }
        if let rerank, !(1...maxK).contains(rerank) {
            throw SearchRequestError(400, "invalid_rerank_k", "rerank_k must be in 1...\(maxK), got \(rerank)")
        }
    }

    static func unknown(_ id: Int64) -> SearchRequestError {
        SearchRequestError(404, "unknown_item", "no product \(id) in the catalog")
    }
}
