// Float arrays given back by the consumer (`FashionGenLoader.recycle`) for the next batches, so a batch's tens
// of megabytes are reused instead of being mapped and paged in afresh (which costs as much as filling them).
import Foundation

final class FloatArrayPool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [[Float]] = []
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// An array of `count` floats with unspecified contents: callers overwrite every element.
    func take(count: Int) -> [Float] {
        lock.lock()
        if let i = free.firstIndex(where: { $0.count == count }) {
            let array = free.remove(at: i)
            lock.unlock()
            return array
        }
        lock.unlock()
        return [Float](unsafeUninitializedCapacity: count) { _, n in n = count }
    }

    func give(_ array: consuming [Float]) {
        lock.lock()
        defer { lock.unlock() }
        if free.count < limit { free.append(array) }
    }
}
