import Foundation
import XCTest

/// Data-parallel `evaluate retrieval` and `embed` over c10d's Gloo on loopback: 2 processes (`--nproc 2`) give the
/// results of 1 process. A 2-step tiny SyncMask run (a dual encoder with an ITM head) on a 43-product catalog;
/// the evaluations read its train.h5 (95 rows, 37 products: neither splits evenly in 2), with batches of 4 so
/// that the embeddings are split in several whole batches. The catalog and the run are made once for the class.
final class DistributedEvalCLITests: XCTestCase {
    private typealias Fixture = (dir: URL, data: String, run: String)
    nonisolated(unsafe) private static var made: Result<Fixture, Error>?

    override class func tearDown() {
        if case let .success(f)? = made { try? FileManager.default.removeItem(at: f.dir) }
        made = nil
        super.tearDown()
    }

    private func fixture() throws -> Fixture {
        if Self.made == nil { Self.made = Result { try Self.make() } }
        return try Self.made!.get()
    }

    private static func make() throws -> Fixture {
        let dir = try CLI.tempDir(prefix: "fvl-dist-eval")
        let data = dir.appendingPathComponent("data")
        let synth = try CLI.run(["synth", "--out", data.path, "--products", "43", "--image-size", "64", "--seed", "1"])
        guard synth.status == 0 else { throw CLIError("synth: \(synth.stderr)") }
        let config = dir.appendingPathComponent("tiny.json")
        try Data(SyncMaskPretrainCLITests.tinyConfig.utf8).write(to: config)
        let run = dir.appendingPathComponent("run")
        let pre = try CLI.run(["pretrain", "--config", config.path, "--data", data.path, "--out", run.path, "--steps", "2",
                               "--batch", "4", "--threads", "1", "--seed", "3", "--grit-search-space", "8",
                               "--grit-buffer", "16", "--eval-products", "8"], timeout: 120)
        guard pre.status == 0 else { throw CLIError("pretrain: \(pre.stderr)") }
        return (dir, data.appendingPathComponent("train.h5").path, run.path)
    }

    /// Runs `args` in 1 process and with `--nproc 2`, each writing under its own folder; returns both outputs.
    private func oneAndTwo(_ args: [String], out: (String) -> [String]) throws -> (one: CLI.Output, two: CLI.Output) {
        let one = try CLI.run(args + out("one"), timeout: 120)
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try CLI.run(args + out("two") + ["--nproc", "2"], timeout: 120)
        XCTAssertEqual(two.status, 0, two.stderr)
        XCTAssertTrue(two.stderr.contains("launched 2 ranks"), two.stderr)
        XCTAssertEqual(two.stdout.split(separator: "\n").count, 1, "only rank 0 prints: \(two.stdout)")
        return (one, two)
    }

    private func json(_ text: String) throws -> Any {
        let line = try XCTUnwrap(text.split(separator: "\n").last, "no output")
        return try JSONSerialization.jsonObject(with: Data(line.utf8))
    }

    private func json(file: URL) throws -> Any { try JSONSerialization.jsonObject(with: Data(contentsOf: file)) }

    /// Every sample-100 scorer (ITC: embeddings split; ITM and ITC+ITM: each draw's 9 queries split 5 + 4):
    /// the printed result, retrieval.json, the candidate lists and the examples of 2 processes are those of 1.
    func testS100OnTwoRanksEqualsOneRank() throws {
        let (dir, data, run) = try fixture()
        for scorer in ["itc", "itm", "itc+itm"] {
            let args = ["evaluate", "retrieval", "--checkpoint", run, "--data", data, "--scorer", scorer, "--queries", "9",
                        "--draws", "2", "--k", "8", "--batch", "4", "--threads", "1", "--examples", "2"]
            let outs = { (name: String) in dir.appendingPathComponent("s100-\(scorer)-\(name)") }
            let (one, two) = try oneAndTwo(args) { ["--out", outs($0).path] }
            assertSame(try json(one.stdout), try json(two.stdout), "\(scorer) printed result")
            let pairs = try XCTUnwrap((try json(two.stdout) as? [String: Any])?["pairs"] as? Int)
            // Equal to 1 process's count (above): every rank's pairs are counted.
            switch scorer {
            case "itc": XCTAssertEqual(pairs, 0)
            case "itc+itm": XCTAssertEqual(pairs, 2 * 2 * 9 * 8, "k pairs per query")
            default: XCTAssertGreaterThan(pairs, 2 * 2 * 9 * 8)
            }
            for file in ["eval/retrieval.json", "eval/s100_draws.json", "eval/examples.json"] {
                assertSame(try json(file: outs("one").appendingPathComponent(file)),
                           try json(file: outs("two").appendingPathComponent(file)), "\(scorer) \(file)")
            }
        }
    }

