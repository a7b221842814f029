// Model work on a bounded pool: one serial queue runs the engine (libtorch modules and the HDF5 file are used
// from one thread at a time), and at most `queueLimit` requests wait for it. A burst beyond that is refused at
// once with 503 instead of piling up tensors in memory, and one that waited longer than `queueTimeout` for its turn
// is answered 503 `timeout` without running (its client has likely given up; the work behind it goes sooner).
//
// Dynamic micro-batching (what model servers do): requests of a `BatchLane` are not run one by one; when the queue
// reaches one, it takes every request of that lane waiting then (up to the lane's `maxBatch`, no added wait) and runs
// them as one batch, so B queries cost one padded encoder forward and one (B×E)·(E×N) product instead of B.
import Foundation

public final class InferencePool: @unchecked Sendable {
    public let queueLimit: Int
    public let queueTimeout: Duration
    let queue = DispatchQueue(label: "fashionvl.search.inference")
    private let lock = NSLock()
    private var pending = 0

    /// `queueLimit`: requests running or waiting (at least 1); `queueTimeout`: the longest wait before running.
    public init(queueLimit: Int, queueTimeout: Duration = .seconds(10)) {
        self.queueLimit = max(1, queueLimit)
        self.queueTimeout = queueTimeout
    }

    /// Requests running or waiting now.
    public var inFlight: Int {
        lock.lock(); defer { lock.unlock() }
        return pending
    }

    /// Takes a place in the queue, if one is free.
    private func reserve() throws {
        lock.lock(); defer { lock.unlock() }
        guard pending < queueLimit else {
            throw SearchRequestError(503, "busy", "\(queueLimit) requests are already queued for the model; retry later")
        }
        pending += 1
    }

    fileprivate func release(_ n: Int = 1) {
        lock.lock(); defer { lock.unlock() }
        pending -= n
    }

    fileprivate func timedOut(since queued: ContinuousClock.Instant) -> SearchRequestError? {
        let waited = ContinuousClock.now - queued
        guard waited > queueTimeout else { return nil }
        return SearchRequestError(503, "timeout", "the request waited \(waited) for the model (limit \(queueTimeout)); retry later")
    }

    /// Runs `work` on the pool's queue, or throws 503 `busy` when `queueLimit` requests are already there.
    public func run<T>(_ work: @escaping () throws -> T) async throws -> T {
        try reserve()
        let queued = ContinuousClock.now
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                let result: Result<T, Error> = self.timedOut(since: queued).map { .failure($0) } ?? Result { try work() }
                self.release()
                continuation.resume(with: result)
            }
        }
    }

    /// Runs `input` in the next batch of `lane` on the pool's queue (503 `busy` / `timeout` as `run`).
    public func run<Input, Output>(_ input: Input, in lane: BatchLane<Input, Output>) async throws -> Output {
        try reserve()
        return try await withCheckedThrowingContinuation { continuation in
            lane.enqueue(input, continuation)
            queue.async { lane.drain(self) }
        }
    }
}

/// One kind of batchable work: `process` maps a batch of inputs to one result each, in order (a bad input fails
/// alone). Every request enqueued schedules one drain, so no request waits for a batch that is never run; a drain
/// that finds the lane empty (its requests went in an earlier batch) returns at once.
public final class BatchLane<Input, Output>: @unchecked Sendable {
    public let maxBatch: Int
    private let process: ([Input]) -> [Result<Output, Error>]
    private let lock = NSLock()
    private var waiting: [(input: Input, queued: ContinuousClock.Instant, continuation: CheckedContinuation<Output, Error>)] = []
    private var sizes: [Int: Int] = [:]

    public init(maxBatch: Int, process: @escaping ([Input]) -> [Result<Output, Error>]) {
        self.maxBatch = max(1, maxBatch)
        self.process = process
    }

    /// Requests enqueued and not yet taken into a batch.
    public var waitingCount: Int {
        lock.lock(); defer { lock.unlock() }
        return waiting.count
    }

    /// How many batches of each size ran (sizes counting requests that were not timed out).
    public var batchSizes: [Int: Int] {
        lock.lock(); defer { lock.unlock() }
        return sizes
    }

    public func resetBatchSizes() {
        lock.lock(); defer { lock.unlock() }
        sizes = [:]
    }

    fileprivate func enqueue(_ input: Input, _ continuation: CheckedContinuation<Output, Error>) {
        lock.lock(); defer { lock.unlock() }
        waiting.append((input, ContinuousClock.now, continuation))
    }

    /// On the pool's queue: the oldest `maxBatch` waiting requests, those past the queue timeout answered 503, the
    /// rest run as one batch.
    fileprivate func drain(_ pool: InferencePool) {
        lock.lock()
        let taken = Array(waiting.prefix(maxBatch))
        waiting.removeFirst(taken.count)
        lock.unlock()
        guard !taken.isEmpty else { return }
        var live: [Int] = []
        var results = [Result<Output, Error>?](repeating: nil, count: taken.count)
        for (i, t) in taken.enumerated() {
            if let e = pool.timedOut(since: t.queued) { results[i] = .failure(e) } else { live.append(i) }
        }
        if !live.isEmpty {
            var out = process(live.map { taken[$0].input })
            if out.count != live.count {
                out = Array(repeating: .failure(SearchRequestError(500, "internal", "a batch gave \(out.count) results for \(live.count) requests")), count: live.count)
            }
            for (j, i) in live.enumerated() { results[i] = out[j] }
            lock.lock()
            sizes[live.count, default: 0] += 1
            lock.unlock()
        }
        pool.release(taken.count)
        for (i, t) in taken.enumerated() { t.continuation.resume(with: results[i]!) }
    }
}
