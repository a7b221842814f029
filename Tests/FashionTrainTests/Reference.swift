import Foundation
import Torch
import XCTest

/// Runs Tests/reference with Debian's python3 (python3-torch on the same libtorch as the shim). (Each test target
/// has its own copy of this helper: SwiftPM test targets cannot share sources.)
enum Reference {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let dir = testsDir.appendingPathComponent("reference")
    static let repo = testsDir.deletingLastPathComponent()

    static var python: String {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
    }

    /// Runs a python file (absolute path) or `-c code` with `args`; returns stdout, throws with stderr.
    @discardableResult
    static func python(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = args
        p.currentDirectoryURL = dir
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TorchError.invalidArgument("python \(args.prefix(2)) failed (\(p.terminationStatus)): \(String(decoding: e, as: UTF8.self))")
        }
        return String(decoding: o, as: UTF8.self)
    }

    static func json(_ text: String) throws -> [String: Any] {
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TorchError.invalidArgument("not a JSON object: \(line.prefix(200))")
        }
        return o
    }

    static func tempDir(_ name: String) throws -> String {
        let d = FileManager.default.temporaryDirectory
            .appendingPathComponent("fashionvl-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }
}
