import Foundation
import XCTest

/// `fashionvl pretrain` on a tiny model and catalog: exact resume after SIGKILL, the run folder, bad input.
final class PretrainCLITests: XCTestCase {
    static let tinyConfig = """
    {"image_size": 64, "text_length": 16, "vocab_size": 30522, "text_hidden": 32,
     "embed_dims": [16, 32, 48, 64], "num_heads": [1, 2, 3, 4], "mlp_ratios": [2, 2, 2, 2],
     "depths": [1, 1, 1, 1], "sr_ratios": [8, 4, 2, 1], "decoder_channels": 8}
    """

    private func catalog() throws -> (dir: URL, config: URL) {
        let dir = try CLI.tempDir(prefix: "fvl-pretrain")
        let r = try CLI.run(["synth", "--out", dir.appendingPathComponent("data").path, "--products", "40",
                             "--image-size", "64", "--seed", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let config = dir.appendingPathComponent("tiny.json")
        try Data(Self.tinyConfig.utf8).write(to: config)
        return (dir, config)
    }

    private func pretrainArgs(_ dir: URL, _ config: URL, run: String, steps: Int) -> [String] {
        ["pretrain", "--config", config.path, "--data", dir.appendingPathComponent("data").path,
         "--out", dir.appendingPathComponent(run).path, "--steps", "\(steps)", "--batch", "4", "--threads", "1",
         "--log-every", "1", "--checkpoint-every", "3", "--seed", "7", "--lr", "1e-3", "--eval-batches", "2"]
    }

    private func losses(_ metrics: URL) throws -> [Int: [String: Double]] {
        var out: [Int: [String: Double]] = [:]
        for line in try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n") {
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard let step = obj["step"] as? Int, obj["total"] != nil else { continue }
            out[step] = obj.compactMapValues { $0 as? Double }.filter { ["total", "mlm", "itm", "mir"].contains($0.key) }
        }
        return out
    }

    /// A run killed with SIGKILL after its first checkpoint, then resumed, logs exactly the losses of an
    /// uninterrupted run with the same seed.
    func testKillAndResumeGivesIdenticalLosses() throws {
        let (dir, config) = try catalog()
        let full = try CLI.run(pretrainArgs(dir, config, run: "full", steps: 8), timeout: 240)
        XCTAssertEqual(full.status, 0, full.stderr)
        let reference = try losses(dir.appendingPathComponent("full/metrics.jsonl"))
        XCTAssertEqual(reference.keys.sorted(), Array(1...8))

        // Start the same run, kill -9 it once a checkpoint exists (it is then somewhere past step 3).
        let process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = pretrainArgs(dir, config, run: "killed", steps: 8)
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let last = dir.appendingPathComponent("killed/last.json")
        let deadline = Date().addingTimeInterval(180)
        while !FileManager.default.fileExists(atPath: last.path) && process.isRunning && Date() < deadline { usleep(5_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertTrue(FileManager.default.fileExists(atPath: last.path), "no checkpoint before the kill")
        let state = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: last)) as? [String: Any])
        let killedAt = try XCTUnwrap(state["step"] as? Int)
        XCTAssertLessThan(killedAt, 8, "the run had finished before the kill: nothing was resumed")

        let resumed = try CLI.run(pretrainArgs(dir, config, run: "killed", steps: 8) + ["--resume"], timeout: 240)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming from step"), resumed.stderr)
        let after = try losses(dir.appendingPathComponent("killed/metrics.jsonl"))
        XCTAssertEqual(after.keys.sorted(), Array(1...8), "metrics.jsonl reads as one run")
        for step in 1...8 {
            XCTAssertEqual(after[step], reference[step], "step \(step)")
        }
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("killed/checkpoints").path)
        XCTAssertFalse(checkpoints.contains { $0.contains(".tmp") }, "temporary files left: \(checkpoints)")
    }

    func testExistingRunIsNotOverwrittenAndBadInputsFail() throws {
        let (dir, config) = try catalog()
        let first = try CLI.run(pretrainArgs(dir, config, run: "r", steps: 2), timeout: 120)
        XCTAssertEqual(first.status, 0, first.stderr)
        let before = try Data(contentsOf: dir.appendingPathComponent("r/metrics.jsonl"))
        let again = try CLI.run(pretrainArgs(dir, config, run: "r", steps: 2), timeout: 60)
        assertOneErrorLine(again, mentions: ["--resume"])
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("r/metrics.jsonl")), before)
        // A run killed before its first checkpoint (config.json only): the refusal says so; --resume starts it again.
        let killed = dir.appendingPathComponent("killed-early")
        try FileManager.default.createDirectory(at: killed, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: dir.appendingPathComponent("r/config.json"), to: killed.appendingPathComponent("config.json"))
        assertOneErrorLine(try CLI.run(pretrainArgs(dir, config, run: "killed-early", steps: 1), timeout: 60),
                           mentions: [killed.path, "stopped before its first checkpoint", "--resume"])
        let restarted = try CLI.run(pretrainArgs(dir, config, run: "killed-early", steps: 1) + ["--resume"], timeout: 120)
        XCTAssertEqual(restarted.status, 0, restarted.stderr)

        let unknown = try CLI.run(["pretrain", "--config", "mvlt-huge", "--data", dir.path, "--out", dir.appendingPathComponent("x").path])
        assertOneErrorLine(unknown, mentions: ["mvlt-huge", "mvlt-demo"])
        let badField = dir.appendingPathComponent("bad.json")
        try Data(#"{"image_size": "large"}"#.utf8).write(to: badField)
        let bad = try CLI.run(["pretrain", "--config", badField.path, "--data", dir.path, "--out", dir.appendingPathComponent("y").path])
        assertOneErrorLine(bad, mentions: ["bad.json", "image_size"])
        let noData = try CLI.run(["pretrain", "--data", "/nonexistent/data", "--out", dir.appendingPathComponent("z").path])
        assertOneErrorLine(noData, mentions: ["/nonexistent/data"])
        let unwritable = try CLI.run(pretrainArgs(dir, config, run: "r", steps: 2).map { $0 == dir.appendingPathComponent("r").path ? "/proc/fvl-run" : $0 })
        assertOneErrorLine(unwritable, mentions: ["/proc/fvl-run"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("x").path))

        // --init-from: start from another run's weights where names and shapes match
        let weights = dir.appendingPathComponent("r/checkpoints/step-000002.safetensors").path
        let warm = try CLI.run(pretrainArgs(dir, config, run: "warm", steps: 1) + ["--init-from", weights], timeout: 120)
        XCTAssertEqual(warm.status, 0, warm.stderr)
        XCTAssertTrue(warm.stderr.contains("initialised"), warm.stderr)
        let unrelated = dir.appendingPathComponent("data/train.h5").path  // not safetensors
        let bad2 = try CLI.run(pretrainArgs(dir, config, run: "warm2", steps: 1) + ["--init-from", unrelated], timeout: 60)
        assertOneErrorLine(bad2, mentions: ["train.h5"])
    }

    /// Data smaller than the model's image size: one notice for the run (training and validation loaders alike),
    /// naming the file and both sizes (issue 14 item 10).
    func testUpsampledDataIsNoticedOnce() throws {
        let dir = try CLI.tempDir(prefix: "fvl-pretrain-up")
        defer { try? FileManager.default.removeItem(at: dir) }
        let synth = try CLI.run(["synth", "--out", dir.appendingPathComponent("data").path, "--products", "40",
                                 "--image-size", "64", "--seed", "1"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let config = dir.appendingPathComponent("tiny128.json")
        try Data(Self.tinyConfig.replacingOccurrences(of: #""image_size": 64"#, with: #""image_size": 128"#).utf8).write(to: config)
        let r = try CLI.run(pretrainArgs(dir, config, run: "up", steps: 1), timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        let notices = r.stderrLines.filter { $0.hasPrefix("notice: ") }
        XCTAssertEqual(notices, ["notice: \(dir.appendingPathComponent("data/train.h5").path): images are 64 px, upsampled to "
            + "the model's 128 px (no detail is added; import or synthesize at 128 px for sharper inputs)"], r.stderr)
    }

    /// A training split with fewer rows than the batch gives no batch at all: one error line, not an endless loop.
    func testFewerRowsThanBatchIsAnErrorNotAHang() throws {
        let (dir, config) = try catalog()
        let args = pretrainArgs(dir, config, run: "small", steps: 2).map { $0 == "4" ? "512" : $0 }
        let r = try CLI.run(args, timeout: 120)
        assertOneErrorLine(r, mentions: [dir.appendingPathComponent("data/train.h5").path, "no batch", "batch size 512"])
        // It failed before its first checkpoint: no run folder is left, so the rerun is not refused with
        // "already holds a run" (issue 14 item 6).
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("small").path), "run folder left behind")
        let again = try CLI.run(args, timeout: 120)
        assertOneErrorLine(again, mentions: ["no batch", "batch size 512"])
    }
}
