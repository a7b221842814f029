import CTorch
import Foundation

/// What can go wrong in distributed training, each with a message that says what to do.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// This libctorch has no such backend (built without Gloo headers, or without NCCL).
    case unavailable(String)
    /// The master could not listen on its port.
    case portInUse(host: String, port: Int, detail: String)
    /// A rank could not connect to the master's store.
    case masterUnreachable(host: String, port: Int, seconds: Double, detail: String)
    /// Not every rank joined the process group in time.
    case rendezvous(worldSize: Int, seconds: Double, detail: String)
    /// A collective failed because these ranks stopped (killed, crashed or hung).
    case lostRanks([Int], operation: String, detail: String)
    /// A collective failed or timed out for another reason.
    case collective(operation: String, detail: String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .unavailable(m): return "distributed training unavailable: \(m)"
        case let .portInUse(host, port, detail):
            return "cannot listen on \(host):\(port) for the rendezvous: the port is in use (choose another --master port, or stop the process holding it) [\(detail)]"
        case let .masterUnreachable(host, port, seconds, detail):
            return "cannot reach the master at \(host):\(port) within \(Int(seconds)) s (is rank 0 running, and is the address reachable from this host?) [\(detail)]"
        case let .rendezvous(n, seconds, detail):
            return "not all \(n) ranks joined the process group within \(Int(seconds)) s (did every rank start, with the same --world-size and --master?) [\(detail)]"
        case let .lostRanks(ranks, op, detail):
            let who = ranks.map(String.init).joined(separator: ", ")
            return "lost rank\(ranks.count == 1 ? "" : "s") \(who) during \(op): \(ranks.count == 1 ? "it" : "they") stopped responding (killed, crashed or hung); stopping this rank too [\(detail)]"
        case let .collective(op, detail): return "distributed \(op) failed: \(detail)"
        case let .invalidArgument(m): return m
        }
    }
}

/// A c10d store handle (released on deinit).
final class DistStore: @unchecked Sendable {
    let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { ctorch_store_free(handle) }

    func set(_ key: String, _ value: [UInt8]) throws {
        try Tensor.check("store.set", ctorch_store_set(handle, key, value, Int64(value.count)))
    }

    /// The value of `key` (waits for it up to the store's timeout), at most `capacity` bytes.
    func get(_ key: String, capacity: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: capacity)
        var n: Int64 = 0
        try Tensor.check("store.get", ctorch_store_get(handle, key, &buffer, Int64(capacity), &n))
        return Array(buffer.prefix(Int(n)))
    }

    func add(_ key: String, _ delta: Int64) throws -> Int64 {
        var out: Int64 = 0
        try Tensor.check("store.add", ctorch_store_add(handle, key, delta, &out))
        return out
    }
}

/// A group of `worldSize` processes running collectives through libtorch's c10d (Gloo on CPU tensors, NCCL on CUDA
/// tensors). Rank 0 hosts the rendezvous store. Every collective waits at most `timeout` seconds; when one fails,
/// the group finds which ranks stopped (each rank bumps a heartbeat counter in the store every half second) and
/// throws `DistributedError.lostRanks` naming them.
public final class ProcessGroup: @unchecked Sendable {
    public enum Backend: String, Sendable { case gloo, nccl }
    public enum ReduceOp: Int32, Sendable { case sum = 0, average = 1, max = 2 }

    public let rank: Int
    public let worldSize: Int
    public let backend: Backend
    public let timeout: Double
    let store: DistStore
    let handle: OpaquePointer
    private let heartbeat: Heartbeat

    /// Whether this libctorch has the backend compiled in.
    public static func available(_ backend: Backend) -> Bool {
        ctorch_dist_backends() & (backend == .gloo ? 1 : 2) != 0
    }

