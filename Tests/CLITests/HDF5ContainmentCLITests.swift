// A file that makes libhdf5 1.10.8 itself segfault (Tests/corpus/hdf5/h5hl-protect-segv.h5, found by scripts/fuzz
// hdf5) is checked in a child process first (UntrustedHDF5): every command that reads HDF5 gets one error line
// naming the file, exit status 1 and nothing written, instead of dying with SIGSEGV.
import Foundation
import XCTest

final class HDF5ContainmentCLITests: XCTestCase {
    static let crash = CorpusCLITests.corpus.appendingPathComponent("hdf5/h5hl-protect-segv.h5").path
    static let message = "libhdf5 crashed (SIGSEGV) while reading it: the file is malformed or not a Fashion-Gen file"

    func testInspectReportsTheCrashAsAnError() throws {
        let r = try CLI.run(["inspect", Self.crash])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderrLines, ["error: \(Self.crash): \(Self.message)"])
        XCTAssertEqual(r.stdout, "")
    }

    func testPretrainOnTheFileFailsWithoutARunFolder() throws {
        let tmp = try CLI.tempDir(prefix: "fvl-h5crash")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let run = tmp.appendingPathComponent("run").path
        let r = try CLI.run(["pretrain", "--config", "mvlt-tiny", "--data", Self.crash, "--out", run, "--steps", "1"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderrLines.last, "error: \(Self.crash): \(Self.message)")
        XCTAssertEqual(r.stderrLines.filter { $0.hasPrefix("error: ") }.count, 1, r.stderr)
        XCTAssertEqual(CLI.files(in: tmp), [], "the failed run left its folder")
    }

    func testTheHiddenCheckCommandItselfCrashesOnIt() throws {
        // What the parent sees from its child: death by SIGSEGV inside libhdf5 (so the containment is needed).
        let r = try CLI.run(["check-hdf5", Self.crash])
        // Foundation's Process gives the signal number as the status of a process a signal ended.
        XCTAssertEqual(r.status, SIGSEGV, "expected SIGSEGV; stderr: \(r.stderr)")
    }
}
