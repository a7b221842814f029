// Containment of libhdf5 crashes on malformed files (issue 14). libhdf5 1.10.8 segfaults on some corrupt files
// (Fuzz/hdf5/known-crashes: a bad local heap makes H5HL_protect read wild memory) before any check of ours can
// run, so a file is first opened in a child process: `FashionGenFile.checkInProcess` (the schema and storage
// checks and a read of every row of every key) runs there, and a signal in the child becomes an error naming the file instead of
// a crash of the whole command. The verdict is kept per (path, device, inode, size, mtime), so each file is
// checked once per process. Every FashionGenFile(path:) goes through `vet`; the CLI installs the child command
// with `useChildProcess` (the library's default, e.g. in unit tests, is to open in process unchecked).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum UntrustedHDF5 {
    /// The command that checks one file: `arguments + [path]` run as `executable`; exit 0 = it opened cleanly,
    /// 1 = it reported an error (which opening the file again in process reproduces, as a typed error).
    public struct Checker: Sendable {
        public var executable: String
        public var arguments: [String]
        /// Seconds the child may take before it is killed (a file that makes libhdf5 loop).
        public var timeout: Double
        /// Used instead (for this file and every later one) when `executable` exits with `staleStatus`: a
        /// separate checker binary left from an older build.
        public var fallback: [String]? = nil
    }

    /// What a check concluded about one version of a file.
    enum Verdict: Equatable {
        case clean  // exit 0
        case reported  // exit 1: the file has a problem that the in-process open and read reproduce as a typed error
        case crashed(signal: String)  // libhdf5 died on it
        case failed(FashionGenError)  // no verdict (timeout, could not start): never stored on disk
    }

    /// Bumped whenever what the child checks changes, so verdicts of an older check (stored on disk) are not
    /// trusted and a checker binary from an older build is not used. 2: every row of every key, storage refusals.
    public static let checkVersion = 2
    /// The exit status of a checker whose `checkVersion` differs from the one the parent passed it.
    public static let staleStatus: Int32 = 125
    static let versionVariable = "FASHIONVL_HDF5_CHECK_VERSION"

    private struct Key: Hashable { var path: String, device: UInt64, inode: UInt64, size: Int64, mtime: Int64 }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var checker: Checker?
    nonisolated(unsafe) private static var store: VerdictStore?
    nonisolated(unsafe) private static var verdicts: [Key: Verdict] = [:]
    nonisolated(unsafe) private static var childRuns = 0

    /// Checks every HDF5 file opened from now on in a child process running `executable arguments… FILE`
    /// (`fallback… FILE` when `executable` turns out stale); verdicts are also kept in `cacheDirectory` when given
    /// (one small JSON file per catalog path), so a file is checked once, not once per command.
    public static func useChildProcess(executable: String, arguments: [String], timeout: Double = 300,
                                       fallback: [String]? = nil, cacheDirectory: String? = nil) {
        lock.withLock {
            checker = Checker(executable: executable, arguments: arguments, timeout: timeout, fallback: fallback)
            store = cacheDirectory.map(VerdictStore.init(directory:))
        }
    }

    /// Back to the library default: files are opened in process, unchecked; the verdicts kept so far are dropped.
    public static func openInProcess() {
        lock.withLock { checker = nil; store = nil; verdicts = [:] }
    }

    /// Number of child checks run so far (each file once per process, or once while its stored verdict holds).
    public static var checksRun: Int { lock.withLock { childRuns } }

    /// What the child runs (the `check-hdf5` command and the fashionvl-check-hdf5 executable): checks `file` and
    /// returns the exit status: 0 clean, 1 an error (printed on stderr), `staleStatus` when the parent expects
    /// another `checkVersion`.
    public static func childMain(file: String) -> Int32 {
        if let expected = ProcessInfo.processInfo.environment[versionVariable], expected != String(checkVersion) {
            return staleStatus
        }
        do {
            _ = try FashionGenFile.checkInProcess(path: file)
            return 0
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            return 1
        }
    }

    /// Throws when the child check of `path` crashed, hung or could not run; returns when the file may be opened
    /// in this process: true when the child reported an error (exit 1), which the caller then reproduces in
    /// process as a typed error (opening the file and reading every row, as the child did).
    static func vet(_ path: String) throws -> Bool {
        guard let (checker, store) = lock.withLock({ Self.checker.map { ($0, Self.store) } }) else { return false }
        var st = stat()
        guard stat(path, &st) == 0 else { return false }  // the in-process open names the problem (no such file, …)
        let key = Key(path: path, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
                      mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
        var verdict = lock.withLock { verdicts[key] }
        var stamp: VerdictStore.Stamp?
        if verdict == nil, let store {
            stamp = store.stamp(path: path, device: key.device, inode: key.inode, size: key.size, mtime: key.mtime)
            if let stamp { verdict = store.lookup(stamp) }
        }
        if verdict == nil {
            let found = run(checker, path: path)
            if let stamp, let store { store.save(found, for: stamp) }
            lock.withLock { childRuns += 1 }
            verdict = found
        }
        lock.withLock { verdicts[key] = verdict }
        switch verdict! {
        case .clean: return false
        case .reported: return true
        case let .crashed(signal): throw FashionGenError.libraryCrashed(file: path, signal: signal)
        case let .failed(error): throw error
        }
    }

    /// Runs the child (its fallback when it is stale; then the fallback is kept for later files).
    private static func run(_ checker: Checker, path: String) -> Verdict {
        let verdict = run(checker.executable, checker.arguments, timeout: checker.timeout, path: path)
        guard verdict == .failed(.checkFailed(file: path, reason: "the check exited with status \(staleStatus)")),
              let fallback = checker.fallback, let executable = fallback.first else { return verdict }
        let replacement = Checker(executable: executable, arguments: Array(fallback.dropFirst()), timeout: checker.timeout)
        lock.withLock { if Self.checker != nil { Self.checker = replacement } }
        return run(replacement.executable, replacement.arguments, timeout: replacement.timeout, path: path)
    }

    /// Runs one child command on `path`.
    private static func run(_ executable: String, _ arguments: [String], timeout: Double, path: String) -> Verdict {
        let argv = [executable] + arguments + [path]
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"  // a crash ends the child at once, without a backtrace on our stderr
        env[versionVariable] = String(checkVersion)
        let envp = env.map { "\($0.key)=\($0.value)" }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        var pid: pid_t = 0
        let spawned = withCStrings(argv) { a in
            withCStrings(envp) { e in posix_spawn(&pid, executable, &actions, nil, a, e) }
        }
        guard spawned == 0 else {
            return .failed(.checkFailed(file: path, reason: "cannot start \(executable): \(String(cString: strerror(spawned)))"))
        }
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        var pause: UInt32 = 100  // µs, doubling to 10 ms: a quick child is seen quickly, a slow one costs no CPU
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR {
                return .failed(.checkFailed(file: path, reason: "waitpid: \(String(cString: strerror(errno)))"))
            }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return .failed(.checkFailed(file: path, reason: "libhdf5 did not finish reading it in \(String(format: "%g", timeout)) s; the file is malformed or not a Fashion-Gen file"))
            }
            usleep(pause)
            pause = min(pause * 2, 10_000)
        }
        let signal = status & 0x7f
        if signal != 0 { return .crashed(signal: signalName(signal)) }
        let code = (status >> 8) & 0xff
        if code == 0 { return .clean }
        if code == 1 { return .reported }
        return .failed(.checkFailed(file: path, reason: "the check exited with status \(code)"))
    }

    static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGABRT: "SIGABRT", SIGILL: "SIGILL",
                                      SIGFPE: "SIGFPE", SIGTRAP: "SIGTRAP", SIGKILL: "SIGKILL"]
        return names[signal] ?? "signal \(signal)"
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

extension FashionGenFile {
    /// What the child process runs: the schema and storage checks of an open, then every row of every key, read
    /// in blocks (`readEveryRow`) with the types the readers use. Throws the file's first problem; a crash inside
    /// libhdf5 ends the process. Never vetted (it is the vetting). Returns the bytes read.
    @discardableResult
    public static func checkInProcess(path: String) throws -> Int {
        try FashionGenFile(opening: path).readEveryRow()
    }
}
