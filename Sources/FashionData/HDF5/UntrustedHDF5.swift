// Containment of libhdf5 crashes on malformed files (issue 14). libhdf5 1.10.8 segfaults on some corrupt files
// (Fuzz/hdf5/known-crashes: a bad local heap makes H5HL_protect read wild memory) before any check of ours can
// run, so a file is first opened in a child process: `FashionGenFile.checkInProcess` (the schema checks and a
// first and last record read) runs there, and a signal in the child becomes an error naming the file instead of
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
    }

    private struct Key: Hashable { var path: String, device: UInt64, inode: UInt64, size: Int64, mtime: Int64 }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var checker: Checker?
    nonisolated(unsafe) private static var verdicts: [Key: FashionGenError?] = [:]
    nonisolated(unsafe) private static var childRuns = 0

    /// Checks every HDF5 file opened from now on in a child process running `executable arguments… FILE`.
    public static func useChildProcess(executable: String, arguments: [String], timeout: Double = 300) {
        lock.withLock { checker = Checker(executable: executable, arguments: arguments, timeout: timeout) }
    }

    /// Back to the library default: files are opened in process, unchecked; the verdicts kept so far are dropped.
    public static func openInProcess() {
        lock.withLock { checker = nil; verdicts = [:] }
    }

    /// Number of child checks run so far (each file once per process).
    public static var checksRun: Int { lock.withLock { childRuns } }

    /// Throws when the child check of `path` crashed, hung or could not run; returns when the file may be opened
    /// in this process (its own errors, if any, are then thrown by the in-process open).
    static func vet(_ path: String) throws {
        guard let checker = lock.withLock({ Self.checker }) else { return }
        var st = stat()
        guard stat(path, &st) == 0 else { return }  // the in-process open names the problem (no such file, …)
        let key = Key(path: path, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
                      mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
        if let known = lock.withLock({ verdicts[key] }) {
            if let known { throw known }
            return
        }
        let verdict = run(checker, path: path)
        lock.withLock { verdicts[key] = .some(verdict); childRuns += 1 }
        if let verdict { throw verdict }
    }

    /// Runs the child; nil when the file may be opened here.
    private static func run(_ checker: Checker, path: String) -> FashionGenError? {
        let argv = [checker.executable] + checker.arguments + [path]
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"  // a crash ends the child at once, without a backtrace on our stderr
        let envp = env.map { "\($0.key)=\($0.value)" }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        var pid: pid_t = 0
        let spawned = withCStrings(argv) { a in
            withCStrings(envp) { e in posix_spawn(&pid, checker.executable, &actions, nil, a, e) }
        }
        guard spawned == 0 else {
            return .checkFailed(file: path, reason: "cannot start \(checker.executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(checker.timeout)
        var pause: UInt32 = 100  // µs, doubling to 10 ms: a quick child is seen quickly, a slow one costs no CPU
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR {
                return .checkFailed(file: path, reason: "waitpid: \(String(cString: strerror(errno)))")
            }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return .checkFailed(file: path, reason: "libhdf5 did not finish reading it in \(String(format: "%g", checker.timeout)) s; the file is malformed or not a Fashion-Gen file")
            }
            usleep(pause)
            pause = min(pause * 2, 10_000)
        }
        let signal = status & 0x7f
        if signal != 0 { return .libraryCrashed(file: path, signal: signalName(signal)) }
        let code = (status >> 8) & 0xff
        if code == 0 || code == 1 { return nil }
        return .checkFailed(file: path, reason: "the check exited with status \(code)")
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
    /// What the child process runs: the schema checks of an open, then the first and last record of every key.
    /// Throws the file's first problem; a crash inside libhdf5 ends the process. Never vetted (it is the vetting).
    public static func checkInProcess(path: String) throws {
        let file = try FashionGenFile(opening: path)
        if file.count > 0 {
            _ = try file.record(0)
            _ = try file.record(file.count - 1)
        }
    }
}
