import Foundation
import XCTest

/// `fashionvl evaluate retrieval` and `fashionvl embed` on a 2-step MVLT run: the variant in every printed result
/// and in the result files; ITC (and embed) refused on MVLT with one error line naming the checkpoint.
final class RetrievalCLITests: XCTestCase {
    private func json(_ text: String) throws -> [String: Any] {
        let line = try XCTUnwrap(text.split(separator: "\n").last, "no output")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
    }

    /// A 40-product catalog and a 2-step run of the tiny MVLT config.
    private func fixture() throws -> (dir: URL, data: URL, run: URL) {
        let dir = try CLI.tempDir(prefix: "fvl-retrieval")
        let data = dir.appendingPathComponent("data")
        let synth = try CLI.run(["synth", "--out", data.path, "--products", "40", "--image-size", "64", "--seed", "1"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let config = dir.appendingPathComponent("tiny.json")
        try Data(PretrainCLITests.tinyConfig.utf8).write(to: config)
        let run = dir.appendingPathComponent("run")
        let pre = try CLI.run(["pretrain", "--config", config.path, "--data", data.path, "--out", run.path, "--steps", "2",
                               "--batch", "4", "--threads", "1", "--eval-batches", "1"], timeout: 120)
        XCTAssertEqual(pre.status, 0, pre.stderr)
        return (dir, data, run)
    }

    /// s100 says what it will score before it starts (with a time estimate on a large run), and a run killed while
    /// scoring leaves the previous candidate lists in place (issue 14 item 10).
    func testS100AnnouncesItsWorkAndAKilledRunLeavesNoNewLists() throws {
        let (dir, data, run) = try fixture()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("eval-out")
        let base = ["evaluate", "retrieval", "--checkpoint", run.path, "--data", data.path, "--out", out.path, "--threads", "1"]
        let small = try CLI.run(base + ["--queries", "4", "--draws", "1"], timeout: 120)
        XCTAssertEqual(small.status, 0, small.stderr)
        let pairs = try XCTUnwrap(json(small.stdout)["pairs"] as? Int)
        XCTAssertTrue(small.stderr.contains("retrieval s100: 1 draws × 2 directions, 8 queries, \(pairs) image-text pairs to score\n"),
                      small.stderr)
        let lists = out.appendingPathComponent("eval/s100_draws.json")
        let before = try Data(contentsOf: lists)

        // Many draws: an estimate is printed before scoring; the run is killed once it has said so.
        let errURL = dir.appendingPathComponent("stderr.txt")
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let errHandle = try FileHandle(forWritingTo: errURL)
        let process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = base + ["--draws", "2000", "--seed", "9"]
        process.standardError = errHandle
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        var said = ""
        while process.isRunning && Date() < deadline {
            said = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
            if said.contains("pairs/s") { break }
            usleep(5_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try errHandle.close()
        XCTAssertTrue(said.contains("retrieval s100: 2000 draws × 2 directions, ") && said.contains("image-text pairs to score; about ")
                      && said.contains("pairs/s (timed on one query; --draws and --queries make it smaller)"), said)
        XCTAssertEqual(try Data(contentsOf: lists), before, "the killed run replaced the candidate lists")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("eval").path).filter { $0.contains(".tmp") }
        XCTAssertEqual(leftovers, [])
    }

    func testRetrievalPrintsTheVariantAndMVLTRefusesITC() throws {
        let (dir, data, run) = try fixture()
        defer { try? FileManager.default.removeItem(at: dir) }

        let s100 = try CLI.run(["evaluate", "retrieval", "--checkpoint", run.path, "--data", data.path, "--queries", "4",
                                "--draws", "1", "--threads", "1", "--examples", "1"], timeout: 120)
        XCTAssertEqual(s100.status, 0, s100.stderr)
        let j = try json(s100.stdout)
        let variant = try XCTUnwrap(j["variant"] as? [String: Any], s100.stdout)
        XCTAssertEqual(variant["scorer"] as? String, "itm")
        XCTAssertEqual(variant["text_field"] as? String, "title")
        XCTAssertEqual(variant["ties"] as? String, "keep", "ITM keeps today's draws by default")
        XCTAssertEqual(variant["draws"] as? Int, 1)
        XCTAssertTrue(variant["k"] is NSNull, "k is printed, null without re-ranking")
        XCTAssertTrue(s100.stderr.contains("scorer itm · text title · ties keep · 1 draw"), s100.stderr)
        let file = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("eval/retrieval.json"))) as? [String: Any])
        let row = try XCTUnwrap((file["rows"] as? [[String: Any]])?.first)
        XCTAssertEqual((row["variant"] as? [String: Any])?["ties"] as? String, "keep")

        let full = try CLI.run(["evaluate", "retrieval", "--checkpoint", run.path, "--data", data.path, "--protocol", "full",
                                "--queries", "3", "--threads", "1", "--ties", "distinct-text"], timeout: 120)
        XCTAssertEqual(full.status, 0, full.stderr)
        let f = try json(full.stdout)
        XCTAssertEqual(f["pairs"] as? Int, 2 * 3 * 3, "ITM scores n² pairs per direction")
        XCTAssertEqual((f["variant"] as? [String: Any])?["ties"] as? String, "distinct-text")
        XCTAssertEqual((f["variant"] as? [String: Any])?["draws"] as? Int, 1)
        let fullFile = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("eval/retrieval_full.json"))) as? [String: Any])
        XCTAssertEqual((fullFile["rows"] as? [[String: Any]])?.count, 1)
        let report = try CLI.run(["report", run.path])
        XCTAssertEqual(report.status, 0, report.stderr)
        let html = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<caption>Retrieval, sample-100 protocol. Ours: FashionVL MVLT: scorer itm · text title · ties keep · 1 draw</caption>"))
        XCTAssertTrue(html.contains("Full-catalog ranking"))

        // A catalog without products: each protocol refuses it in one line naming the file (issue 14 item 9).
        let table = dir.appendingPathComponent("empty.csv")
        try Data("image_path,product_id,title,description,category,subcategory\n".utf8).write(to: table)
        let empty = dir.appendingPathComponent("empty.h5").path
        let imported = try CLI.run(["import", "--images", dir.path, "--table", table.path, "--out", empty, "--image-size", "64"])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        for args in [["retrieval"], ["retrieval", "--protocol", "full"], ["mig"]] {
            let r = try CLI.run(["evaluate"] + args + ["--checkpoint", run.path, "--data", empty, "--threads", "1"])
            assertOneErrorLine(r, mentions: [empty, "the evaluated rows hold 0"])
        }

        for scorer in ["itc", "itc+itm"] {
            let r = try CLI.run(["evaluate", "retrieval", "--checkpoint", run.path, "--data", data.path, "--scorer", scorer,
                                 "--threads", "1"])
            assertOneErrorLine(r, mentions: [run.path, "no ITC heads", "--scorer \(scorer)"])
        }
        let out = dir.appendingPathComponent("emb.safetensors")
        let embed = try CLI.run(["embed", "--checkpoint", run.path, "--data", data.path, "--out", out.path, "--threads", "1"])
        assertOneErrorLine(embed, mentions: [run.path, "no ITC heads", "embed"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }
}
