// Approximate nearest rows by a hierarchical navigable small-world graph (Malkov & Yashunin 2016/2018, the
// algorithm of hnswlib, written here in Swift over flat arrays): each row joins a random number of layers, links
// to about M neighbours per layer (2M on layer 0) chosen by the paper's diversity heuristic, and a query descends
// greedily from the top layer, then searches layer 0 with a candidate list of `efSearch`. Similarity is the dot
// product of L2-normalised rows (= cosine), as ExactIndex's. The build is deterministic: rows in order, layers
// from a seeded generator, one thread. Only the spaces asked for get a graph; the others, and `embedding(slot:)`,
// are the exact index's.
import Foundation
import Torch

public struct HNSWParameters: Sendable, Codable, Equatable {
    /// Links per node on layers above 0 (2M on layer 0).
    public var m = 16
    /// Candidate list while linking a new row.
    public var efConstruction = 100
    /// Candidate list of a query (at least k).
    public var efSearch = 64
    /// Seed of the layer draws.
    public var seed: UInt64 = 1

    public init(m: Int = 16, efConstruction: Int = 100, efSearch: Int = 64, seed: UInt64 = 1) {
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.seed = seed
    }
}

public final class HNSWIndex: SearchIndex {
    public let exact: ExactIndex
    public let parameters: HNSWParameters
    private var graphs: [EmbeddingSpace: HNSWGraph] = [:]
    /// Seconds each space's graph took to build.
    public private(set) var buildSeconds: [EmbeddingSpace: Double] = [:]

    public var count: Int { exact.count }
    public var dimension: Int { exact.dimension }
    public var rows: [Int] { exact.rows }

    /// Builds a graph over `exact`'s rows for each of `spaces`.
    public init(exact: ExactIndex, spaces: [EmbeddingSpace] = [.image, .text], parameters: HNSWParameters = HNSWParameters()) throws {
        self.exact = exact
        self.parameters = parameters
        for space in spaces {
            let start = DispatchTime.now().uptimeNanoseconds
            let table = try (space == .image ? exact.images : exact.texts).to(device: .cpu).toArray(Float.self)
            graphs[space] = HNSWGraph(vectors: table, dimension: exact.dimension, parameters: parameters)
            buildSeconds[space] = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
    }

    public var efSearch: Int {
        get { graphs.values.first?.efSearch ?? parameters.efSearch }
        set { for g in graphs.values { g.efSearch = newValue } }
    }

    public func embedding(slot: Int, in space: EmbeddingSpace) throws -> Tensor { try exact.embedding(slot: slot, in: space) }

    /// Layer 0's links of every slot in `space`'s graph (nil without a graph): what a deterministic build repeats.
    public func baseLayerLinks(in space: EmbeddingSpace) -> [[Int32]]? { graphs[space]?.baseLayerLinks }

    public func nearest(_ queries: Tensor, in space: EmbeddingSpace, k: Int) throws -> [[IndexHit]] {
        guard let graph = graphs[space] else { return try exact.nearest(queries, in: space, k: k) }
        guard queries.shape.count == 2, queries.shape[1] == dimension else {
            throw SearchIndexError.shape(what: "query block", expected: "[Q, \(dimension)]", found: queries.shape)
        }
        let q = queries.shape[0], e = dimension
        let flat = try queries.to(device: .cpu).to(dtype: .float32).contiguous().toArray(Float.self)
        return (0..<q).map { i in graph.search(Array(flat[(i * e)..<((i + 1) * e)]), k: min(max(k, 0), count)) }
    }
}

/// One space's graph. Layer 0's links are one flat array (`m0` slots per node); upper layers' per node.
final class HNSWGraph {
    let dimension: Int
    let m: Int, m0: Int, efConstruction: Int
    var efSearch: Int
    private let vectors: [Float]
    private var links0: [Int32]
    private var counts0: [Int32]
    /// upper[node][layer - 1] = the node's links on that layer.
    private var upper: [[[Int32]]]
    private var levels: [Int]
    private var entry: Int32 = -1
    private var maxLevel = -1
    private var visited: [UInt32]
    private var generation: UInt32 = 0
    private var rng: UInt64

