import Foundation
import XCTest

/// `fashionvl pretrain` with a Kaleido-BERT config (pixel-grid features, D = 48): a few steps, exact resume after a
/// kill, the ablation switches, and `evaluate retrieval` (ITM) on the run; without `--features`, the kaleido-prepare
/// cache, whose absence is one error.
final class KaleidoCLITests: XCTestCase {
    static let tinyConfig = """
    {"family": "kaleido", "hidden": 32, "layers": 1, "heads": 4, "intermediate_size": 64, "text_length": 16,
     "feature_dim": 48}
    """
    static let keys = ["total", "amlm", "itm", "rr", "jps", "cp", "g2cm", "b2cm"]

    private func catalog() throws -> (dir: URL, config: URL) {
        let dir = try CLI.tempDir(prefix: "fvl-kaleido")
        let r = try CLI.run(["synth", "--out", dir.appendingPathComponent("data").path, "--products", "30",
                             "--image-size", "64", "--seed", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let config = dir.appendingPathComponent("tiny.json")
        try Data(Self.tinyConfig.utf8).write(to: config)
        return (dir, config)
    }

    private func args(_ dir: URL, _ config: URL, run: String, steps: Int, batch: Int = 4) -> [String] {
        ["pretrain", "--config", config.path, "--data", dir.appendingPathComponent("data").path,
         "--out", dir.appendingPathComponent(run).path, "--steps", "\(steps)", "--batch", "\(batch)", "--threads", "1",
         "--log-every", "1", "--checkpoint-every", "4", "--seed", "3", "--lr", "1e-3", "--features", "pixel-grid"]
    }

    private func losses(_ metrics: URL) throws -> [Int: [String: Double]] {
        var out: [Int: [String: Double]] = [:]
        for line in try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n") {
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard let step = obj["step"] as? Int, obj["total"] != nil else { continue }
            out[step] = obj.compactMapValues { $0 as? Double }.filter { Self.keys.contains($0.key) }
        }
        return out
    }

    func testPretrainResumesExactlyAndEvaluates() throws {
        let (dir, config) = try catalog()
        let steps = 10
        let full = try CLI.run(args(dir, config, run: "full", steps: steps), timeout: 300)
        XCTAssertEqual(full.status, 0, full.stderr)
        let reference = try losses(dir.appendingPathComponent("full/metrics.jsonl"))
        XCTAssertEqual(reference.keys.sorted(), Array(1...steps))
        XCTAssertEqual(reference[1]?.keys.sorted(), Self.keys.sorted(), "every loss is logged")
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(full.stdout.utf8)) as? [String: Any])
        XCTAssertNotNil(summary["rr_acc"])

