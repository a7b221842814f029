import ArgumentParser
import FashionTrain
import Foundation
import Torch

/// Data-parallel options of every command that runs on several processes (`pretrain`, `evaluate retrieval`,
/// `embed`, `bench allreduce`; docs/DISTRIBUTED.md): `--nproc N` starts N local ranks of this command;
/// `--rank/--world-size/--master` (or torchrun's RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK) make this
/// process one rank of a run on several hosts or GPUs.
struct DistributedOptions: ParsableArguments {
    @Option(help: "Start N local processes (ranks 0..<N on this host, rendezvous on 127.0.0.1).")
    var nproc: Int?
    @Option(help: "This process's rank (default: $RANK).") var rank: Int?
    @Option(help: "Number of processes in the run (default: $WORLD_SIZE).") var worldSize: Int?
    @Option(help: "HOST:PORT of rank 0's rendezvous (default: $MASTER_ADDR:$MASTER_PORT; with --nproc: a free local port).")
    var master: String?
    @Option(help: "Seconds a rendezvous or a collective may wait for the other ranks before the run stops.")
    var distTimeout = 300.0
    @Option(help: "gloo (CPU tensors) or nccl (CUDA tensors; default with --device cuda).") var backend: String?

    func validate() throws {
        if let nproc, nproc < 1 { throw ValidationError("--nproc must be at least 1, got \(nproc)") }
        if nproc != nil, rank != nil || worldSize != nil {
            throw ValidationError("--nproc starts every rank itself: give it without --rank and --world-size")
        }
        guard distTimeout > 0 else { throw ValidationError("--dist-timeout must be positive, got \(distTimeout)") }
        if let backend, !["gloo", "nccl"].contains(backend) { throw ValidationError("--backend must be gloo or nccl, got \(backend)") }
    }

    /// With `--nproc N`: runs N local ranks of this command line and exits with them (never returns). Call it
    /// first in `run()`; without `--nproc` it returns at once.
    func launchIfRequested() throws {
        if let nproc { try LocalLauncher.run(nproc: nproc, master: master, grace: distTimeout) }
    }

    /// What a data-parallel command that is not training does first (evaluation, embedding): with `--nproc`,
    /// launches its ranks (never returns); else joins the run the options or the environment describe. Returns
    /// the group (nil: one process) and this rank's device.
    func join(device: String) throws -> (group: DataParallel?, device: Device) {
        try launchIfRequested()
        let setup = try setup(device: device)
        let dev = try Device(parsing: Self.device(device, setup: setup))
        return (try setup.map { try DataParallel($0, device: dev) }, dev)
    }

