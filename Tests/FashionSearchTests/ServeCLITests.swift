// `fashionvl serve` as a process: it opens the fixture's checkpoint, catalog and index, answers on loopback, and
// a SIGTERM shuts it down gracefully (exit status 0).
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

final class ServeCLITests: XCTestCase {
    func testServeAnswersAndStopsOnSIGTERM() async throws {
        let made = try SearchFixture.get()
        let port = Int.random(in: 20_000..<40_000)
        let process = Process()
        process.executableURL = try SearchFixture.binary()
        process.arguments = ["serve", "--checkpoint", made.run, "--catalog", made.catalogPath, "--port", "\(port)", "--threads", "1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        let url = try XCTUnwrap(URL(string: "http://127.0.0.1:\(port)/healthz"))
        var health: [String: Any]?
        let deadline = Date().addingTimeInterval(90)
        while health == nil, process.isRunning, Date() < deadline {
            if let (data, _) = try? await URLSession.shared.data(from: url) {
                health = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            } else {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        XCTAssertEqual(health?["status"] as? String, "ok", "the server answered /healthz")
        XCTAssertEqual(health?["rows"] as? String, "\(made.catalog.rowCount)")

        kill(process.processIdentifier, SIGTERM)
        let stop = Date().addingTimeInterval(30)
        while process.isRunning, Date() < stop { try await Task.sleep(for: .milliseconds(50)) }
        XCTAssertFalse(process.isRunning, "SIGTERM stops the server")
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
    }

    /// An index made for another catalog is refused before the server starts: exit 1, the file and field named.
    func testServeRefusesAnIndexOfAnotherCatalog() throws {
        let made = try SearchFixture.get()
        let other = made.dir.appendingPathComponent("data/validation.h5").path
        XCTAssertThrowsError(try SearchFixture.runCLI(["serve", "--checkpoint", made.run, "--catalog", other, "--index", made.indexPath, "--text-field", "description",
                                                       "--port", "1"])) { e in
            let message = "\(e)"
            XCTAssertTrue(message.contains("exited 1"), message)
            XCTAssertTrue(message.contains(made.indexPath) && message.contains("row count"), message)
        }
        XCTAssertThrowsError(try SearchFixture.runCLI(["serve", "--catalog", other])) { e in
            XCTAssertTrue("\(e)".contains("--demo"), "\(e)")
        }
    }
}
