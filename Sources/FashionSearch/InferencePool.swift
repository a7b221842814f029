// Model work on a bounded pool: one serial queue runs the engine (libtorch modules and the HDF5 file are used
// from one thread at a time), and at most `queueLimit` requests wait for it. A burst beyond that is refused at
// once with 503 instead of piling up tensors in memory, and one that waited longer than `queueTimeout` for its turn
// is answered 503 `timeout` without running (its client has likely given up; the work behind it goes sooner).
import Foundation

public final class InferencePool: @unchecked Sendable {
    public let queueLimit: Int
    public let queueTimeout: Duration
    private let queue = DispatchQueue(label: "fashionvl.search.inference")
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
    private func reserve() -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard pending < queueLimit else { return false }
        pending += 1
        return true
    }

    private func release() {
        lock.lock(); defer { lock.unlock() }
        pending -= 1
    }

    /// Runs `work` on the pool's queue, or throws 503 `busy` when `queueLimit` requests are already there.
    public func run<T>(_ work: @escaping () throws -> T) async throws -> T {
        guard reserve() else {
            throw SearchRequestError(503, "busy", "\(queueLimit) requests are already queued for the model; retry later")
        }
        let queued = ContinuousClock.now, timeout = queueTimeout
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                let waited = ContinuousClock.now - queued
                let result: Result<T, Error> = waited > timeout
                    ? .failure(SearchRequestError(503, "timeout", "the request waited \(waited) for the model (limit \(timeout)); retry later"))
                    : Result { try work() }
                self.release()
                continuation.resume(with: result)
            }
        }
    }
}
