// UntrustedHDF5: every FashionGenFile(path:) first runs the installed child check (a shell script standing in for
// `fashionvl check-hdf5` here), once per file version; a signal in the child is an error naming the file, and an
// error exit lets the in-process open report the file's own typed error.
import FashionData
import Foundation
import XCTest

final class UntrustedHDF5Tests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try HDF5TestSupport.tempDir()
    }

    override func tearDown() {
        UntrustedHDF5.openInProcess()
        try? FileManager.default.removeItem(at: dir)
    }

    private func catalog(_ name: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        let writer = try FashionGenWriter(path: path, imageSize: 4)
        for r in HDF5TestSupport.sampleRecords(count: 2, size: 4) { try writer.append(r) }
        try writer.finish()
        return path
    }

    /// A child that appends its file argument to `log` and then runs `then` (sh -c; $1 is the file).
    private func useScript(_ then: String, log: String) {
        UntrustedHDF5.useChildProcess(executable: "/bin/sh", arguments: ["-c", "echo \"$1\" >> '\(log)'; \(then)", "sh"],
                                      timeout: 30)
    }

    private func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func testEachFileVersionIsCheckedOnceAndAChangedFileAgain() throws {
        let path = try catalog("a.h5"), log = dir.appendingPathComponent("log").path
        useScript("exit 0", log: log)
        let runs = UntrustedHDF5.checksRun
        XCTAssertEqual(try FashionGenFile(path: path).count, 2)
        XCTAssertEqual(try FashionGenFile(path: path).count, 2)
        XCTAssertEqual(lines(log), [path])
        XCTAssertEqual(UntrustedHDF5.checksRun, runs + 1)
        // Rewritten (new inode, size or mtime): checked again.
        try FileManager.default.removeItem(atPath: path)
        _ = try catalog("a.h5")
        _ = try FashionGenFile(path: path)
        XCTAssertEqual(lines(log), [path, path])
    }

    func testASignalInTheChildIsAnErrorNamingTheFile() throws {
        let path = try catalog("b.h5"), log = dir.appendingPathComponent("log").path
        useScript("kill -SEGV $$", log: log)
        for _ in 0..<2 {  // the verdict is kept: the second open does not run the child again
            XCTAssertThrowsError(try FashionGenFile(path: path)) { error in
                XCTAssertEqual(error as? FashionGenError, .libraryCrashed(file: path, signal: "SIGSEGV"))
                XCTAssertEqual("\(error)", "\(path): libhdf5 crashed (SIGSEGV) while reading it: the file is malformed or not a Fashion-Gen file")
            }
        }
        XCTAssertEqual(lines(log), [path])
    }

    func testAnErrorExitGivesTheInProcessErrorAndOtherStatusesAreReported() throws {
        let text = dir.appendingPathComponent("text.h5").path, log = dir.appendingPathComponent("log").path
        try Data("not HDF5\n".utf8).write(to: URL(fileURLWithPath: text))
        useScript("exit 1", log: log)
        XCTAssertThrowsError(try FashionGenFile(path: text)) { XCTAssertEqual($0 as? FashionGenError, .notHDF5(file: text)) }
        let good = try catalog("c.h5")
        useScript("exit 3", log: log)
        XCTAssertThrowsError(try FashionGenFile(path: good)) {
            XCTAssertEqual($0 as? FashionGenError, .checkFailed(file: good, reason: "the check exited with status 3"))
        }
    }

    func testAChildThatHangsIsKilledAfterTheTimeout() throws {
        let path = try catalog("d.h5")
        UntrustedHDF5.useChildProcess(executable: "/bin/sh", arguments: ["-c", "exec sleep 30", "sh"], timeout: 0.5)
        XCTAssertThrowsError(try FashionGenFile(path: path)) { error in
            guard case .checkFailed(path, let reason) = error as? FashionGenError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.hasPrefix("libhdf5 did not finish reading it in 0.5 s"), reason)
        }
    }

    func testTheChildCheckReadsEveryRowOfEveryKey() throws {
        let path = try catalog("e.h5")
        // 2 rows: images 4·4·3 bytes, 11 text keys of their stored width, 4 numbers read as 8 bytes each.
        let file = try FashionGenFile(path: path)
        let text = FashionGenSchema.textKeys.map { file.keys[$0]!.elementSize }.reduce(0, +)
        XCTAssertEqual(try FashionGenFile.checkInProcess(path: path), 2 * (48 + text + 4 * 8))
        let notHDF5 = dir.appendingPathComponent("t.h5").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: notHDF5))
        XCTAssertThrowsError(try FashionGenFile.checkInProcess(path: notHDF5)) { XCTAssertEqual($0 as? FashionGenError, .notHDF5(file: notHDF5)) }
    }

    func testABadChunkInTheMiddleIsFoundByTheCheckAndReportedWhenOpening() throws {
        // Tests/corpus/hdf5/bad-middle-chunk.h5: rows 0 and 4 read, row 2's gzip stream is garbage.
        let bad = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("corpus/hdf5/bad-middle-chunk.h5").path
        let file = try FashionGenFile(path: bad)  // opening in process alone reads no row
        XCTAssertNoThrow(try file.image(0))
        XCTAssertNoThrow(try file.image(4))
        XCTAssertThrowsError(try FashionGenFile.checkInProcess(path: bad)) { error in
            guard case .io(bad, "input_image", "read", let detail) = error as? FashionGenError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.hasPrefix("inflate() failed"), detail)
        }
        // The child's exit 1 makes the open read every row in process too: the error comes at the open.
        useScript("exit 1", log: dir.appendingPathComponent("log").path)
        XCTAssertThrowsError(try FashionGenFile(path: bad)) {
            guard case .io(bad, "input_image", "read", _) = $0 as? FashionGenError else { return XCTFail("\($0)") }
        }
    }

    func testVerdictsAreStoredOnDiskPerFileVersion() throws {
        let path = try catalog("f.h5"), log = dir.appendingPathComponent("log").path
        let cache = dir.appendingPathComponent("cache").path
        func install(_ then: String) {  // a new process, as far as the verdicts kept in memory go
            UntrustedHDF5.openInProcess()
            UntrustedHDF5.useChildProcess(executable: "/bin/sh", arguments: ["-c", "echo \"$1\" >> '\(log)'; \(then)", "sh"],
                                          timeout: 30, cacheDirectory: cache)
        }
        install("exit 0")
        _ = try FashionGenFile(path: path)
        install("exit 0")
        _ = try FashionGenFile(path: path)
        XCTAssertEqual(lines(log), [path], "the stored verdict was not used")
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache)
        XCTAssertEqual(entries.count, 1, "\(entries)")
        // Another mtime: checked again.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: path)
        install("exit 0")
        _ = try FashionGenFile(path: path)
        XCTAssertEqual(lines(log).count, 2)
        // Same size, inode and mtime but other bytes in the first MiB: checked again, and a crash is stored too.
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 600)
        try handle.write(contentsOf: Data([0x5A]))
        try handle.close()
        try FileManager.default.setAttributes([.modificationDate: attributes[.modificationDate]!], ofItemAtPath: path)
        install("kill -SEGV $$")
        XCTAssertThrowsError(try FashionGenFile(path: path))
        install("exit 0")
        XCTAssertThrowsError(try FashionGenFile(path: path)) {
            XCTAssertEqual($0 as? FashionGenError, .libraryCrashed(file: path, signal: "SIGSEGV"))
        }
        XCTAssertEqual(lines(log).count, 3)
        // A corrupt entry is ignored (with a warning) and replaced.
        let entry = cache + "/" + entries[0]
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: entry))
        install("exit 0")
        _ = try FashionGenFile(path: path)
        XCTAssertEqual(lines(log).count, 4)
        XCTAssertTrue(try String(contentsOfFile: entry, encoding: .utf8).contains("\"verdict\":\"clean\""))
        // A timeout is not stored.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -120)], ofItemAtPath: path)
        UntrustedHDF5.openInProcess()
        UntrustedHDF5.useChildProcess(executable: "/bin/sh", arguments: ["-c", "exec sleep 30", "sh"], timeout: 0.3,
                                      cacheDirectory: cache)
        XCTAssertThrowsError(try FashionGenFile(path: path))
        install("exit 0")
        _ = try FashionGenFile(path: path)
        XCTAssertEqual(lines(log).count, 5)
    }

    func testAStaleCheckerIsReplacedByTheFallbackAndGetsTheCheckVersion() throws {
        let a = try catalog("g.h5"), b = try catalog("h.h5"), log = dir.appendingPathComponent("log").path
        UntrustedHDF5.useChildProcess(
            executable: "/bin/sh",
            arguments: ["-c", "echo \"stale $FASHIONVL_HDF5_CHECK_VERSION\" >> '\(log)'; exit \(UntrustedHDF5.staleStatus)", "sh"],
            timeout: 30, fallback: ["/bin/sh", "-c", "echo \"fallback $FASHIONVL_HDF5_CHECK_VERSION\" >> '\(log)'", "sh"])
        _ = try FashionGenFile(path: a)
        _ = try FashionGenFile(path: b)
        let v = UntrustedHDF5.checkVersion
        XCTAssertEqual(lines(log), ["stale \(v)", "fallback \(v)", "fallback \(v)"])
    }
}