    init(vectors: [Float], dimension: Int, parameters: HNSWParameters) {
        self.vectors = vectors
        self.dimension = dimension
        m = max(2, parameters.m)
        m0 = 2 * m
        efConstruction = max(parameters.efConstruction, m)
        efSearch = parameters.efSearch
        let n = dimension > 0 ? vectors.count / dimension : 0
        links0 = [Int32](repeating: 0, count: n * m0)
        counts0 = [Int32](repeating: 0, count: n)
        upper = Array(repeating: [], count: n)
        levels = Array(repeating: 0, count: n)
        visited = [UInt32](repeating: 0, count: n)
        rng = parameters.seed
        let scale = 1 / log(Double(m))
        for node in 0..<n { insert(Int32(node), level: Int(-log(max(nextUniform(), 1e-12)) * scale)) }
    }

    var baseLayerLinks: [[Int32]] { (0..<counts0.count).map { links(Int32($0), level: 0) } }

    /// The k best nodes for `query`, best first.
    func search(_ query: [Float], k: Int) -> [IndexHit] {
        guard entry >= 0, k > 0 else { return [] }
        return query.withUnsafeBufferPointer { q in
            var ep = entry
            var epSim = similarity(q, ep)
            if maxLevel > 0 { for level in stride(from: maxLevel, to: 0, by: -1) { (ep, epSim) = greedy(q, from: ep, sim: epSim, level: level) } }
            let found = searchLayer(q, entries: [(epSim, ep)], ef: max(efSearch, k), level: 0)
            return found.prefix(k).map { IndexHit(slot: Int($0.1), score: $0.0) }
        }
    }

    // MARK: Build

    private func nextUniform() -> Double {
        // SplitMix64.
        rng &+= 0x9E37_79B9_7F4A_7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }

    private func insert(_ node: Int32, level: Int) {
        levels[Int(node)] = level
        upper[Int(node)] = Array(repeating: [], count: level)
        guard entry >= 0 else {
            entry = node
            maxLevel = level
            return
        }
        let start = Int(node) * dimension
        let query = Array(vectors[start..<(start + dimension)])
        query.withUnsafeBufferPointer { q in
            var ep = entry
            var epSim = similarity(q, ep)
            if maxLevel > level { for l in stride(from: maxLevel, to: level, by: -1) { (ep, epSim) = greedy(q, from: ep, sim: epSim, level: l) } }
            var entries = [(epSim, ep)]
            for l in stride(from: min(level, maxLevel), through: 0, by: -1) {
                let candidates = searchLayer(q, entries: entries, ef: efConstruction, level: l)
                let chosen = diverse(candidates, keep: m)
                setLinks(node, level: l, chosen.map(\.1))
                for (_, other) in chosen { link(other, to: node, level: l) }
                entries = candidates
            }
        }
        if level > maxLevel {
            maxLevel = level
            entry = node
        }
    }

    /// The paper's heuristic: take candidates best first, keeping one only if it is closer to the query than to
    /// every one kept already (so links spread over directions).
    private func diverse(_ candidates: [(Float, Int32)], keep: Int) -> [(Float, Int32)] {
        var kept: [(Float, Int32)] = []
        for c in candidates {
            if kept.count >= keep { break }
            if kept.allSatisfy({ similarity(c.1, $0.1) < c.0 }) { kept.append(c) }
        }
        return kept
    }

    /// Adds `node` to `other`'s links on `level`; when that overflows, keeps the diverse best of them.
    private func link(_ other: Int32, to node: Int32, level: Int) {
        var current = links(other, level: level)
        let limit = level == 0 ? m0 : m
        if current.count < limit {
            current.append(node)
        } else {
            let candidates = (current + [node]).map { (similarity(other, $0), $0) }.sorted { $0.0 > $1.0 }
            current = diverse(candidates, keep: limit).map(\.1)
        }
        setLinks(other, level: level, current)
    }

