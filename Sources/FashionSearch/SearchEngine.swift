// What a search request computes: a query embedded by the checkpoint (text tower or image tower), the index's
// nearest rows collapsed to products, and optionally ITC's top k re-ranked by the model's ITM head (ALBEF's
// two stages; both scores returned). Requests come in batches (the pool's micro-batching): B queries are one
// padded encoder forward, one (B×E)·(E×N) product with a row-wise top-k, and one ITM forward over all their
// re-rank pairs; each request's results are exactly those it gets alone (a test checks ids and scores). Not
// thread-safe: the service runs it on `InferencePool`'s one queue.
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

/// One text → image query of a batch.
public struct TextSearch: Sendable {
    public var query: String
    public var k: Int
    public var rerank: Int?
    public init(query: String, k: Int, rerank: Int? = nil) { self.query = query; self.k = k; self.rerank = rerank }
}

/// One image → image (or → text) query of a batch: the uploaded bytes, decoded on the model's queue.
public struct ImageSearch: Sendable {
    public var bytes: Data
    public var k: Int
    public var target: EmbeddingSpace
    public var rerank: Int?
    public init(bytes: Data, k: Int, target: EmbeddingSpace = .image, rerank: Int? = nil) {
        self.bytes = bytes; self.k = k; self.target = target; self.rerank = rerank
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
        try searchTexts([TextSearch(query: query, k: k, rerank: rerank)])[0].get()
    }

    /// Image → images (`target` .image: the uploaded image's ITC embedding against the catalog images'), or
    /// image → texts (.text: against the catalog texts' embeddings; `rerank` then re-scores the top `rerank` by
    /// ITM of the upload and each product's title).
    public func searchImage(_ bytes: Data, k: Int, target: EmbeddingSpace = .image, rerank: Int? = nil) throws -> [SearchHit] {
        try searchImages([ImageSearch(bytes: bytes, k: k, target: target, rerank: rerank)])[0].get()
    }

    /// A batch of text queries: each answered as `searchText` would answer it alone (a bad one fails alone).
    public func searchTexts(_ requests: [TextSearch]) -> [Result<[SearchHit], Error>] {
        var results = [Result<[SearchHit], Error>?](repeating: nil, count: requests.count)
        var live: [(i: Int, ids: [Int64])] = []
        for (i, r) in requests.enumerated() {
            do {
                try Self.check(k: r.k, rerank: r.rerank)
                live.append((i, try checkedIDs(r.query)))
            } catch { results[i] = .failure(error) }
        }
        if !live.isEmpty {
            let batch = live.map { requests[$0.i] }
            do {
                let q = try timed(\.encodeMs) { try textEmbeddings(live.flatMap(\.ids), rows: live.count) }
                let hits = try products(q, in: batch.map { _ in .image }, k: batch.map { max($0.k, $0.rerank ?? 0) },
                                        excluding: batch.map { _ in nil })
                let final = reranked(hits, depths: batch.map(\.rerank), images: nil, ids: live.map(\.ids))
                for (j, l) in live.enumerated() { results[l.i] = final[j].map { Array($0.prefix(batch[j].k)) } }
            } catch {
                for l in live { results[l.i] = .failure(error) }
            }
            count(batch.count)
        }
        return results.map { $0! }
    }

    /// A batch of image queries: each answered as `searchImage` would answer it alone (a bad one fails alone).
    public func searchImages(_ requests: [ImageSearch]) -> [Result<[SearchHit], Error>] {
        var results = [Result<[SearchHit], Error>?](repeating: nil, count: requests.count)
        var live: [(i: Int, pixels: [Float])] = []
        for (i, r) in requests.enumerated() {
            do {
                try Self.check(k: r.k, rerank: r.rerank)
                if r.rerank != nil, r.target == .image {
                    throw SearchRequestError(400, "rerank_unavailable", "ITM re-ranks image → text results (target=text), not image → image")
                }
                live.append((i, try modelPixels(r.bytes)))
            } catch { results[i] = .failure(error) }
        }
        if !live.isEmpty {
            let batch = live.map { requests[$0.i] }
            do {
                let q = try timed(\.encodeMs) { try imageEmbeddings(live.flatMap(\.pixels), rows: live.count) }
                let hits = try products(q, in: batch.map(\.target), k: batch.map { max($0.k, $0.rerank ?? 0) },
                                        excluding: batch.map { _ in nil })
                let final = reranked(hits, depths: batch.map(\.rerank), images: live.map(\.pixels), ids: nil)
                for (j, l) in live.enumerated() { results[l.i] = final[j].map { Array($0.prefix(batch[j].k)) } }
            } catch {
                for l in live { results[l.i] = .failure(error) }
            }
            count(batch.count)
        }
        return results.map { $0! }
    }

