// The search index: L2-normalised image and text embeddings of every catalog row, and the nearest rows of a
// query by cosine (= dot product). `SearchIndex` is what the service needs; `ExactIndex` answers it exactly
// with one batched matrix product and torch.topk on libtorch (an approximate index can sit behind the same
// protocol later, issue 15 item 1).
import Torch

/// Which of a row's two embeddings a query is compared with.
public enum EmbeddingSpace: String, Sendable, Codable {
    case image, text
}

/// One index row: its slot in the index and its cosine with the query.
public struct IndexHit: Sendable, Equatable {
    public var slot: Int
    public var score: Float
}

public protocol SearchIndex: AnyObject {
    /// Rows in the index, and the width of their embeddings.
    var count: Int { get }
    var dimension: Int { get }
    /// The catalog row (index into the .h5 file) of each slot.
    var rows: [Int] { get }
    /// (E) float32: the embedding of `slot` in `space`.
    func embedding(slot: Int, in space: EmbeddingSpace) throws -> Tensor
    /// For each of the (Q, E) L2-normalised queries, the `k` best slots in `space`, best first.
    func nearest(_ queries: Tensor, in space: EmbeddingSpace, k: Int) throws -> [[IndexHit]]
}

public enum SearchIndexError: Error, Equatable, CustomStringConvertible {
    /// The embedding tables do not fit each other or the query.
    case shape(what: String, expected: String, found: [Int])
    /// The index file does not belong to this checkpoint or catalog: `field` differs.
    case mismatch(file: String, field: String, expected: String, found: String)
    /// The index file lacks a tensor or a metadata key.
    case missing(file: String, key: String)

    public var description: String {
        switch self {
        case let .shape(what, expected, found): return "search index: \(what) has shape \(found), expected \(expected)"
        case let .mismatch(file, field, expected, found):
            return "\(file): \(field) is \(found) but the checkpoint and catalog served give \(expected); the index was made from something else (delete it to rebuild, or pass the right --index)"
        case let .missing(file, key): return "\(file): no \"\(key)\" (not a `fashionvl embed` file?)"
        }
    }
}

/// Exact search: both tables as one (n, E) libtorch matrix each; a query block is (Q, E) × (E, n), then topk.
public final class ExactIndex: SearchIndex {
    public let images: Tensor
    public let texts: Tensor
    public let rows: [Int]

    public var count: Int { rows.count }
    public var dimension: Int { images.shape.last ?? 0 }

    public init(images: Tensor, texts: Tensor, rows: [Int]) throws {
        guard images.shape.count == 2, images.shape[0] == rows.count else {
            throw SearchIndexError.shape(what: "image_embeddings", expected: "[\(rows.count), E]", found: images.shape)
        }
        guard texts.shape == images.shape else {
            throw SearchIndexError.shape(what: "text_embeddings", expected: "\(images.shape)", found: texts.shape)
        }
        self.images = try images.dtype == .float32 ? images.contiguous() : images.to(dtype: .float32).contiguous()
        self.texts = try texts.dtype == .float32 ? texts.contiguous() : texts.to(dtype: .float32).contiguous()
        self.rows = rows
    }

    public func embedding(slot: Int, in space: EmbeddingSpace) throws -> Tensor {
        try (space == .image ? images : texts).select(dim: 0, index: slot)
    }

    public func nearest(_ queries: Tensor, in space: EmbeddingSpace, k: Int) throws -> [[IndexHit]] {
        guard queries.shape.count == 2, queries.shape[1] == dimension else {
            throw SearchIndexError.shape(what: "query block", expected: "[Q, \(dimension)]", found: queries.shape)
        }
        let q = queries.shape[0], kk = min(max(k, 0), count)
        guard kk > 0, q > 0 else { return Array(repeating: [], count: q) }
        let table = space == .image ? images : texts
        let (values, index) = try Torch.noGrad {
            try queries.to(device: table.device).mm(table.transpose(0, 1)).topk(kk, dim: 1)
        }
        let scores = try values.to(device: .cpu).toArray(Float.self)
        let slots = try index.to(device: .cpu).toArray(Int64.self)
        return (0..<q).map { i in (0..<kk).map { j in IndexHit(slot: Int(slots[i * kk + j]), score: scores[i * kk + j]) } }
    }
}

extension ExactIndex {
    /// A load-test index: this one's rows `times` times, each copy after the first moved by Gaussian noise of
    /// standard deviation `noise` per coordinate and re-normalised (slot s is catalog row s mod count; the
    /// engine treats each copy as a distinct "replica" product). Deterministic for a seed.
    public func replicated(times: Int, noise: Double, seed: UInt64 = 0) throws -> ExactIndex {
        guard times > 1 else { return self }
        let g = try Generator(seed: seed)
        func copies(_ t: Tensor) throws -> Tensor {
            var parts = [t]
            for _ in 1..<times {
                let x = try t + (try Tensor.randn(t.shape, generator: g) * noise)
                parts.append(try x / x.norm(p: 2, dims: [-1], keepdim: true).clamp(min: 1e-12))
            }
            return try Tensor.cat(parts)
        }
        return try Torch.noGrad {
            try ExactIndex(images: copies(images), texts: copies(texts), rows: (0..<(count * times)).map { $0 % count })
        }
    }
}