    /// This process's place in a distributed run from the options and the environment; nil = one process.
    /// `bucketMb`: the gradient bucket of a training run.
    func setup(device: String, bucketMb: Double? = nil,
               environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> DistributedSetup? {
        func int(_ option: Int?, _ name: String) throws -> Int? {
            if let option { return option }
            guard let text = env[name] else { return nil }
            guard let v = Int(text) else { throw ValidationError("$\(name) must be an integer, got '\(text)'") }
            return v
        }
        guard let world = try int(worldSize, "WORLD_SIZE") else {
            if rank != nil || master != nil { throw ValidationError("--rank and --master need --world-size (or $WORLD_SIZE)") }
            return nil
        }
        guard world >= 1 else { throw ValidationError("--world-size must be at least 1, got \(world)") }
        guard let r = try int(rank, "RANK") else { throw ValidationError("--world-size \(world) needs --rank (or $RANK)") }
        guard (0..<world).contains(r) else { throw ValidationError("--rank \(r) is not in 0..<\(world)") }
        let (host, port): (String, Int)
        if let master {
            (host, port) = try Self.parse(master)
        } else {
            guard let p = try int(nil, "MASTER_PORT") else { throw ValidationError("--world-size \(world) needs --master HOST:PORT (or $MASTER_ADDR and $MASTER_PORT)") }
            (host, port) = (env["MASTER_ADDR"] ?? "127.0.0.1", p)
        }
        var s = DistributedSetup(rank: r, worldSize: world, host: host, port: port, localRank: try int(nil, "LOCAL_RANK"))
        s.backend = (backend ?? (device.hasPrefix("cuda") ? "nccl" : "gloo")) == "nccl" ? .nccl : .gloo
        if let bucketMb { s.bucketBytes = Int(bucketMb * 1_048_576) }
        s.timeout = distTimeout
        return s
    }

    /// "HOST:PORT" (IPv6 as "[::1]:PORT").
    static func parse(_ master: String) throws -> (String, Int) {
        guard let colon = master.lastIndex(of: ":"), let port = Int(master[master.index(after: colon)...]),
              (1...65535).contains(port), colon > master.startIndex else {
            throw ValidationError("--master must be HOST:PORT with a port in 1...65535, got '\(master)'")
        }
        var host = String(master[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    /// The device of this rank: plain "cuda" becomes cuda:LOCAL_RANK in a run of several processes.
    static func device(_ device: String, setup: DistributedSetup?) -> String {
        guard let setup, setup.worldSize > 1, device == "cuda" else { return device }
        return "cuda:\(setup.localRank)"
    }
}

/// `--bucket-mb`: the gradient all-reduce's bucket, an option of the training commands (shown with the
/// distributed options).
struct GradientBucketOptions: ParsableArguments {
    @Option(help: "Gradient bucket size for the all-reduce, in MiB.") var bucketMb = 25.0

    func validate() throws {
        guard bucketMb > 0 else { throw ValidationError("--bucket-mb must be positive, got \(bucketMb)") }
    }
}

/// `--nproc N`: runs this same command line N times as ranks 0..<N of one run on this host and waits for them.
/// When a rank fails, the others stop by themselves (they name the lost rank); any still running after
/// `grace` seconds are terminated. Exits with the first failing rank's status.
enum LocalLauncher {
    static func run(nproc: Int, master: String?, grace: Double) throws -> Never {
        let port = try master.map { try DistributedOptions.parse($0).1 } ?? freePort()
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let args = strip(Array(CommandLine.arguments.dropFirst()), options: ["--nproc", "--master", "--rank", "--world-size"])
        var children: [Process] = []
        for r in 0..<nproc {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args + ["--rank", "\(r)", "--world-size", "\(nproc)", "--master", "127.0.0.1:\(port)"]
            var env = ProcessInfo.processInfo.environment
            env["LOCAL_RANK"] = "\(r)"
            for k in ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"] { env.removeValue(forKey: k) }
            p.environment = env
            try p.run()
            children.append(p)
        }
        FileHandle.standardError.write(Data("launched \(nproc) ranks (pids \(children.map { String($0.processIdentifier) }.joined(separator: " "))), rendezvous 127.0.0.1:\(port)\n".utf8))
        var failed: (rank: Int, status: Int32)?
        var failedAt: Date?
        while children.contains(where: \.isRunning) {
            for (r, p) in children.enumerated() where !p.isRunning && p.terminationStatus != 0 && failed == nil {
                failed = (r, p.terminationStatus)
                failedAt = Date()
            }
            if let failedAt, Date().timeIntervalSince(failedAt) > grace {
                for p in children where p.isRunning { p.terminate() }
            }
            usleep(50_000)
        }
        if failed == nil, let r = children.firstIndex(where: { $0.terminationStatus != 0 }) {
            failed = (r, children[r].terminationStatus)
        }
        if let failed {
            FileHandle.standardError.write(Data("error: rank \(failed.rank) of \(nproc) exited with status \(failed.status)\n".utf8))
            exit(1)
        }
        exit(0)
    }

    /// Removes `--opt value` and `--opt=value` for each option.
    static func strip(_ args: [String], options: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if options.contains(a) { i += 2; continue }
            if options.contains(where: { a.hasPrefix($0 + "=") }) { i += 1; continue }
            out.append(a)
            i += 1
        }
        return out
    }

    /// A TCP port on 127.0.0.1 that is free now (bound to port 0, then released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DistributedError.invalidArgument("cannot open a socket to find a free port") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw DistributedError.invalidArgument("cannot find a free local port (pass --master 127.0.0.1:PORT)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
