// Runs the built `fashionvl` binary as a user would (swift-argument-parser's AssertExecuteCommand):
// arguments in, stdin from bytes, stdout/stderr and the exit status out. Fixtures come from the committed
// Python scripts in Tests/reference (run with /usr/bin/python3).
import Foundation
import TestSupport
import XCTest

enum CLI {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutData: Data
        /// stderr without its final newline, split into lines.
        var stderrLines: [String] {
            let trimmed = stderr.hasSuffix("\n") ? String(stderr.dropLast()) : stderr
            return trimmed.isEmpty ? [] : trimmed.components(separatedBy: "\n")
        }
    }

    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let referenceDir = testsDir.appendingPathComponent("reference")

    /// Folders that may hold the binary: `FASHIONVL_BIN`'s folder when set, the folder of the test bundle
    /// (SwiftPM puts every product of a build next to it: `.build/debug/fashionvl`), and of the test runner.
    static var candidateDirs: [URL] {
        var dirs: [URL] = []
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
            dirs.append(bundle.bundleURL.deletingLastPathComponent())
        }
        let main = Bundle.main.bundleURL
        dirs.append(main.pathExtension == "xctest" ? main.deletingLastPathComponent() : main)
        if let argv0 = CommandLine.arguments.first, argv0.contains("/") {
            dirs.append(URL(fileURLWithPath: argv0).deletingLastPathComponent())
        }
        var seen: Set<String> = []
        return dirs.filter { seen.insert($0.standardizedFileURL.path).inserted }
    }

    /// The `fashionvl` executable built alongside the tests.
    static func binary() throws -> URL {
        if let explicit = ProcessInfo.processInfo.environment["FASHIONVL_BIN"] {
            guard FileManager.default.isExecutableFile(atPath: explicit) else {
                throw CLIError("FASHIONVL_BIN=\(explicit) is not an executable file")
            }
            return URL(fileURLWithPath: explicit)
        }
        let dirs = candidateDirs
        for dir in dirs {
            let url = dir.appendingPathComponent("fashionvl")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw CLIError("the fashionvl executable was not found next to the tests (looked in: "
            + dirs.map(\.path).joined(separator: ", ")
            + "); build it with `swift build --build-tests` before `swift test --skip-build`, or set FASHIONVL_BIN")
    }

    /// The HDF5 check verdicts of the commands this test process runs (UntrustedHDF5): a folder of its own, not
    /// the user's ~/.cache.
    static let hdf5CheckCache: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-hdf5-checks-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        return dir
    }()

    /// Runs `fashionvl args…` with `stdin`, killing it after `timeout` seconds. stdout/stderr go to temp files,
    /// so a chatty process never blocks on a full pipe.
    static func run(_ args: [String], stdin: Data = Data(), timeout: TimeInterval = 60, in directory: URL? = nil) throws -> Output {
        try execute(binary(), args, stdin: stdin, timeout: timeout, in: directory)
    }

    static func execute(_ executable: URL, _ args: [String], stdin: Data = Data(), timeout: TimeInterval = 60,
                        in directory: URL? = nil) throws -> Output {
        let dir = try tempDir(prefix: "fvl-cli-io")
        defer { try? FileManager.default.removeItem(at: dir) }
        let inURL = dir.appendingPathComponent("stdin"), outURL = dir.appendingPathComponent("stdout"),
            errURL = dir.appendingPathComponent("stderr")
        try stdin.write(to: inURL)
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let inHandle = try FileHandle(forReadingFrom: inURL)
        let outHandle = try FileHandle(forWritingTo: outURL), errHandle = try FileHandle(forWritingTo: errURL)
        defer { try? inHandle.close(); try? outHandle.close(); try? errHandle.close() }

        let process = Process()
        process.executableURL = executable
        process.arguments = args
        var environment = ProcessInfo.processInfo.environment
        if environment["FASHIONVL_HDF5_CHECK_CACHE"] == nil { environment["FASHIONVL_HDF5_CHECK_CACHE"] = hdf5CheckCache }
        process.environment = environment
        if let directory { process.currentDirectoryURL = directory }
        process.standardInput = inHandle
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                process.waitUntilExit()
                throw CLIError("\(executable.lastPathComponent) \(args.joined(separator: " ")) ran past \(Int(timeout)) s")
            }
            usleep(10_000)
        }
        process.waitUntilExit()
        let out = try Data(contentsOf: outURL), err = try Data(contentsOf: errURL)
        return Output(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self), stdoutData: out)
    }

    /// Runs `Tests/reference/<script> args…` with /usr/bin/python3; throws with its stderr when it fails.
    static func python(_ script: String, _ args: [String]) throws {
        let python = URL(fileURLWithPath: "/usr/bin/python3")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw XCTSkip("/usr/bin/python3 (with h5py and Pillow) is needed for the CLI fixtures")
        }
        _ = try Reference.run(script, args)
    }

    static func tempDir(prefix: String = "fvl-cli") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func files(in dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Asserts the failure contract of the data commands: a non-zero exit and exactly one stderr line, starting
/// with `error: `, that contains every one of `mentions`.
func assertOneErrorLine(_ r: CLI.Output, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNotEqual(r.status, 0, "expected a non-zero exit; stderr: \(r.stderr)", file: file, line: line)
    let lines = r.stderrLines
    XCTAssertEqual(lines.count, 1, "expected exactly one stderr line, got: \(r.stderr)", file: file, line: line)
    guard let first = lines.first else { return }
    XCTAssertTrue(first.hasPrefix("error: "), "stderr line should start with 'error: ': \(first)", file: file, line: line)
    for m in mentions {
        XCTAssertTrue(first.contains(m), "error line should mention '\(m)': \(first)", file: file, line: line)
    }
}

/// The JSON that `fashionvl inspect` prints.
struct InspectSummary: Decodable, Equatable {
    struct Key: Decodable, Equatable { var dtype: String; var shape: [Int] }
    var file: String
    var rows: Int
    var imageSize: Int
    var products: Int
    var categories: [String: Int]
    var subcategories: [String: Int]
    var keys: [String: Key]

    static func parse(_ r: CLI.Output, file: StaticString = #filePath, line: UInt = #line) throws -> InspectSummary {
        XCTAssertEqual(r.status, 0, "inspect failed: \(r.stderr)", file: file, line: line)
        do { return try JSONDecoder().decode(InspectSummary.self, from: r.stdoutData) } catch {
            throw CLIError("inspect printed no summary JSON (\(error)): \(r.stdout)")
        }
    }

    static let allKeys: Set<String> = [
        "input_image", "input_description", "input_name", "input_concat_description", "input_category",
        "input_subcategory", "input_brand", "input_composition", "input_department", "input_gender", "input_season",
        "input_pose", "input_productID", "input_msrpUSD", "index", "index_2",
    ]
}
