// An open-loop, constant-rate load generator on loopback: request i is due at start + i / rate whatever happened to
// the ones before it, and its latency is counted from that due time (so a stalled server shows as latency, not as
// a politely slower client: no coordinated omission). `connections` keep-alive connections, one thread each, bound
// what is in flight; a request that finds them all busy starts late and its lateness is in its latency.
import Foundation

public struct LoadRequest: Sendable {
    public var method: String
    public var path: String
    public var headers: [String: String]
    public var body: Data

    public init(_ method: String, _ path: String, headers: [String: String] = [:], body: Data = Data()) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }
}

public struct LoadResult: Sendable {
    /// Per answered request, from its due time to the end of its response, ms.
    public var latenciesMs: [Double] = []
    public var statuses: [Int: Int] = [:]
    /// Requests that got no response (connection refused or closed, read timeout), by reason.
    public var failures: [String: Int] = [:]
    public var seconds: Double = 0

    public var sent: Int { latenciesMs.count + failures.values.reduce(0, +) }
    /// Answered with something else than 200, or not answered.
    public var errors: Int { failures.values.reduce(0, +) + statuses.filter { $0.key != 200 }.values.reduce(0, +) }

    /// The q-quantile (0...1) of the latencies, nearest rank.
    public func percentile(_ q: Double) -> Double {
        guard !latenciesMs.isEmpty else { return 0 }
        let sorted = latenciesMs.sorted()
        return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
    }
}

public enum LoadTest {
    /// `rate` requests a second for `seconds` to 127.0.0.1:`port`, request i being `make(i)`.
    public static func run(port: Int, rate: Double, seconds: Double, connections: Int, timeout: Double = 30,
                           make: @escaping @Sendable (Int) -> LoadRequest) -> LoadResult {
        let total = Int(rate * seconds)
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var next = 0
            var result = LoadResult()
        }
        let shared = Shared(), lock = shared.lock
        shared.result.latenciesMs.reserveCapacity(total)
        let start = DispatchTime.now().uptimeNanoseconds + 100_000_000
        let group = DispatchGroup()
        for _ in 0..<max(1, connections) {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                var connection: LoopbackConnection?
                while true {
                    lock.lock()
                    let i = shared.next
                    shared.next += 1
                    lock.unlock()
                    guard i < total else { break }
                    let due = start + UInt64(Double(i) / rate * 1e9)
                    let now = DispatchTime.now().uptimeNanoseconds
                    if due > now { usleep(UInt32((due - now) / 1000)) }
                    let request = make(i)
                    do {
                        if connection == nil { connection = try LoopbackConnection(port: port, timeout: timeout) }
                        let response = try connection!.request(request.method, request.path, headers: request.headers, body: request.body)
                        let ms = Double(DispatchTime.now().uptimeNanoseconds - due) / 1e6
                        lock.lock()
                        shared.result.latenciesMs.append(ms)
                        shared.result.statuses[response.status, default: 0] += 1
                        lock.unlock()
                        if response.headers["connection"] == "close" { connection = nil }
                    } catch {
                        connection = nil
                        lock.lock()
                        shared.result.failures["\(error)", default: 0] += 1
                        lock.unlock()
                    }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        var result = shared.result
        result.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return result
    }

    /// Resident memory of this process, bytes (Linux /proc/self/status VmRSS).
    public static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kb * 1024
    }
}
