// Dynamic micro-batching: the pool runs every waiting request of a lane as one batch, and a batch of queries gets
// what each query gets alone (the same ids in the same order, scores to fp32 round-off), bad queries failing alone.
import FashionSearch
import Foundation
import XCTest

final class SearchBatchTests: XCTestCase {
    private func assertSame(_ batch: [Result<[SearchHit], Error>], _ alone: [Result<[SearchHit], Error>],
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(batch.count, alone.count, file: file, line: line)
        for (i, (b, a)) in zip(batch, alone).enumerated() {
            switch (b, a) {
            case let (.success(x), .success(y)):
                XCTAssertFalse(x.isEmpty, "query \(i) found nothing", file: file, line: line)
                // Same products in the same order; scores equal up to fp32 round-off (BLAS may sum a (B×E)·(E×N)
                // product in another order for another B).
                XCTAssertEqual(x.map(\.id), y.map(\.id), "query \(i): the batch's results differ from the query's own", file: file, line: line)
                for (h, g) in zip(x, y) {
                    XCTAssertEqual(h.score, g.score, accuracy: 1e-5, "query \(i), id \(h.id)", file: file, line: line)
                    XCTAssertEqual(h.itcScore, g.itcScore, accuracy: 1e-5, "query \(i), id \(h.id)", file: file, line: line)
                    XCTAssertEqual(h.itmScore ?? -9, g.itmScore ?? -9, accuracy: 1e-5, "query \(i), id \(h.id)", file: file, line: line)
                    XCTAssertEqual(h.itmScore == nil, g.itmScore == nil, "query \(i), id \(h.id)", file: file, line: line)
                }
            case let (.failure(x), .failure(y)):
                XCTAssertEqual(x as? SearchRequestError, y as? SearchRequestError, "query \(i)", file: file, line: line)
            default:
                XCTFail("query \(i): batch \(b) but alone \(a)", file: file, line: line)
            }
        }
    }

    func testTextBatchGivesEachQueryItsOwnResultsExactly() throws {
        let engine = try SearchFixture.get().engine
        let titles = (0..<6).map { engine.catalog.titles[$0 * 3] }
        var requests = titles.enumerated().map { TextSearch(query: $1, k: 3 + $0 % 3) }
        requests[1].rerank = 5
        requests[4].rerank = 4
        requests.insert(TextSearch(query: "   ", k: 5), at: 2)
        requests.append(TextSearch(query: "black dress", k: 0))
        requests.append(TextSearch(query: "red leather jacket", k: 10, rerank: 8))
        let alone = requests.map { engine.searchTexts([$0])[0] }
        let batch = engine.searchTexts(requests)
        assertSame(batch, alone)
        XCTAssertEqual((try? batch[2].get()) == nil, true, "the empty query fails alone")
        XCTAssertEqual(try batch[1].get().first?.itmScore != nil, true, "re-ranked in the batch")
        XCTAssertEqual(try batch[0].get().count, 3)
        // The batch order does not matter either.
        assertSame(Array(engine.searchTexts(requests.reversed()).reversed()), alone)
    }

    func testImageBatchGivesEachQueryItsOwnResultsExactly() throws {
        let engine = try SearchFixture.get().engine
        let ids = Array(engine.catalog.rowsOfProduct.keys.sorted().prefix(4))
        var requests = try ids.map { ImageSearch(bytes: try engine.png($0), k: 4) }
        requests[1].target = .text
        requests[3].target = .text
        requests[3].rerank = 5
        requests.append(ImageSearch(bytes: Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]), k: 4))
        requests.append(ImageSearch(bytes: try engine.png(ids[0]), k: 3, target: .image, rerank: 3))
        let alone = requests.map { engine.searchImages([$0])[0] }
        let batch = engine.searchImages(requests)
        assertSame(batch, alone)
        XCTAssertEqual((batch[4].failure as? SearchRequestError)?.code, "undecodable_image")
        XCTAssertEqual((batch[5].failure as? SearchRequestError)?.code, "rerank_unavailable")
        XCTAssertNotNil(try batch[3].get().first?.itmScore)
        XCTAssertEqual(try batch[0].get().first?.id, ids[0], "an image finds its own product first")
    }

    func testPoolRunsEveryWaitingRequestOfALaneAsOneBatch() async throws {
        let pool = InferencePool(queueLimit: 16)
        let lane = BatchLane<Int, Int>(maxBatch: 4) { batch in batch.map { $0 < 0 ? .failure(SearchRequestError(400, "negative", "")) : .success($0 * 10) } }
        let gate = DispatchSemaphore(value: 0)
        async let blocker: Void = pool.run { gate.wait() }
        while pool.inFlight < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let inputs = [1, 2, -3, 4, 5, 6]
        let tasks = inputs.map { i in Task { try await pool.run(i, in: lane) } }
        while lane.waitingCount < inputs.count { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(pool.inFlight, 7, "batched requests hold places in the queue")
        gate.signal()
        try await blocker
        var answers: [Int] = []
        for (i, t) in tasks.enumerated() {
            do { answers.append(try await t.value) } catch let e as SearchRequestError {
                XCTAssertEqual(inputs[i], -3)
                XCTAssertEqual(e.code, "negative")
            }
        }
        XCTAssertEqual(answers, [10, 20, 40, 50, 60])
        XCTAssertEqual(lane.batchSizes, [4: 1, 2: 1], "the oldest 4, then the other 2; the later drains found nothing")
        XCTAssertEqual(pool.inFlight, 0)
    }

    func testLaneRequestsCountTowardsTheQueueLimit() async throws {
        let pool = InferencePool(queueLimit: 3)
        let lane = BatchLane<Int, Int>(maxBatch: 8) { $0.map { .success($0) } }
        let gate = DispatchSemaphore(value: 0)
        async let blocker: Void = pool.run { gate.wait() }
        while pool.inFlight < 1 { try await Task.sleep(for: .milliseconds(5)) }
        async let a = pool.run(1, in: lane)
        async let b = pool.run(2, in: lane)
        while pool.inFlight < 3 { try await Task.sleep(for: .milliseconds(5)) }
        do {
            _ = try await pool.run(3, in: lane)
            XCTFail("a fourth request must be refused")
        } catch let e as SearchRequestError {
            XCTAssertEqual(e.status, 503)
            XCTAssertEqual(e.code, "busy")
        }
        gate.signal()
        try await blocker
        let (x, y) = try await (a, b)
        XCTAssertEqual([x, y], [1, 2])
        let again = try await pool.run(4, in: lane)
        XCTAssertEqual(again, 4, "serving again once the queue drains")
    }
}

private extension Result {
    var failure: Failure? {
        if case let .failure(e) = self { return e }
        return nil
    }
}
