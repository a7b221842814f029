import Foundation

/// A python3 subprocess that runs a script and answers one JSON line per line sent to it (benchmarks use it
/// to time PyTorch in the same run as Swift).
public final class PythonWorker {
    private let process = Process()
    private let input = Pipe(), output = Pipe(), errors = Pipe()
    private var buffer = Data()
    private let scriptURL: URL

    /// $FASHIONVL_PYTHON (scripts/gpu-run sets it to the python that has torch), else Debian's python3 (which
    /// shares libtorch with libctorch) when present, else python3 on PATH.
    public static var interpreter: String {
        if let p = ProcessInfo.processInfo.environment["FASHIONVL_PYTHON"], !p.isEmpty { return p }
        return FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "/usr/bin/env"
    }

    public init(source: String, arguments: [String]) throws {
        scriptURL = FileManager.default.temporaryDirectory.appendingPathComponent("fashionvl-worker-\(getpid())-\(UUID().uuidString).py")
        try source.write(to: scriptURL, atomically: true, encoding: .utf8)
        let interp = PythonWorker.interpreter
        process.executableURL = URL(fileURLWithPath: interp)
        process.arguments = (interp.hasSuffix("env") ? ["python3"] : []) + [scriptURL.path] + arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    /// Sends one line and waits for one line of reply.
    public func request(_ line: String) throws -> String {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let reply = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                return reply
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw BenchError.pythonFailed(err.isEmpty ? "python3 exited" : err)
            }
            buffer.append(chunk)
        }
    }

    /// Asks for `n` timed steps ("N") and returns their wall times (ms), the reply being a JSON list of numbers.
    public func stepTimes(_ n: Int) throws -> [Double] {
        let reply = try request(String(n))
        guard let times = try? JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [Double], times.count == n else {
            throw BenchError.pythonFailed("expected \(n) step times, got: \(reply.prefix(300))")
        }
        return times
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: scriptURL)
    }
}

public enum BenchError: Error, CustomStringConvertible {
    case pythonFailed(String)
    case output(String)
    public var description: String {
        switch self {
        case let .pythonFailed(m): return "PyTorch reference failed: \(m)"
        case let .output(m): return m
        }
    }
}

/// Median of a non-empty list.
public func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