    /// Joins the group through a TCPStore at `host:port` (rank 0 listens there, the others connect).
    /// `interface`: the network interface Gloo uses (e.g. "eth0"; default: GLOO_SOCKET_IFNAME, else the address of
    /// the host name, or loopback when the master is loopback).
    public convenience init(rank: Int, worldSize: Int, host: String, port: Int, backend: Backend = .gloo,
                            timeout: Double = 300, interface: String? = nil) throws {
        try ProcessGroup.check(rank: rank, worldSize: worldSize, backend: backend)
        guard (1...65535).contains(port) else { throw DistributedError.invalidArgument("master port \(port) is not in 1...65535") }
        var s: OpaquePointer?
        let status = ctorch_tcp_store_new(&s, host, Int32(port), Int32(worldSize), rank == 0 ? 1 : 0, Int64(timeout * 1000))
        if status != 0 || s == nil {
            let detail = Tensor.lastError()
            let lower = detail.lowercased()
            if rank == 0, lower.contains("in use") || lower.contains("failed to listen") || lower.contains("bind") {
                throw DistributedError.portInUse(host: host, port: port, detail: ProcessGroup.short(detail))
            }
            if rank != 0 { throw DistributedError.masterUnreachable(host: host, port: port, seconds: timeout, detail: ProcessGroup.short(detail)) }
            throw DistributedError.collective(operation: "store", detail: ProcessGroup.short(detail))
        }
        let store = DistStore(s!)
        // Rank 0 writes a known value that the others read back: something that accepts the connection but is no
        // c10d store (another service, a proxy) then fails here, within the timeout, as an unreachable master,
        // instead of as a rendezvous that never completes.
        let marker = Array("fashionvl-rendezvous".utf8)
        do {
            if rank == 0 {
                try store.set("fashionvl/master", marker)
            } else if try store.get("fashionvl/master", capacity: marker.count + 8) != marker {
                throw DistributedError.invalidArgument("an unexpected answer")
            }
        } catch {
            let detail = ProcessGroup.short("\(error)")
            if rank != 0 {
                throw DistributedError.masterUnreachable(host: host, port: port, seconds: timeout,
                                                         detail: "it accepts connections but does not answer as rank 0's rendezvous store: \(detail)")
            }
            throw DistributedError.collective(operation: "store", detail: detail)
        }
        let loopback = host == "localhost" || host.hasPrefix("127.") || host == "::1"
        let iface = interface ?? ProcessInfo.processInfo.environment["GLOO_SOCKET_IFNAME"]
        try self.init(store: store, rank: rank, worldSize: worldSize, backend: backend, timeout: timeout,
                      interface: iface, hostname: iface == nil && loopback ? "127.0.0.1" : nil)
    }

    /// Joins the group through a FileStore at `path` (one host, or a shared file system); the file must not hold
    /// a previous group's keys.
    public convenience init(rank: Int, worldSize: Int, file path: String, backend: Backend = .gloo, timeout: Double = 300) throws {
        try ProcessGroup.check(rank: rank, worldSize: worldSize, backend: backend)
        var s: OpaquePointer?
        try Tensor.check("FileStore", ctorch_file_store_new(&s, path, Int32(worldSize), Int64(timeout * 1000)))
        try self.init(store: DistStore(s!), rank: rank, worldSize: worldSize, backend: backend, timeout: timeout,
                      interface: nil, hostname: "127.0.0.1")
    }

    private init(store: DistStore, rank: Int, worldSize: Int, backend: Backend, timeout: Double, interface: String?,
                 hostname: String?) throws {
        var pg: OpaquePointer?
        let ms = Int64(timeout * 1000)
        let status = backend == .gloo
            ? ctorch_pg_gloo_new(&pg, store.handle, Int32(rank), Int32(worldSize), interface ?? "", hostname ?? "", ms)
            : ctorch_pg_nccl_new(&pg, store.handle, Int32(rank), Int32(worldSize), ms)
        guard status == 0, let pg else {
            throw DistributedError.rendezvous(worldSize: worldSize, seconds: timeout, detail: ProcessGroup.short(Tensor.lastError()))
        }
        (self.rank, self.worldSize, self.backend, self.timeout) = (rank, worldSize, backend, timeout)
        self.store = store
        handle = pg
        heartbeat = Heartbeat(store: store, rank: rank)
    }

    deinit {
        heartbeat.stop()
        ctorch_pg_free(handle)
    }

    static func check(rank: Int, worldSize: Int, backend: Backend) throws {
        guard worldSize >= 1, (0..<worldSize).contains(rank) else {
            throw DistributedError.invalidArgument("rank \(rank) is not in 0..<\(worldSize) (world size \(worldSize))")
        }
        guard available(backend) else {
            throw DistributedError.unavailable(backend == .gloo
                ? "this libctorch was built without Gloo (apt-get install libgloo-dev, then scripts/build-shim)"
                : "this libctorch was built without NCCL (build it against a CUDA libtorch with NCCL: scripts/build-shim --torch PREFIX)")
        }
    }

