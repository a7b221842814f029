import Foundation
import XCTest

/// `fashionvl pretrain` with a SyncMask config: exact resume (GRIT sampler state included), the mask figure, and
/// inputs SyncMask cannot train on.
final class SyncMaskPretrainCLITests: XCTestCase {
    static let tinyConfig = """
    {"family": "syncmask", "image_encoder": "cnn", "image_size": 32, "patch_size": 16, "cnn_channels": [8, 8, 16, 16],
     "vision_width": 32, "vision_depth": 1, "vision_heads": 4, "text_width": 32, "text_heads": 4, "text_layers": 1,
     "fusion_layers": 2, "intermediate_size": 64, "text_length": 16, "embed_dim": 16, "queue_size": 64,
     "mim_decoder_layers": 1, "sync_layer": -1, "text_pool": "mean"}
    """

    private func catalog(products: Int = 40) throws -> (dir: URL, config: URL) {
        let dir = try CLI.tempDir(prefix: "fvl-syncmask")
        let r = try CLI.run(["synth", "--out", dir.appendingPathComponent("data").path, "--products", "\(products)",
                             "--image-size", "64", "--seed", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let config = dir.appendingPathComponent("tiny.json")
        try Data(Self.tinyConfig.utf8).write(to: config)
        return (dir, config)
    }

    private func args(_ dir: URL, _ config: URL, run: String, steps: Int) -> [String] {
        ["pretrain", "--config", config.path, "--data", dir.appendingPathComponent("data").path,
         "--out", dir.appendingPathComponent(run).path, "--steps", "\(steps)", "--batch", "4", "--threads", "1",
         "--log-every", "1", "--checkpoint-every", "5", "--seed", "3", "--lr", "1e-3", "--grit-search-space", "8",
         "--grit-buffer", "16", "--eval-products", "8"]
    }

    private func losses(_ metrics: URL) throws -> [Int: [String: Double]] {
        var out: [Int: [String: Double]] = [:]
        for line in try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n") {
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard let step = obj["step"] as? Int, obj["total"] != nil else { continue }
            out[step] = obj.compactMapValues { $0 as? Double }.filter { ["total", "itc", "itm", "mlm", "mim"].contains($0.key) }
        }
        return out
    }

    /// Killed after a checkpoint in its first epoch and resumed, the run logs the losses of an uninterrupted one:
    /// the GRIT sampler's collected features and the next epoch's order come back with the checkpoint.
    func testKillAndResumeGivesIdenticalLosses() throws {
        let (dir, config) = try catalog()
        let steps = 16
        let full = try CLI.run(args(dir, config, run: "full", steps: steps), timeout: 300)
        XCTAssertEqual(full.status, 0, full.stderr)
        let reference = try losses(dir.appendingPathComponent("full/metrics.jsonl"))
        XCTAssertEqual(reference.keys.sorted(), Array(1...steps))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("full/syncmask_masks.png").path))

