// Shared by the test targets: running the PyTorch ports under Tests/reference (and scripts/) with Debian's python3,
// whose python3-torch is the same libtorch as the shim; temp folders; the JSON line a port prints.
import Foundation

public struct ReferenceError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum Reference {
    /// Tests/ of the repository (this file is Tests/TestSupport/Reference.swift).
    public static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    public static let dir = testsDir.appendingPathComponent("reference")
    public static let repo = testsDir.deletingLastPathComponent()

    public static var python: String {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
    }

    /// Runs python3 with `args` (a file's absolute path or `-c code`, then its arguments) in Tests/reference;
    /// returns stdout, throws with stderr when it exits non-zero.
    @discardableResult
    public static func python(_ args: [String], stdin: Data? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = args
        p.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(stdin) }
        try inp.fileHandleForWriting.close()
        // Read stderr on another thread so a chatty script cannot block on a full pipe.
        var e = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { e = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ReferenceError("python \(args.prefix(2).joined(separator: " ")) failed (\(p.terminationStatus)): "
                                 + String(decoding: e, as: UTF8.self))
        }
        return String(decoding: o, as: UTF8.self)
    }

    /// Runs `Tests/reference/<script> args…`.
    @discardableResult
    public static func run(_ script: String, _ args: [String], stdin: Data? = nil) throws -> String {
        try python([dir.appendingPathComponent(script).path] + args, stdin: stdin)
    }

    /// Runs the MVLT parity port.
    @discardableResult
    public static func parity(_ args: [String]) throws -> String { try run("mvlt_parity.py", args) }

    /// The last line of a port's output as a JSON object.
    public static func json(_ text: String) throws -> [String: Any] {
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw ReferenceError("not a JSON object: \(line.prefix(200))")
        }
        return o
    }

    /// A fresh folder under the temporary directory.
    public static func tempDir(_ name: String) throws -> String {
        let d = FileManager.default.temporaryDirectory
            .appendingPathComponent("fashionvl-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }
}
