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

    func testTheChildCheckReadsTheFirstAndLastRecords() throws {
        XCTAssertNoThrow(try FashionGenFile.checkInProcess(path: try catalog("e.h5")))
        let text = dir.appendingPathComponent("t.h5").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: text))
        XCTAssertThrowsError(try FashionGenFile.checkInProcess(path: text)) { XCTAssertEqual($0 as? FashionGenError, .notHDF5(file: text)) }
    }
}