    /// Full retrieval over 37 products: ITC (galleries embedded in 10 batches split 5 + 5; one block of queries)
    /// and ITM (one query per block: 37 blocks split 19 + 18).
    func testFullRetrievalOnTwoRanksEqualsOneRank() throws {
        let (dir, data, run) = try fixture()
        for scorer in ["itc", "itm"] {
            let args = ["evaluate", "retrieval", "--checkpoint", run, "--data", data, "--protocol", "full", "--scorer", scorer,
                        "--batch", "4", "--threads", "1"]
            let outs = { (name: String) in dir.appendingPathComponent("full-\(scorer)-\(name)") }
            let (one, two) = try oneAndTwo(args) { ["--out", outs($0).path] }
            let printed = try XCTUnwrap(try json(two.stdout) as? [String: Any])
            XCTAssertEqual(printed["products"] as? Int, 37)
            XCTAssertEqual(printed["pairs"] as? Int, scorer == "itm" ? 2 * 37 * 37 : 0)
            assertSame(try json(one.stdout), printed, "\(scorer) printed result")
            assertSame(try json(file: outs("one").appendingPathComponent("eval/retrieval_full.json")),
                       try json(file: outs("two").appendingPathComponent("eval/retrieval_full.json")), "\(scorer) retrieval_full.json")
        }
    }