        let process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = args(dir, config, run: "killed", steps: steps)
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let last = dir.appendingPathComponent("killed/last.json")
        let deadline = Date().addingTimeInterval(240)
        while !FileManager.default.fileExists(atPath: last.path) && process.isRunning && Date() < deadline { usleep(5_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let state = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: last)) as? [String: Any])
        XCTAssertLessThan(try XCTUnwrap(state["step"] as? Int), steps, "the run had finished before the kill")
        XCTAssertNotNil(state["extra"] as? String, "the sampler state is saved with the checkpoint")

        let resumed = try CLI.run(args(dir, config, run: "killed", steps: steps) + ["--resume"], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let after = try losses(dir.appendingPathComponent("killed/metrics.jsonl"))
        XCTAssertEqual(after.keys.sorted(), Array(1...steps))
        for step in 1...steps { XCTAssertEqual(after[step], reference[step], "step \(step)") }
    }

    /// The demo's options: in-batch ITC is recorded in the run folder (a resume reads its recipe from there), and
    /// it changes the loss from the first step on (the option is not ignored).
    func testInBatchITCIsRecorded() throws {
        let (dir, config) = try catalog()
        let shared = ["--sampler", "random", "--itm-random-steps", "6"]
        let a = try CLI.run(args(dir, config, run: "ib", steps: 2) + shared + ["--itc", "in-batch"], timeout: 300)
        XCTAssertEqual(a.status, 0, a.stderr)
        let saved = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("ib/config.json"))) as? [String: Any])
        XCTAssertEqual((saved["recipe"] as? [String: Any])?["itc"] as? String, "in-batch")
        let b = try CLI.run(args(dir, config, run: "mom", steps: 2) + shared, timeout: 300)
        XCTAssertEqual(b.status, 0, b.stderr)
        let (ib, mom) = (try losses(dir.appendingPathComponent("ib/metrics.jsonl")), try losses(dir.appendingPathComponent("mom/metrics.jsonl")))
        XCTAssertEqual(ib[1]?["mim"], mom[1]?["mim"], "same weights and batch at step 1")
        // In-batch: log-softmax over the 4 batch texts (≤ log 4 + margin); momentum: over 4 + 64 queue entries.
        XCTAssertLessThan(try XCTUnwrap(ib[1]?["itc"]), 2.0)
        XCTAssertGreaterThan(try XCTUnwrap(mom[1]?["itc"]), 3.0)
    }

    func testInputsSyncMaskCannotTrainOnAreOneErrorLine() throws {
        let (dir, config) = try catalog(products: 1)
        let one = try CLI.run(args(dir, config, run: "one", steps: 2), timeout: 60)
        assertOneErrorLine(one, mentions: ["at least 2"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("one").path), "no run folder is left")

        let misspelt = dir.appendingPathComponent("typo.json")
        try Data(#"{"family": "syncmask", "image_szie": 64}"#.utf8).write(to: misspelt)
        let typo = try CLI.run(["pretrain", "--config", misspelt.path, "--data", dir.appendingPathComponent("data").path,
                                "--out", dir.appendingPathComponent("typo").path])
        assertOneErrorLine(typo, mentions: ["typo.json", "image_szie"])

        let mvltFlag = try CLI.run(args(dir, config, run: "flag", steps: 2) + ["--no-mir"])
        assertOneErrorLine(mvltFlag, mentions: ["--no-mir", "--no-mim"])
        let syncFlag = try CLI.run(["pretrain", "--config", "mvlt-demo", "--data", dir.appendingPathComponent("data").path,
                                    "--out", dir.appendingPathComponent("m").path, "--mask", "random"])
        assertOneErrorLine(syncFlag, mentions: ["--mask", "SyncMask"])
        let (dir40, config40) = try catalog()
        let badSpace = try CLI.run(args(dir40, config40, run: "grit", steps: 2).map { $0 == "8" ? "6" : $0 })
        assertOneErrorLine(badSpace, mentions: ["--grit-search-space 6", "--batch 4"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir40.appendingPathComponent("grit").path), "no run folder is left")
    }

    /// A product without text cannot be a contrastive pair: one error line naming the row, no run folder.
    func testEmptyTextIsOneErrorLine() throws {
        let dir = try CLI.tempDir(prefix: "fvl-syncmask-empty")
        let images = dir.appendingPathComponent("img")
        try CLI.python("cli_import_images.py", [images.path])
        var csv = "image_path,product_id,title,description,category,subcategory\n"
        for id in 1...8 { csv += "\(["red.png", "blue.jpg", "grey.png"][id % 3]),\(id),,A plain product.,TOPS,T-SHIRTS\n" }
        let table = dir.appendingPathComponent("t.csv")
        try Data(csv.utf8).write(to: table)
        let h5 = dir.appendingPathComponent("c.h5").path
        let imported = try CLI.run(["import", "--images", images.path, "--table", table.path, "--out", h5, "--image-size", "32"])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        let config = dir.appendingPathComponent("tiny.json")
        try Data(Self.tinyConfig.utf8).write(to: config)
        let r = try CLI.run(["pretrain", "--config", config.path, "--data", h5, "--out", dir.appendingPathComponent("run").path,
                             "--steps", "2", "--batch", "2", "--sampler", "random", "--threads", "1"], timeout: 60)
        assertOneErrorLine(r, mentions: ["c.h5", "empty name text"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run").path), "no run folder is left")
    }
}
