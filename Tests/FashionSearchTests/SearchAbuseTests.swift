// Abuse of a real server on loopback (raw sockets): a slow body gets 408, a head that never ends is cut by the
// idle timeout, a flood beyond the model's queue gets 503 `busy` at once, a request that waits too long gets
// 503 `timeout` — each a JSON error, and the server answers normally while and after it happens. In-process:
// a PNG decompression bomb (a real one: 64 Mpixel, 8 KB) and a 1 MB query.
import FashionSearch
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import XCTest

final class SearchAbuseTests: XCTestCase {
    /// Runs the service on a free loopback port while `body` runs on this thread.
    private func withServer(limits: SearchLimits, pool: InferencePool? = nil, _ body: (Int) throws -> Void) throws {
        let made = try SearchFixture.get()
        let ready = DispatchSemaphore(value: 0), stopped = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var port = 0
        let app = buildApplication(engine: made.engine, port: 0, limits: limits, pool: pool) { channel in
            port = channel.localAddress?.port ?? 0
            ready.signal()
        }
        let task = Task {
            try? await app.run()
            stopped.signal()
        }
        defer {
            task.cancel()
            _ = stopped.wait(timeout: .now() + 20)
        }
        XCTAssertEqual(ready.wait(timeout: .now() + 30), .success, "the server started")
        try body(port)
    }