    /// `embed` of 95 rows in batches of 4 (24 batches: rows 0..<48 on rank 0, 48..<95 on rank 1): the file rank 0
    /// writes holds the embeddings, ids and rows of the 1-process file, in the same order; so does the file of two
    /// ranks started torchrun-style (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK).
    func testEmbedOnTwoRanksEqualsOneRankWithAnOddRowCount() throws {
        let (dir, data, run) = try fixture()
        let file = { (name: String) in dir.appendingPathComponent("\(name).safetensors").path }
        let (one, two) = try oneAndTwo(["embed", "--checkpoint", run, "--data", data, "--batch", "4", "--threads", "1"]) {
            ["--out", file($0)]
        }
        let summary = try XCTUnwrap(try json(two.stdout) as? [String: Any])
        XCTAssertEqual(summary["count"] as? Int, 95)
        assertSame(try json(one.stdout), summary, "embed summary")
        let a = try SafeTensorsFile(path: file("one")), b = try SafeTensorsFile(path: file("two"))
        XCTAssertEqual(a.metadata, b.metadata)
        XCTAssertEqual(Set(a.tensors.keys), ["image_embeddings", "text_embeddings", "product_ids", "rows"])
        for name in ["product_ids", "rows"] {
            XCTAssertEqual(a.tensors[name]?.shape, [95], name)
            XCTAssertEqual(a.tensors[name]?.bytes, b.tensors[name]?.bytes, "\(name): not the same ids in the same order")
        }
        XCTAssertEqual(try a.int64("rows"), Array(0..<95))
        for name in ["image_embeddings", "text_embeddings"] {
            let x = try XCTUnwrap(a.tensors[name]), y = try XCTUnwrap(b.tensors[name])
            XCTAssertEqual(x.shape, [95, 16], name)
            XCTAssertEqual(x.shape, y.shape, name)
            let d = zip(try a.float32(name), try b.float32(name)).map { abs($0 - $1) }.max() ?? .infinity
            print("embed 2 ranks vs 1: \(name) max |Δ| \(d)")
            XCTAssertLessThanOrEqual(d, 1e-6, "\(name): max |Δ| \(d)")
        }

        // torchrun-style: each rank started by hand with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and LOCAL_RANK
        // in its environment writes the same file as --nproc 2.
        let port = try DistributedCLITests.freePort()
        let ranks = try (0..<2).map { r -> Process in
            let p = Process()
            p.executableURL = try CLI.binary()
            p.arguments = ["embed", "--checkpoint", run, "--data", data, "--batch", "4", "--threads", "1", "--out", file("env")]
            var env = ProcessInfo.processInfo.environment
            env.merge(["RANK": "\(r)", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "\(port)",
                       "LOCAL_RANK": "\(r)"]) { $1 }
            p.environment = env
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        let deadline = Date().addingTimeInterval(120)
        while ranks.contains(where: \.isRunning) && Date() < deadline { usleep(50_000) }
        for p in ranks where p.isRunning { p.terminate() }
        for p in ranks { p.waitUntilExit() }
        XCTAssertEqual(ranks.map(\.terminationStatus), [0, 0])
        let c = try SafeTensorsFile(path: file("env"))
        for name in ["image_embeddings", "text_embeddings", "product_ids", "rows"] {
            XCTAssertEqual(c.tensors[name]?.bytes, b.tensors[name]?.bytes, "\(name): torchrun's environment vs --nproc 2")
        }
    }

    /// JSON values equal up to 1e-6 in numbers, ignoring timings and output paths.
    private func assertSame(_ a: Any, _ b: Any, _ what: String, path: String = "", file: StaticString = #filePath, line: UInt = #line) {
        let ignored: Set<String> = ["seconds", "wallSeconds", "wall_seconds", "file", "out"]
        switch (a, b) {
        case let (x as [String: Any], y as [String: Any]):
            XCTAssertEqual(Set(x.keys).subtracting(ignored), Set(y.keys).subtracting(ignored), "\(what) \(path)", file: file, line: line)
            for (k, v) in x where !ignored.contains(k) {
                guard let w = y[k] else { continue }
                assertSame(v, w, what, path: path + "." + k, file: file, line: line)
            }
        case let (x as [Any], y as [Any]):
            XCTAssertEqual(x.count, y.count, "\(what) \(path)", file: file, line: line)
            for (i, (v, w)) in zip(x, y).enumerated() { assertSame(v, w, what, path: path + "[\(i)]", file: file, line: line) }
        case let (x as String, y as String):
            // Notes end in the wall time ("… in 3 s").
            let strip = { (s: String) in s.replacingOccurrences(of: #" in \d+ s"#, with: "", options: .regularExpression) }
            XCTAssertEqual(strip(x), strip(y), "\(what) \(path)", file: file, line: line)
        case let (x as NSNumber, y as NSNumber):
            XCTAssertEqual(x.doubleValue, y.doubleValue, accuracy: 1e-6, "\(what) \(path)", file: file, line: line)
        case (is NSNull, is NSNull):
            break
        default:
            XCTFail("\(what) \(path): \(a) vs \(b)", file: file, line: line)
        }
    }
}

/// A safetensors file read without the package's libraries: an 8-byte little-endian header length, the JSON
/// header ({name: {dtype, shape, data_offsets}}, "__metadata__"), then the data.
private struct SafeTensorsFile {
    struct Entry { var dtype: String; var shape: [Int]; var bytes: Data }
    var tensors: [String: Entry] = [:]
    var metadata: [String: String] = [:]

    init(path: String) throws {
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = Int(raw.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: raw.subdata(in: 8..<(8 + n))) as? [String: Any])
        for (name, value) in header {
            if name == "__metadata__" { metadata = value as? [String: String] ?? [:]; continue }
            let e = try XCTUnwrap(value as? [String: Any], name)
            let offsets = try XCTUnwrap(e["data_offsets"] as? [Int], name)
            tensors[name] = Entry(dtype: e["dtype"] as? String ?? "", shape: e["shape"] as? [Int] ?? [],
                                  bytes: raw.subdata(in: (8 + n + offsets[0])..<(8 + n + offsets[1])))
        }
    }

    func float32(_ name: String) throws -> [Float] {
        let e = try XCTUnwrap(tensors[name], name)
        XCTAssertEqual(e.dtype, "F32", name)
        return e.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func int64(_ name: String) throws -> [Int] {
        let e = try XCTUnwrap(tensors[name], name)
        XCTAssertEqual(e.dtype, "I64", name)
        return e.bytes.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }
    }
}
