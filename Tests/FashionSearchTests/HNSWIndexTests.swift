// The HNSW index on small random data: exact at a candidate list as large as the data, deterministic from its
// seed, a high recall at a modest candidate list, and the exact index's answers for a space without a graph.
import FashionSearch
import Foundation
import Torch
import XCTest

final class HNSWIndexTests: XCTestCase {
    private func randomIndex(n: Int, e: Int, seed: UInt64) throws -> ExactIndex {
        let g = try Generator(seed: seed)
        func unit() throws -> Tensor {
            let x = try Tensor.randn([n, e], generator: g)
            return try x / x.norm(p: 2, dims: [-1], keepdim: true)
        }
        return try ExactIndex(images: unit(), texts: unit(), rows: Array(0..<n))
    }

    private func queries(_ q: Int, _ e: Int) throws -> Tensor {
        let x = try Tensor.randn([q, e], generator: try Generator(seed: 99))
        return try x / x.norm(p: 2, dims: [-1], keepdim: true)
    }

    func testExactAtFullCandidateListAndTextFallsBackToExact() throws {
        let exact = try randomIndex(n: 200, e: 12, seed: 5)
        let hnsw = try HNSWIndex(exact: exact, spaces: [.image], parameters: HNSWParameters(m: 6, efConstruction: 40, efSearch: 200, seed: 3))
        let q = try queries(15, 12)
        for space in [EmbeddingSpace.image, .text] {
            let truth = try exact.nearest(q, in: space, k: 10), found = try hnsw.nearest(q, in: space, k: 10)
            XCTAssertEqual(found.map { $0.map(\.slot) }, truth.map { $0.map(\.slot) }, "\(space)")
            for (f, t) in zip(found.joined(), truth.joined()) { XCTAssertEqual(f.score, t.score, accuracy: 1e-5) }
        }
        XCTAssertEqual(try hnsw.nearest(q, in: .image, k: 500).first?.count, 200, "k past the rows gives every row")
        XCTAssertThrowsError(try hnsw.nearest(try Tensor([Float](repeating: 0, count: 3), shape: [1, 3]), in: .image, k: 2))
        XCTAssertNil(hnsw.baseLayerLinks(in: .text))
        // Every node is linked (layer 0 is connected enough to reach it: ef = n found all 200 above).
        XCTAssertTrue(try XCTUnwrap(hnsw.baseLayerLinks(in: .image)).allSatisfy { !$0.isEmpty })
    }

    func testBuildIsDeterministicForASeed() throws {
        let exact = try randomIndex(n: 300, e: 8, seed: 7)
        let p = HNSWParameters(m: 4, efConstruction: 20, efSearch: 8, seed: 11)
        let a = try HNSWIndex(exact: exact, spaces: [.image], parameters: p)
        let b = try HNSWIndex(exact: exact, spaces: [.image], parameters: p)
        XCTAssertEqual(a.baseLayerLinks(in: .image), b.baseLayerLinks(in: .image))
        let q = try queries(20, 8)
        XCTAssertEqual(try a.nearest(q, in: .image, k: 5).map { $0.map(\.slot) }, try b.nearest(q, in: .image, k: 5).map { $0.map(\.slot) })
        var other = p
        other.seed = 12
        let c = try HNSWIndex(exact: exact, spaces: [.image], parameters: other)
        XCTAssertNotEqual(a.baseLayerLinks(in: .image), c.baseLayerLinks(in: .image), "another seed draws other layers")
        for node in try XCTUnwrap(a.baseLayerLinks(in: .image)) {
            XCTAssertLessThanOrEqual(node.count, 2 * p.m, "at most 2M links on layer 0")
            XCTAssertEqual(Set(node).count, node.count, "no repeated link")
        }
    }

    func testRecallAtAModestCandidateList() throws {
        let exact = try randomIndex(n: 600, e: 8, seed: 21)
        let hnsw = try HNSWIndex(exact: exact, spaces: [.image], parameters: HNSWParameters(m: 8, efConstruction: 40, efSearch: 32, seed: 1))
        let q = try queries(50, 8)
        let truth = try exact.nearest(q, in: .image, k: 10), found = try hnsw.nearest(q, in: .image, k: 10)
        let hits = zip(truth, found).map { Set($0.map(\.slot)).intersection($1.map(\.slot)).count }.reduce(0, +)
        let recall = Double(hits) / 500
        XCTAssertGreaterThanOrEqual(recall, 0.9, "recall@10 \(recall)")
        XCTAssertNotNil(hnsw.buildSeconds[.image])
        XCTAssertNil(hnsw.buildSeconds[.text])
    }

    func testReplicatedIndexRepeatsTheCatalogWithNoise() throws {
        let exact = try randomIndex(n: 10, e: 6, seed: 2)
        let big = try exact.replicated(times: 3, noise: 0.05, seed: 4)
        XCTAssertEqual(big.count, 30)
        XCTAssertEqual(big.rows, (0..<30).map { $0 % 10 })
        let a = try big.images.toArray(Float.self), base = try exact.images.toArray(Float.self)
        XCTAssertEqual(Array(a.prefix(60)), base, "the first copy is the index itself")
        for r in 10..<30 {
            let row = Array(a[(r * 6)..<(r * 6 + 6)]), original = Array(base[((r % 10) * 6)..<((r % 10) * 6 + 6)])
            XCTAssertEqual(row.map { $0 * $0 }.reduce(0, +), 1, accuracy: 1e-5, "re-normalised")
            let cosine = zip(row, original).map(*).reduce(0, +)
            XCTAssertLessThan(cosine, 1 - 1e-6, "moved")
            XCTAssertGreaterThan(cosine, 0.9, "near its original")
        }
        XCTAssertEqual(try exact.replicated(times: 3, noise: 0.05, seed: 4).images.toArray(Float.self), a, "deterministic for a seed")
    }
}
