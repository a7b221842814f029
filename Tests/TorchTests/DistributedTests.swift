import Foundation
import Torch
import XCTest

/// `ProcessGroup` over c10d's Gloo with a FileStore: two ranks as two threads of this process.
final class DistributedTests: XCTestCase {
    /// Runs `body(rank, group)` for ranks 0 and 1 concurrently (each joins the group first); returns each rank's
    /// result or error.
    private func twoRanks<T>(timeout: Double = 30, _ body: @escaping @Sendable (Int, ProcessGroup) throws -> T) throws -> [Result<T, Error>] {
        guard ProcessGroup.available(.gloo) else { throw XCTSkip("libctorch built without Gloo") }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let results = ResultBox<T>(count: 2)
        let done = DispatchGroup()
        for r in 0..<2 {
            done.enter()
            Thread {
                results.set(r, Result { try body(r, ProcessGroup(rank: r, worldSize: 2, file: path, timeout: timeout)) })
                done.leave()
            }.start()
        }
        XCTAssertEqual(done.wait(timeout: .now() + timeout + 30), .success, "the ranks did not finish")
        return results.values
    }

    func testCollectivesGiveEveryRankTheSameValues() throws {
        let results = try twoRanks { rank, g -> [[Float]] in
            let r = Float(rank)
            let sum = try Tensor([1 + r, 10 * r], shape: [2])
            try g.allReduce([sum])
            let avg = try Tensor([1 + r, 10 * r], shape: [2])
            try g.allReduce([avg], op: .average)
            let mx = try Tensor([r, -r], shape: [2])
            try g.allReduce([mx], op: .max)
            let b = try Tensor([r + 5, r + 6], shape: [2])
            try g.broadcast([b], root: 1)
            let gathered = try g.allGather(Tensor([r, r, r], shape: [1, 3]))
            XCTAssertEqual(gathered.shape, [2, 3])
            try g.barrier()
            return try [sum, avg, mx, b, gathered].map { try $0.toArray(Float.self) }
        }
        let expected: [[Float]] = [[3, 10], [1.5, 5], [1, 0], [6, 7], [0, 0, 0, 1, 1, 1]]
        for r in 0..<2 { XCTAssertEqual(try results[r].get(), expected, "rank \(r)") }
    }

    func testAMissingRankIsARendezvousErrorWithinTheTimeout() throws {
        guard ProcessGroup.available(.gloo) else { throw XCTSkip("libctorch built without Gloo") }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let start = Date()
        XCTAssertThrowsError(try ProcessGroup(rank: 0, worldSize: 2, file: path, timeout: 2)) { error in
            guard case DistributedError.rendezvous(worldSize: 2, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("not all 2 ranks joined"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 60)
    }

    func testBadRankAndPortAreRefused() {
        XCTAssertThrowsError(try ProcessGroup(rank: 2, worldSize: 2, host: "127.0.0.1", port: 29_500)) { error in
            XCTAssertEqual(error as? DistributedError, .invalidArgument("rank 2 is not in 0..<2 (world size 2)"))
        }
        XCTAssertThrowsError(try ProcessGroup(rank: 0, worldSize: 2, host: "127.0.0.1", port: 70_000)) { error in
            XCTAssertEqual(error as? DistributedError, .invalidArgument("master port 70000 is not in 1...65535"))
        }
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<T, Error>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<T, Error>) { lock.lock(); slots[i] = r; lock.unlock() }
    var values: [Result<T, Error>] {
        lock.lock()
        defer { lock.unlock() }
        return slots.map { $0 ?? .failure(CancellationError()) }
    }
}
