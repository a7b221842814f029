// One epoch of a `FashionGenLoader`, prefetched: `threads` background threads assemble batches
// (worker w takes batches w, w + threads, …) at most `prefetch` ahead of the consumer, and `next()` hands them
// out in index order, so the sequence is the same whatever the thread count or timing.
import Foundation

public final class LoaderEpoch {
    public let epoch: Int
    public let count: Int
    private let state: State

    /// `order`: the rows to visit, batched consecutively (nil = the loader's seeded shuffle for `epoch`).
    init(loader: FashionGenLoader, epoch: Int, start: Int = 0, order: [Int]? = nil) {
        self.epoch = epoch
        let order = order ?? loader.order(epoch: epoch)
        count = loader.batchesPerEpoch(rows: order.count)
        let threads = max(1, min(loader.config.threads, count))
        let state = State(window: max(loader.config.prefetch, threads), start: start)
        self.state = state
        for w in 0..<threads {
            let thread = Thread { [count] in
                for index in stride(from: start + w, to: count, by: threads) {
                    guard state.waitForRoom(index) else { return }
                    let result = Result { try loader.batch(epoch: epoch, index: index, order: order) }
                    state.put(index, result)
                }
            }
            thread.name = "fashionvl.loader.\(w)"
            thread.start()
        }
    }

    deinit { state.cancel() }

    /// The next batch in order, nil after the last; rethrows a read error of that batch.
    public func next() throws -> HostBatch? {
        guard let result = state.take(count: count) else { return nil }
        return try result.get()
    }

    private final class State: @unchecked Sendable {
        private let condition = NSCondition()
        private var ready: [Int: Result<HostBatch, Error>] = [:]
        private var nextIndex = 0
        private var cancelled = false
        private let window: Int

        init(window: Int, start: Int) {
            self.window = window
            nextIndex = start
        }

        /// Blocks until batch `index` is within the prefetch window; false once cancelled.
        func waitForRoom(_ index: Int) -> Bool {
            condition.lock()
            defer { condition.unlock() }
            while !cancelled && index >= nextIndex + window { condition.wait() }
            return !cancelled
        }

        func put(_ index: Int, _ result: Result<HostBatch, Error>) {
            condition.lock()
            ready[index] = result
            condition.broadcast()
            condition.unlock()
        }

        func take(count: Int) -> Result<HostBatch, Error>? {
            condition.lock()
            defer { condition.unlock() }
            guard nextIndex < count else { return nil }
            while ready[nextIndex] == nil { condition.wait() }
            let result = ready.removeValue(forKey: nextIndex)
            nextIndex += 1
            condition.broadcast()
            return result
        }

        func cancel() {
            condition.lock()
            cancelled = true
            condition.broadcast()
            condition.unlock()
        }
    }
}
