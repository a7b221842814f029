// What `fashionvl bench search` measures besides the load itself: an approximate index's recall@k against exact
// search and both indexes' per-query latency, the machine it ran on, and a background sampler of resident memory
// and load average during a run.
import Foundation
import Torch

public enum SearchBenchSupport {
    /// Mean over the (Q, E) `queries` of |approx top k ∩ exact top k| / k, with per-query ms of both, searched
    /// one query at a time as the service does.
    public static func recall(exact: ExactIndex, approx: any SearchIndex, queries: Tensor, in space: EmbeddingSpace, k: Int) throws
        -> (recall: Double, exactMs: [Double], approxMs: [Double])
    {
        var hits = 0, exactMs: [Double] = [], approxMs: [Double] = []
        for i in 0..<queries.shape[0] {
            let q = try queries.narrow(dim: 0, start: i, length: 1)
            var truth: [IndexHit] = [], found: [IndexHit] = []
            exactMs.append(try milliseconds { truth = try exact.nearest(q, in: space, k: k)[0] })
            approxMs.append(try milliseconds { found = try approx.nearest(q, in: space, k: k)[0] })
            hits += Set(truth.map(\.slot)).intersection(found.map(\.slot)).count
        }
        return (Double(hits) / Double(max(1, queries.shape[0] * k)), exactMs, approxMs)
    }

    public static func milliseconds(_ body: () throws -> Void) rethrows -> Double {
        let t = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6
    }

    /// Cores, CPU model, memory and kernel of this machine.
    public static func machine() -> [String: Any] {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown"
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return ["cores": ProcessInfo.processInfo.activeProcessorCount, "cpu_model": model,
                "memory_gib": (Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30) * 10).rounded() / 10,
                "kernel": release, "hostname": ProcessInfo.processInfo.hostName]
    }

    public static func loadAverage() -> [Double] {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return [] }
        return text.split(separator: " ").prefix(3).compactMap { Double($0) }
    }

    public static func quantile(_ xs: [Double], _ q: Double) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s[min(s.count - 1, max(0, Int((q * Double(s.count)).rounded(.up)) - 1))]
    }
}

/// Samples resident memory (MiB) and the 1-minute load average once a second until stopped.
public final class ResourceSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var rss: [Double] = [], load: [Double] = []
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    public init() {
        let thread = Thread { [self] in
            while true {
                lock.lock()
                let go = running
                if go {
                    if let b = LoadTest.residentBytes() { rss.append(Double(b) / 1_048_576) }
                    if let l = SearchBenchSupport.loadAverage().first { load.append(l) }
                }
                lock.unlock()
                if !go { break }
                usleep(1_000_000)
            }
            done.signal()
        }
        thread.start()
    }

    /// Stops and returns the samples: rss_mib (first, max, last) and load_avg_1m (min, max, mean).
    public func stop() -> [String: Any] {
        lock.lock(); running = false; lock.unlock()
        done.wait()
        let r3 = { (x: Double) in (x * 10).rounded() / 10 }
        return ["rss_mib": ["first": r3(rss.first ?? 0), "max": r3(rss.max() ?? 0), "last": r3(rss.last ?? 0), "samples": rss.count],
                "load_avg_1m": ["min": load.min() ?? 0, "max": load.max() ?? 0,
                                "mean": r3(load.reduce(0, +) / Double(max(1, load.count)))]]
    }
}
