// `fashionvl serve` as a process: it opens the fixture's checkpoint, catalog and index, answers on loopback, and
// a SIGTERM shuts it down gracefully: a request in flight is answered, then exit status 0.
import FashionSearch
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

        // A request in flight when SIGTERM comes: its head and half its body are in, the rest follows the signal.
        // It is answered in full, then the process exits 0.
        let body = Array(#"{"query": "black leather jacket", "k": 3}"#.utf8)
        let connection = try LoopbackConnection(port: port, timeout: 30)
        try connection.send(LoopbackConnection.head("POST", "/search/text", headers: ["Content-Type": "application/json"], bodyCount: body.count))
        try connection.send(body.prefix(10))
        try await Task.sleep(for: .milliseconds(300))
        kill(process.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertTrue(process.isRunning, "the server waits for the request in flight")
        try connection.send(body.dropFirst(10))
        let response = try connection.readResponse()
        XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self))
        let answer = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
        XCTAssertEqual((answer?["results"] as? [Any])?.count, 3)
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
