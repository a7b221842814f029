// The exact index against brute force, the index file's checks against the checkpoint and catalog, and the
// bounded inference pool.
import FashionEval
import FashionSearch
import Foundation
import Torch
import XCTest

final class SearchIndexTests: XCTestCase {
    func testExactIndexEqualsBruteForce() throws {
        let n = 50, e = 8
        var rng = SystemRandomNumberGenerator()
        func unit() -> [Float] {
            let v = (0..<e).map { _ in Float.random(in: -1...1, using: &rng) }
            let norm = v.map { $0 * $0 }.reduce(0, +).squareRoot()
            return v.map { $0 / norm }
        }
        let images = (0..<n).map { _ in unit() }, texts = (0..<n).map { _ in unit() }
        let index = try ExactIndex(images: Tensor(Array(images.joined()), shape: [n, e]), texts: Tensor(Array(texts.joined()), shape: [n, e]),
                                   rows: Array(0..<n))
        let queries = (0..<3).map { _ in unit() }
        for space in [EmbeddingSpace.image, .text] {
            let hits = try index.nearest(Tensor(Array(queries.joined()), shape: [3, e]), in: space, k: 7)
            for (q, got) in zip(queries, hits) {
                let table = space == .image ? images : texts
                let brute = table.enumerated().map { ($0.offset, zip(q, $0.element).map(*).reduce(0, +)) }.sorted { $0.1 > $1.1 }
                XCTAssertEqual(got.map(\.slot), brute.prefix(7).map(\.0))
                for (h, b) in zip(got, brute) { XCTAssertEqual(h.score, b.1, accuracy: 1e-5) }
            }
        }
        XCTAssertEqual(try index.nearest(Tensor([Float](repeating: 0, count: e), shape: [1, e]), in: .image, k: 500).first?.count, n)
        XCTAssertThrowsError(try index.nearest(Tensor([Float](repeating: 0, count: 3), shape: [1, 3]), in: .image, k: 2))
        XCTAssertThrowsError(try ExactIndex(images: Tensor([Float](repeating: 0, count: 8), shape: [1, 8]),
                                            texts: Tensor([Float](repeating: 0, count: 8), shape: [1, 8]), rows: [0, 1]))
    }

    func testIndexFileIsCheckedAgainstCheckpointAndCatalog() throws {
        let made = try SearchFixture.get()
        // Reloading the written file works and gives the same embeddings the engine searched.
        let again = try IndexFile.load(made.indexPath, model: made.model, catalog: made.catalog, textField: .description)
        XCTAssertEqual(again.count, made.catalog.rowCount)
        // Another catalog: the row count (or the product ids) differ.
        let other = try Catalog(path: made.dir.appendingPathComponent("data/validation.h5").path)
        XCTAssertThrowsError(try IndexFile.load(made.indexPath, model: made.model, catalog: other, textField: .description)) { e in
            guard case let .mismatch(_, field, _, _) = e as? SearchIndexError else { return XCTFail("\(e)") }
            XCTAssertTrue(field == "row count" || field.hasPrefix("product_ids"), field)
        }
        // Another text field than the one embedded.
        XCTAssertThrowsError(try IndexFile.load(made.indexPath, model: made.model, catalog: made.catalog, textField: .title)) { e in
            XCTAssertEqual((e as? SearchIndexError).map { if case let .mismatch(_, f, _, _) = $0 { return f } else { return "" } }, "text_field")
        }
        // Other weights: a copy of the index whose metadata names another SHA-256.
        let (tensors, meta) = try SafeTensors.load(made.indexPath)
        var changed = meta
        changed["weights_sha256"] = String(repeating: "0", count: 64)
        let stale = made.dir.appendingPathComponent("stale.safetensors").path
        try SafeTensors.save(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, to: stale, metadata: changed)
        XCTAssertThrowsError(try IndexFile.load(stale, model: made.model, catalog: made.catalog, textField: .description)) { e in
            XCTAssertTrue("\(e)".contains("weights_sha256"), "\(e)")
            XCTAssertTrue("\(e)".contains(stale), "\(e)")
        }
    }

    func testPoolRefusesBeyondItsQueueLimit() async throws {
        let pool = InferencePool(queueLimit: 2)
        let gate = DispatchSemaphore(value: 0)
        async let first: Int = pool.run { gate.wait(); return 1 }
        async let second: Int = pool.run { 2 }
        while pool.inFlight < 2 { try await Task.sleep(for: .milliseconds(5)) }
        do {
            _ = try await pool.run { 3 }
            XCTFail("a third request must be refused")
        } catch let e as SearchRequestError {
            XCTAssertEqual(e.status, 503)
            XCTAssertEqual(e.code, "busy")
        }
        gate.signal()
        let (a, b) = try await (first, second)
        XCTAssertEqual([a, b], [1, 2])
        let again = try await pool.run { 4 }
        XCTAssertEqual(again, 4, "serving again once the queue drains")
    }
}