    /// libtorch's messages carry a C++ backtrace and source paths: keep the first line.
    static func short(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline).first.map(String.init) ?? message
    }

    // MARK: collectives

    /// All-reduces `tensors` in place (every rank ends with the same values).
    public func allReduce(_ tensors: [Tensor], op: ReduceOp = .sum) throws {
        try collective("all-reduce") {
            var hs: [OpaquePointer?] = tensors.map(\.handle)
            return ctorch_pg_allreduce(handle, &hs, Int64(hs.count), op.rawValue, Int64(timeout * 1000))
        }
    }

    /// Overwrites `tensors` on every rank with rank `root`'s values.
    public func broadcast(_ tensors: [Tensor], root: Int = 0) throws {
        try collective("broadcast") {
            var hs: [OpaquePointer?] = tensors.map(\.handle)
            return ctorch_pg_broadcast(handle, &hs, Int64(hs.count), Int32(root), Int64(timeout * 1000))
        }
    }

    /// Every rank's `tensor` (the same shape on all) concatenated along dim 0 in rank order.
    public func allGather(_ tensor: Tensor) throws -> Tensor {
        var out: OpaquePointer?
        try collective("all-gather") { ctorch_pg_allgather(&out, handle, tensor.handle, Int64(timeout * 1000)) }
        return Tensor(owning: out!)
    }

    /// The sum of `tensor` over the ranks as a new tensor that autograd differentiates: its backward sums the
    /// incoming gradient over the ranks the same way (SyncBatchNorm's statistics). Every rank must then run the
    /// backward pass too, while this group exists.
    public func allReduceSumWithGradient(_ tensor: Tensor) throws -> Tensor {
        var out: OpaquePointer?
        try collective("all-reduce") { ctorch_pg_allreduce_sum_autograd(&out, handle, tensor.handle, Int64(timeout * 1000)) }
        return Tensor(owning: out!)
    }

    public func barrier() throws {
        try collective("barrier") { ctorch_pg_barrier(handle, Int64(timeout * 1000)) }
    }

    /// Runs one collective; on failure names the ranks that stopped, when some did.
    private func collective(_ name: String, _ body: () -> Int32) throws {
        guard body() != 0 else { return }
        let detail = ProcessGroup.short(Tensor.lastError())
        let lost = lostRanks()
        if !lost.isEmpty { throw DistributedError.lostRanks(lost, operation: name, detail: detail) }
        throw DistributedError.collective(operation: name, detail: detail)
    }

    /// The ranks whose heartbeat stopped: counters read twice, 2 s apart. When the store itself is gone, its host,
    /// rank 0, is lost.
    public func lostRanks() -> [Int] {
        let others = (0..<worldSize).filter { $0 != rank }
        guard !others.isEmpty else { return [] }
        func read() -> [Int: Int64]? {
            var out: [Int: Int64] = [:]
            for r in others {
                guard let v = try? store.add(Heartbeat.key(r), 0) else { return nil }
                out[r] = v
            }
            return out
        }
        guard let before = read() else { return rank == 0 ? [] : [0] }
        Thread.sleep(forTimeInterval: 2 * Heartbeat.interval + 1)
        guard let after = read() else { return rank == 0 ? [] : [0] }
        return others.filter { after[$0] == before[$0] }
    }
}

/// A background thread bumping this rank's counter in the store every `interval` seconds. `stop()` waits for the
/// thread to leave, so that no store call is in flight while the process exits.
final class Heartbeat: @unchecked Sendable {
    static let interval = 0.5
    static func key(_ rank: Int) -> String { "fashionvl/heartbeat/\(rank)" }
    private let lock = NSLock()
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)

    init(store: DistStore, rank: Int) {
        let thread = Thread { [self] in
            defer { finished.signal() }
            var next = Date()
            while !isStopped {
                if Date() >= next {
                    _ = try? store.add(Heartbeat.key(rank), 1)
                    next = Date().addingTimeInterval(Heartbeat.interval)
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        thread.name = "fashionvl.heartbeat"
        thread.start()
    }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    func stop() {
        lock.lock()
        let first = !stopped
        stopped = true
        lock.unlock()
        if first { _ = finished.wait(timeout: .now() + 5) }
    }
}