    private func links(_ node: Int32, level: Int) -> [Int32] {
        if level == 0 {
            let base = Int(node) * m0
            return Array(links0[base..<(base + Int(counts0[Int(node)]))])
        }
        return upper[Int(node)][level - 1]
    }

    private func setLinks(_ node: Int32, level: Int, _ ids: [Int32]) {
        if level == 0 {
            let base = Int(node) * m0
            for (j, id) in ids.prefix(m0).enumerated() { links0[base + j] = id }
            counts0[Int(node)] = Int32(min(ids.count, m0))
        } else {
            upper[Int(node)][level - 1] = ids
        }
    }

    // MARK: Search

    private func greedy(_ q: UnsafeBufferPointer<Float>, from start: Int32, sim: Float, level: Int) -> (Int32, Float) {
        var best = start, bestSim = sim, changed = true
        while changed {
            changed = false
            for other in links(best, level: level) {
                let s = similarity(q, other)
                if s > bestSim { best = other; bestSim = s; changed = true }
            }
        }
        return (best, bestSim)
    }

    /// Best-first search of one layer from `entries`: up to `ef` nodes, best first.
    private func searchLayer(_ q: UnsafeBufferPointer<Float>, entries: [(Float, Int32)], ef: Int, level: Int) -> [(Float, Int32)] {
        generation &+= 1
        if generation == 0 {
            for i in visited.indices { visited[i] = 0 }
            generation = 1
        }
        var candidates = Heap(maxOnTop: true)  // to expand, best first
        var results = Heap(maxOnTop: false)    // kept, worst on top
        for e in entries {
            visited[Int(e.1)] = generation
            candidates.push(e)
            results.push(e)
            if results.count > ef { _ = results.pop() }
        }
        while let c = candidates.pop() {
            if results.count >= ef, let worst = results.top, c.0 < worst.0 { break }
            for other in links(c.1, level: level) where visited[Int(other)] != generation {
                visited[Int(other)] = generation
                let s = similarity(q, other)
                if results.count < ef || s > results.top!.0 {
                    candidates.push((s, other))
                    results.push((s, other))
                    if results.count > ef { _ = results.pop() }
                }
            }
        }
        return results.items.sorted { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
    }

    @inline(__always)
    private func similarity(_ q: UnsafeBufferPointer<Float>, _ node: Int32) -> Float {
        let d = dimension, base = Int(node) * d
        return vectors.withUnsafeBufferPointer { v in
            var s: Float = 0
            for j in 0..<d { s += q[j] * v[base + j] }
            return s
        }
    }

    private func similarity(_ a: Int32, _ b: Int32) -> Float {
        let d = dimension, base = Int(a) * d
        return vectors.withUnsafeBufferPointer { v in
            similarity(UnsafeBufferPointer(rebasing: v[base..<(base + d)]), b)
        }
    }
}

/// A binary heap of (similarity, node), best (maxOnTop) or worst on top.
struct Heap {
    let maxOnTop: Bool
    private(set) var items: [(Float, Int32)] = []
    var count: Int { items.count }
    var top: (Float, Int32)? { items.first }

    init(maxOnTop: Bool) { self.maxOnTop = maxOnTop }

    @inline(__always) private func above(_ a: (Float, Int32), _ b: (Float, Int32)) -> Bool { maxOnTop ? a.0 > b.0 : a.0 < b.0 }

    mutating func push(_ x: (Float, Int32)) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard above(items[i], items[p]) else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> (Float, Int32)? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return first }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < items.count, above(items[l], items[best]) { best = l }
            if r < items.count, above(items[r], items[best]) { best = r }
            guard best != i else { break }
            items.swapAt(i, best)
            i = best
        }
        return first
    }
}