    private static let query = Data(#"{"query": "black leather jacket", "k": 3}"#.utf8)

    private func error(_ r: LoopbackResponse) throws -> String? {
        XCTAssertEqual(r.headers["content-type"], "application/json")
        let object = try JSONSerialization.jsonObject(with: r.body) as? [String: Any]
        let e = object?["error"] as? [String: Any]
        XCTAssertFalse((e?["message"] as? String ?? "").isEmpty)
        return e?["code"] as? String
    }

    private func search(_ port: Int) throws -> LoopbackResponse {
        try LoopbackConnection(port: port, timeout: 20).request("POST", "/search/text", headers: ["Content-Type": "application/json"], body: Self.query)
    }

    func testSlowBodyGets408AndSlowHeadIsClosedWhileOthersAreServed() throws {
        try withServer(limits: SearchLimits(bodyTimeout: .seconds(1), idleTimeout: .seconds(2))) { port in
            // A body announced as 80 bytes of which 10 arrive.
            let slowBody = try LoopbackConnection(port: port, timeout: 15)
            try slowBody.send(LoopbackConnection.head("POST", "/search/text", headers: ["Content-Type": "application/json"], bodyCount: 80))
            try slowBody.send(Array(#"{"query": "#.utf8))
            // A head that never ends.
            let slowHead = try LoopbackConnection(port: port, timeout: 15)
            try slowHead.send(Array("POST /search/text HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8))
            // Meanwhile a normal request is answered.
            XCTAssertEqual(try search(port).status, 200)
            let timedOut = try slowBody.readResponse()
            XCTAssertEqual(timedOut.status, 408)
            XCTAssertEqual(try error(timedOut), "request_timeout")
            XCTAssertTrue(slowHead.closedByServer(), "the idle timeout closes a connection whose head never ends")
            XCTAssertEqual(try search(port).status, 200, "still serving")
        }
    }

    func testFloodBeyondThePoolGets503AndServingResumes() throws {
        let pool = InferencePool(queueLimit: 2, queueTimeout: .seconds(60))
        try withServer(limits: SearchLimits(), pool: pool) { port in
            // Two slow model jobs fill the queue.
            let gate = DispatchSemaphore(value: 0), done = DispatchGroup()
            for _ in 0..<2 {
                done.enter()
                Task { _ = try? await pool.run { gate.wait() }; done.leave() }
            }
            while pool.inFlight < 2 { usleep(5000) }
            final class Tally: @unchecked Sendable {
                let lock = NSLock()
                var statuses: [Int: Int] = [:], codes: Set<String> = []
                func add(_ status: Int, _ code: String) { lock.lock(); statuses[status, default: 0] += 1; codes.insert(code); lock.unlock() }
            }
            let tally = Tally()
            DispatchQueue.concurrentPerform(iterations: 40) { _ in
                do {
                    let r = try self.search(port)
                    tally.add(r.status, try self.error(r) ?? "")
                } catch {
                    tally.add(-1, "\(error)")
                }
            }
            XCTAssertEqual(tally.statuses, [503: 40], "every request of the flood is refused at once, none hangs or fails: \(tally.codes)")
            XCTAssertEqual(tally.codes, ["busy"])
            gate.signal(); gate.signal()
            done.wait()
            XCTAssertEqual(try search(port).status, 200, "serving again once the queue drains")
        }
    }

    func testRequestWaitingPastTheQueueTimeoutGets503() async throws {
        let pool = InferencePool(queueLimit: 4, queueTimeout: .milliseconds(200))
        let gate = DispatchSemaphore(value: 0)
        async let blocker: Void = pool.run { gate.wait() }
        while pool.inFlight < 1 { try await Task.sleep(for: .milliseconds(5)) }
        async let waiting: Int = pool.run { 7 }
        try await Task.sleep(for: .milliseconds(400))
        gate.signal()
        do {
            _ = try await waiting
            XCTFail("a request that waited past the queue timeout must not run")
        } catch let e as SearchRequestError {
            XCTAssertEqual(e.status, 503)
            XCTAssertEqual(e.code, "timeout")
        }
        try await blocker
        let again = try await pool.run { 8 }
        XCTAssertEqual(again, 8)
    }

    func testDecompressionBombAndMegabyteQuery() async throws {
        let made = try SearchFixture.get()
        let bomb = try Self.pngBomb(side: 8192)
        XCTAssertLessThan(bomb.count, 64 << 10, "a small file")
        let app = buildApplication(engine: made.engine, limits: SearchLimits(maxUploadBytes: 64 << 10))
        try await app.test(.router) { client in
            let r = try await client.execute(uri: "/search/image", method: .post, headers: [.contentType: "image/png"], body: ByteBuffer(bytes: bomb))
            XCTAssertEqual(r.status, .contentTooLarge, String(buffer: r.body))
            XCTAssertTrue(String(buffer: r.body).contains("image_too_large"), String(buffer: r.body))
            let megabyte = ByteBuffer(string: #"{"query": ""# + String(repeating: "x", count: 1 << 20) + #""}"#)
            let q = try await client.execute(uri: "/search/text", method: .post, headers: [.contentType: "application/json"], body: megabyte)
            XCTAssertEqual(q.status, .contentTooLarge)
            XCTAssertTrue(String(buffer: q.body).contains("payload_too_large"))
            for id in ["%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..", "-1", "99999999999999999999"] {
                let bad = try await client.execute(uri: "/items/\(id)", method: .get)
                XCTAssertEqual(bad.status, .badRequest, id)
                XCTAssertTrue(String(buffer: bad.body).contains("invalid_id"), id)
            }
            let ok = try await client.execute(uri: "/search/text", method: .post, body: ByteBuffer(string: #"{"query": "dress", "k": 2}"#))
            XCTAssertEqual(ok.status, .ok, "still serving")
        }
    }

    /// A valid PNG of side² one-bit pixels, all zero: a few KB that inflate to side²/8 bytes.
    static func pngBomb(side: Int) throws -> Data {
        let script = """
        import struct, sys, zlib
        s = int(sys.argv[1])
        def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
        raw = (b"\\x00" + b"\\x00" * (s // 8)) * s
        sys.stdout.buffer.write(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", s, s, 1, 0, 0, 0, 0))
                                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, "\(side)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, data.count > 8 else { throw SearchFixture.FixtureError("python3 could not write the PNG bomb") }
        return data
    }
}
