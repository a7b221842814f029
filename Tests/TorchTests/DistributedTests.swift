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

    /// SyncBatchNorm: two ranks with two samples each give the outputs, input gradients, summed weight and bias
    /// gradients and running statistics of one plain BatchNorm on all four samples (fp32 round-off); the
    /// differentiable all-reduce's backward carries the other rank's share of the statistics' gradient.
    func testSyncBatchNormOnTwoRanksEqualsBatchNormOnTheWholeBatch() throws {
        Torch.manualSeed(11)
        let x = try (Tensor.randn([4, 3, 5, 6]) * 2 + 0.5).toArray(Float.self)
        let gy = try Tensor.randn([4, 3, 5, 6]).toArray(Float.self)
        let w: [Float] = [1.5, 0.5, -1], b: [Float] = [0.1, -0.2, 0.3]
        // Runs BatchNorm2d on `rows` of x (synchronized over `group` when given): y, dx, dweight, dbias,
        // running mean, running var.
        @Sendable func run(rows: Range<Int>, group: ProcessGroup?) throws -> [Tensor] {
            let bn = try BatchNorm2d(3)
            try Torch.noGrad {
                try bn.weight.copy_(Tensor(w, shape: [3]))
                try bn.bias.copy_(Tensor(b, shape: [3]))
            }
            bn.syncBatchNorm(over: group)
            let per = 3 * 5 * 6
            let slice = Array(x[rows.lowerBound * per..<rows.upperBound * per])
            let input = try Tensor(slice, shape: [rows.count, 3, 5, 6]).requiresGrad(true)
            let y = try bn(input)
            try (y * Tensor(Array(gy[rows.lowerBound * per..<rows.upperBound * per]), shape: [rows.count, 3, 5, 6])).sum().backward()
            return try [y.detach(), XCTUnwrap(input.grad), try XCTUnwrap(bn.weight.grad), try XCTUnwrap(bn.bias.grad),
                    bn.running_mean.value, bn.running_var.value]
        }
        let whole = try run(rows: 0..<4, group: nil)
        let results = try twoRanks { rank, g -> [[Float]] in
            try run(rows: rank * 2..<rank * 2 + 2, group: g).map { try $0.toArray(Float.self) }
        }
        let r0 = try results[0].get(), r1 = try results[1].get()
        func t(_ v: [Float], _ shape: [Int]) throws -> Tensor { try Tensor(v, shape: shape) }
        try assertClose(Tensor.cat([t(r0[0], [2, 3, 5, 6]), t(r1[0], [2, 3, 5, 6])]), whole[0], "output")
        try assertClose(Tensor.cat([t(r0[1], [2, 3, 5, 6]), t(r1[1], [2, 3, 5, 6])]), whole[1], "input gradient")
        try assertClose(t(r0[2], [3]) + t(r1[2], [3]), whole[2], atol: 1e-4, "weight gradient (summed over ranks)")
        try assertClose(t(r0[3], [3]) + t(r1[3], [3]), whole[3], atol: 1e-4, "bias gradient (summed over ranks)")
        for (r, res) in [r0, r1].enumerated() {
            try assertClose(t(res[4], [3]), whole[4], "running mean, rank \(r)")
            try assertClose(t(res[5], [3]), whole[5], "running var, rank \(r)")
        }
        // The other rank's share matters: without synchronisation the input gradient is not the whole batch's.
        let alone = try run(rows: 0..<2, group: nil)
        let gap = try (alone[1] - whole[1].narrow(dim: 0, start: 0, length: 2)).abs().max().item()
        XCTAssertGreaterThan(gap, 1e-3)
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