        let process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = args(dir, config, run: "killed", steps: steps)
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let last = dir.appendingPathComponent("killed/last.json")
        let deadline = Date().addingTimeInterval(240)
        while !FileManager.default.fileExists(atPath: last.path) && process.isRunning && Date() < deadline { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let state = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: last)) as? [String: Any])
        XCTAssertLessThan(try XCTUnwrap(state["step"] as? Int), steps, "the run had finished before the kill")
        let resumed = try CLI.run(args(dir, config, run: "killed", steps: steps) + ["--resume"], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let after = try losses(dir.appendingPathComponent("killed/metrics.jsonl"))
        for step in 1...steps { XCTAssertEqual(after[step], reference[step], "step \(step)") }

        // evaluate retrieval: the ITM scorer by default; ITC is refused in one line.
        let run = dir.appendingPathComponent("full").path, data = dir.appendingPathComponent("data").path
        let eval = try CLI.run(["evaluate", "retrieval", "--checkpoint", run, "--data", data, "--queries", "3", "--draws", "1",
                                "--threads", "1", "--examples", "0"], timeout: 300)
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((j["variant"] as? [String: Any])?["scorer"] as? String, "itm")
        XCTAssertGreaterThan(try XCTUnwrap(j["pairs"] as? Int), 0)
        let itc = try CLI.run(["evaluate", "retrieval", "--checkpoint", run, "--data", data, "--scorer", "itc",
                               "--queries", "3", "--draws", "1", "--threads", "1"], timeout: 120)
        assertOneErrorLine(itc, mentions: [run, "no ITC heads", "--scorer itm"])

        // finetune --task both from the Kaleido run, then evaluate mcr on its held-out products.
        let ft = dir.appendingPathComponent("ft").path
        let tune = try CLI.run(["finetune", "--task", "both", "--checkpoint", run, "--data", data, "--out", ft, "--steps", "3",
                                "--batch", "4", "--threads", "1", "--log-every", "1", "--lr", "1e-3"], timeout: 300)
        XCTAssertEqual(tune.status, 0, tune.stderr)
        let tuned = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(tune.stdout.utf8)) as? [String: Any])
        XCTAssertNotNil(tuned["val_mcr_acc"], tune.stdout)
        let mcr = try CLI.run(["evaluate", "mcr", "--checkpoint", ft, "--data", data, "--batch", "4", "--threads", "1"], timeout: 120)
        XCTAssertEqual(mcr.status, 0, mcr.stderr)
        let pre = try CLI.run(["evaluate", "mcr", "--checkpoint", run, "--data", data])
        assertOneErrorLine(pre, mentions: [run, "finetune"])
    }

    /// `--akpm`, `--masking` and `--camouflage-head` reach the run (recorded in config.json, the switched-off losses
    /// are not logged); an unknown subtask, and a Kaleido option with another family, are one error line each.
    func testAblationSwitches() throws {
        let (dir, config) = try catalog()
        let r = try CLI.run(args(dir, config, run: "abl", steps: 2) + ["--akpm", "rr,cp", "--masking", "random", "--camouflage-head", "contrast"], timeout: 300)
        XCTAssertEqual(r.status, 0, r.stderr)
        let logged = try losses(dir.appendingPathComponent("abl/metrics.jsonl"))
        XCTAssertEqual(logged[1]?.keys.sorted(), ["amlm", "cp", "itm", "rr", "total"])
        let saved = try String(contentsOf: dir.appendingPathComponent("abl/config.json"), encoding: .utf8)
        XCTAssertTrue(saved.contains("\"masking\" : \"random\""), saved)
        XCTAssertTrue(saved.contains("\"camouflage_head\" : \"contrast\""), saved)
        let bad = try CLI.run(args(dir, config, run: "bad", steps: 2) + ["--akpm", "rr,spin"])
        assertOneErrorLine(bad, mentions: ["--akpm", "spin"])
        let other = try CLI.run(["pretrain", "--config", "syncmask-demo", "--data", dir.appendingPathComponent("data").path,
                                 "--out", dir.appendingPathComponent("sm").path, "--steps", "1", "--masking", "random"])
        assertOneErrorLine(other, mentions: ["--masking", "Kaleido-BERT option"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad").path))
    }

    /// The default feature source is the kaleido-prepare cache: a catalog without one is one error line naming the
    /// cache file and saying to run kaleido-prepare, before any run folder is made.
    func testMissingFeatureCacheIsOneErrorNamingItAndKaleidoPrepare() throws {
        let (dir, _) = try catalog()
        let data = dir.appendingPathComponent("data").path
        let out = dir.appendingPathComponent("run").path
        let r = try CLI.run(["pretrain", "--config", "kaleido-demo", "--data", data, "--out", out, "--steps", "1",
                             "--batch", "4", "--threads", "1"], timeout: 120)
        assertOneErrorLine(r, mentions: [data + "/train.h5.kaleido-features.safetensors", "no Kaleido cache file",
                                         "fashionvl kaleido-prepare --data"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// Data-parallel Kaleido-BERT goes through the shared trainer's hooks: `--nproc 2` trains, rank 0 alone writes
    /// the run folder (every metrics record says world size 2, the config records it), the held-out evaluation
    /// runs once, and resuming on another world size is refused (the step is not split-invariant).
    func testTwoRanksTrainThroughTheSharedTrainerAndKeepTheirWorldSize() throws {
        let (dir, config) = try catalog()
        let two = try CLI.run(args(dir, config, run: "two", steps: 3, batch: 2) + ["--nproc", "2"], timeout: 300)
        XCTAssertEqual(two.status, 0, two.stderr)
        let lines = try String(contentsOf: dir.appendingPathComponent("two/metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let steps = records.filter { $0["total"] != nil }
        XCTAssertEqual(steps.compactMap { $0["step"] as? Int }, [1, 2, 3], "one writer")
        XCTAssertTrue(steps.allSatisfy { $0["world_size"] as? Int == 2 })
        XCTAssertEqual(records.filter { $0["val_products"] != nil }.count, 1)
        let saved = try String(contentsOf: dir.appendingPathComponent("two/config.json"), encoding: .utf8)
        XCTAssertTrue(saved.contains("\"worldSize\" : 2"), saved)
        let resumed = try CLI.run(args(dir, config, run: "two", steps: 4, batch: 2) + ["--resume"], timeout: 120)
        assertOneErrorLine(resumed, mentions: ["2 processes", "world size 2"])
    }
}
