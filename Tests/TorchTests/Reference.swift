import Foundation
import Torch
import XCTest

/// Runs the reference scripts of Tests/reference with Debian's python3 (python3-torch on the same libtorch).
enum Reference {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("reference")

    static var python: String {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
    }

    /// Runs `script args…`, returns stdout; fails the test with stderr when the script fails.
    @discardableResult
    static func run(_ script: String, _ args: [String], stdin: Data? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [dir.appendingPathComponent(script).path] + args
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(stdin) }
        try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TorchError.invalidArgument("\(script) failed (\(p.terminationStatus)): \(String(decoding: e, as: UTF8.self))")
        }
        return String(decoding: o, as: UTF8.self)
    }

    static func tempDir(_ name: String) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("fashionvl-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d.path
    }
}

/// Asserts that two tensors have the same shape and values within `atol + rtol·|expected|`.
func assertClose(_ actual: Tensor, _ expected: Tensor, atol: Double = 1e-5, rtol: Double = 1e-5, _ name: String,
                 file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(actual.shape, expected.shape, "\(name): shape", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    let a = try actual.to(dtype: .float64), e = try expected.to(dtype: .float64)
    let diff = try a.sub(e).abs()
    let tol = try e.abs().mul(rtol).add(atol)
    let bad = try diff.gt(tol).any().itemInt()
    let worst = actual.numel == 0 ? 0 : try diff.max().item()
    XCTAssertEqual(bad, 0, "\(name): max |Δ| = \(worst)", file: file, line: line)
}