    /// "More like this": the products whose images are nearest the product's first image, itself excluded.
    public func similar(to id: Int64, k: Int) throws -> [SearchHit] {
        try Self.check(k: k, rerank: nil)
        guard let row = catalog.rowsOfProduct[id]?.first else { throw Self.unknown(id) }
        let q = try index.embedding(slot: row, in: .image).unsqueeze(0)
        return try products(q, in: [.image], k: [k], excluding: [id])[0]
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

    /// The upload decoded, squared and resampled to the model's input: (3, S, S) floats in [0, 1].
    private func modelPixels(_ bytes: Data) throws -> [Float] {
        let image: RGBImage
        do {
            image = try decoder.decode(data: bytes, name: "upload")
        } catch let e as ImageError {
            if case .tooLarge = e { throw SearchRequestError(413, "image_too_large", e.description) }
            throw SearchRequestError(400, "undecodable_image", e.description)
        }
        let pixels = try image.squared(size: catalog.file.imageSize).pixels
        var floats = [Float](repeating: 0, count: 3 * model.imageSize * model.imageSize)
        pixels.withUnsafeBufferPointer { src in
            floats.withUnsafeMutableBufferPointer { dst in
                if let s = src.baseAddress, let d = dst.baseAddress { resampler.convert(s, into: d) }
            }
        }
        return floats
    }

    /// For each (Q, E) query row q, the `k[q]` best products in `spaces[q]`, each product at its best row. Queries of
    /// one space and depth share one `nearest` call (the index's top-k is row-wise, so a row's hits do not depend on
    /// the others in its block).
    private func products(_ queries: Tensor, in spaces: [EmbeddingSpace], k: [Int], excluding: [Int64?]) throws -> [[SearchHit]] {
        // A product has at most maxViews rows, so k·maxViews (+ the excluded product's) rows hold k products.
        let depths = k.map { min(index.count, ($0 + 1) * catalog.maxViews) }
        var groups: [[Int]] = [], keys: [String: Int] = [:]
        for q in depths.indices {
            let key = "\(spaces[q].rawValue) \(depths[q])"
            if let g = keys[key] { groups[g].append(q) } else { keys[key] = groups.count; groups.append([q]) }
        }
        var out = [[SearchHit]](repeating: [], count: depths.count)
        for members in groups {
            let block = members.count == depths.count ? queries
                : try queries.indexSelect(dim: 0, index: Tensor(members.map(Int64.init), shape: [members.count], device: queries.device))
            let rowHits = try timed(\.searchMs) { try index.nearest(block, in: spaces[members[0]], k: depths[members[0]]) }
            for (j, q) in members.enumerated() where j < rowHits.count {
                out[q] = collapse(rowHits[j], k: k[q], excluding: excluding[q])
            }
        }
        return out
    }

    private func collapse(_ rowHits: [IndexHit], k: Int, excluding: Int64?) -> [SearchHit] {
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

    /// Each list's first `depths[j]` hits (nil: none) scored by ITM and sorted by P(match), the rest keeping their ITC
    /// order below them. A pair is the query's image (`images[j]`, or else the product's first image) with the
    /// query's ids (`ids[j]`, or else the product's title). The pairs of all lists go through the model together,
    /// `pairBlock` at a time.
    private func reranked(_ lists: [[SearchHit]], depths: [Int?], images: [[Float]]?, ids: [[Int64]]?) -> [Result<[SearchHit], Error>] {
        var pixels: [Float] = [], allIDs: [Int64] = [], spans: [Range<Int>?] = []
        var results: [Result<[SearchHit], Error>] = lists.map { .success($0) }
        for (j, hits) in lists.enumerated() {
            guard let depth = depths[j], depth > 0, !hits.isEmpty else { spans.append(nil); continue }
            do {
                var p: [Float] = [], t: [Int64] = []
                for hit in hits.prefix(depth) {
                    guard let r = catalog.rowsOfProduct[hit.id]?.first else { throw Self.unknown(hit.id) }
                    p += try images?[j] ?? batcher.image(r)
                    t += try ids?[j] ?? queryIDs(catalog.titles[r])
                }
                let start = allIDs.count / model.textLength
                pixels += p
                allIDs += t
                spans.append(start..<(allIDs.count / model.textLength))
            } catch {
                results[j] = .failure(error)
                spans.append(nil)
            }
        }
        let pairs = allIDs.count / model.textLength
        guard pairs > 0 else { return results }
        do {
            let probs = try timed(\.rerankMs) { try matchProbabilities(pixels: pixels, ids: allIDs, pairs: pairs) }
            for (j, span) in spans.enumerated() {
                guard let span else { continue }
                var scored = Array(lists[j].prefix(span.count))
                for i in scored.indices {
                    scored[i].itmScore = probs[span.lowerBound + i]
                    scored[i].score = probs[span.lowerBound + i]
                }
                scored.sort { ($0.itmScore ?? 0) > ($1.itmScore ?? 0) }
                results[j] = .success(scored + lists[j].dropFirst(span.count))
            }
        } catch {
            for (j, span) in spans.enumerated() where span != nil { results[j] = .failure(error) }
        }
        stats.pairs += pairs
        return results
    }

    /// Rows of every encoder forward (queries) and pairs of every ITM forward (re-ranking). The model's kernels do not
    /// promise a row the same float bits at every batch size (BLAS picks kernels by matrix size), so each forward has
    /// exactly this many rows, the last block padded with copies of its first row: a query gets the same embedding
    /// and probabilities alone as in any batch. The index product (B × E)·(E × N) is one GEMM per batch, so a score may
    /// still differ in its last bit with the batch size (the same ids come back; SearchBatchTests).
    public static let encodeBlock = 8
    public static let pairBlock = 20

    /// (rows, E) text embeddings of `rows` rows of ids, `encodeBlock` rows a forward.
    private func textEmbeddings(_ ids: [Int64], rows: Int) throws -> Tensor {
        let l = model.textLength
        return try blocks(rows: rows, size: Self.encodeBlock) { start, n in
            let t = try Tensor(padded(ids, width: l, start: start, count: n, to: Self.encodeBlock), shape: [Self.encodeBlock, l], device: device)
            return try model.textEmbeddings(ids: t, attentionMask: t.ne(0).to(dtype: .int64))
        }
    }

    /// (rows, E) image embeddings of `rows` (3, S, S) images, `encodeBlock` images a forward.
    private func imageEmbeddings(_ pixels: [Float], rows: Int) throws -> Tensor {
        let s = model.imageSize
        return try blocks(rows: rows, size: Self.encodeBlock) { start, n in
            try model.imageEmbeddings(Tensor(padded(pixels, width: 3 * s * s, start: start, count: n, to: Self.encodeBlock),
                                             shape: [Self.encodeBlock, 3, s, s], device: device))
        }
    }

    /// P(match) of `pairs` (image, ids) pairs, `pairBlock` pairs a forward.
    private func matchProbabilities(pixels: [Float], ids: [Int64], pairs: Int) throws -> [Float] {
        let s = model.imageSize, l = model.textLength, b = Self.pairBlock
        let p = try blocks(rows: pairs, size: b) { start, n in
            let images = try Tensor(padded(pixels, width: 3 * s * s, start: start, count: n, to: b), shape: [b, 3, s, s], device: device)
            let idsT = try Tensor(padded(ids, width: l, start: start, count: n, to: b), shape: [b, l], device: device)
            guard let p = try model.matchProbabilities(images: images, ids: idsT, attentionMask: idsT.ne(0).to(dtype: .int64)) else {
                throw SearchRequestError(400, "rerank_unavailable", "the checkpoint has no ITM head, so it cannot re-rank")
            }
            return p
        }
        return try p.to(dtype: .float32).to(device: .cpu).toArray(Float.self)
    }

    /// `forward(start, n)` of every block of `size` rows (it returns `size` rows; the first n are kept), concatenated.
    private func blocks(rows: Int, size: Int, _ forward: (Int, Int) throws -> Tensor) throws -> Tensor {
        try Torch.noGrad {
            var parts: [Tensor] = []
            for start in stride(from: 0, to: rows, by: size) {
                let n = min(size, rows - start)
                let out = try forward(start, n)
                parts.append(n == size ? out : try out.narrow(dim: 0, start: 0, length: n))
            }
            return parts.count == 1 ? parts[0] : try Tensor.cat(parts)
        }
    }

    /// Rows start..<start+count of `values` (rows of `width`), then copies of row `start` up to `size` rows.
    private func padded<T>(_ values: [T], width: Int, start: Int, count: Int, to size: Int) -> [T] {
        var out = Array(values[(start * width)..<((start + count) * width)])
        out.reserveCapacity(size * width)
        let first = values[(start * width)..<((start + 1) * width)]
        for _ in count..<size { out += first }
        return out
    }

    // MARK: Stage times

    /// Where the model worker's time went since the last `resetStats()`: batches and the requests in them, and
    /// milliseconds spent encoding queries, searching the index (product + top-k) and re-ranking (ITM forwards).
    public struct StageStats: Sendable, Codable, Equatable {
        public var batches = 0, requests = 0, pairs = 0
        public var encodeMs = 0.0, searchMs = 0.0, rerankMs = 0.0
    }

    private let statsLock = NSLock()
    private var _stats = StageStats()
    private var stats: StageStats {
        get { statsLock.lock(); defer { statsLock.unlock() }; return _stats }
        set { statsLock.lock(); _stats = newValue; statsLock.unlock() }
    }

    public var stageStats: StageStats { stats }
    public func resetStats() { stats = StageStats() }

    private func count(_ requests: Int) {
        stats.batches += 1
        stats.requests += requests
    }

    private func timed<T>(_ stage: WritableKeyPath<StageStats, Double>, _ body: () throws -> T) rethrows -> T {
        let t = DispatchTime.now().uptimeNanoseconds
        defer { stats[keyPath: stage] += Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6 }
        return try body()
    }

    // MARK: Checks

    /// The trimmed query's ids, or 400 for an empty or too long one.
    private func checkedIDs(_ query: String) throws -> [Int64] {
        let text = query.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw SearchRequestError(400, "empty_query", "the query is empty") }
        guard text.count <= Self.maxQueryCharacters else {
            throw SearchRequestError(400, "query_too_long", "the query has \(text.count) characters; at most \(Self.maxQueryCharacters)")
        }
        return try queryIDs(text)
    }

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
