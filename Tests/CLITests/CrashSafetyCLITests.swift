import Foundation
import XCTest

/// Issue 14 part 4: `kill -9` at seeded moments of a pretraining run (one of them while a checkpoint is being
/// written) resumes to the losses of an uninterrupted run; a write that runs out of room (RLIMIT_FSIZE: writes
/// past the limit fail with EFBIG) during a checkpoint or an import says so on one error line and leaves the
/// previous output intact and no temp file behind.
final class CrashSafetyCLITests: XCTestCase {
    private func catalog() throws -> (dir: URL, config: URL) {
        let dir = try CLI.tempDir(prefix: "fvl-crash")
        let r = try CLI.run(["synth", "--out", dir.appendingPathComponent("data").path, "--products", "40",
                             "--image-size", "64", "--seed", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let config = dir.appendingPathComponent("tiny.json")
        try Data(PretrainCLITests.tinyConfig.utf8).write(to: config)
        return (dir, config)
    }

    private func args(_ dir: URL, _ config: URL, run: String, steps: Int, every: Int) -> [String] {
        ["pretrain", "--config", config.path, "--data", dir.appendingPathComponent("data").path,
         "--out", dir.appendingPathComponent(run).path, "--steps", "\(steps)", "--batch", "4", "--threads", "1",
         "--log-every", "1", "--checkpoint-every", "\(every)", "--seed", "7", "--lr", "1e-3", "--eval-batches", "2"]
    }

    /// Loss records by step; each step must be logged once (a resume drops what followed its checkpoint).
    private func losses(_ metrics: URL) throws -> [Int: [String: Double]] {
        var out: [Int: [String: Double]] = [:]
        for line in try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n") {
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "bad line: \(line)")
            guard let step = obj["step"] as? Int, obj["total"] != nil else { continue }
            XCTAssertNil(out[step], "step \(step) is logged twice")
            out[step] = obj.compactMapValues { $0 as? Double }.filter { ["total", "mlm", "itm", "mir"].contains($0.key) }
        }
        return out
    }

    private func lastStep(_ metrics: URL) -> Int {
        guard let text = try? String(contentsOf: metrics, encoding: .utf8) else { return 0 }
        return text.split(separator: "\n").compactMap { line -> Int? in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return obj["step"] as? Int
        }.max() ?? 0
    }

    private func tempFiles(_ folder: URL) -> [String] {
        CLI.files(in: folder).filter { $0.hasPrefix(".") && $0.contains("tmp") }
    }

    /// Five SIGKILLs at seeded moments spread over the run (after a seeded step is logged plus a seeded delay;
    /// the third as soon as a checkpoint's temp file appears, i.e. mid-write), each followed by `--resume`: the
    /// final metrics.jsonl holds every step once, with exactly the losses of an uninterrupted run.
    func testFiveKillsAnywhereResumeToIdenticalLosses() throws {
        let (dir, config) = try catalog()
        let steps = 12
        let full = try CLI.run(args(dir, config, run: "full", steps: steps, every: 2), timeout: 300)
        XCTAssertEqual(full.status, 0, full.stderr)
        let reference = try losses(dir.appendingPathComponent("full/metrics.jsonl"))
        XCTAssertEqual(reference.keys.sorted(), Array(1...steps))

        var rng = SplitMix(seed: 14)
        let run = dir.appendingPathComponent("killed")
        let metrics = run.appendingPathComponent("metrics.jsonl"), checkpoints = run.appendingPathComponent("checkpoints")
        var killedMidWrite = false
        for kill in 0..<5 {
            // Kill k waits for a step in the k-th fifth of the run (steps 1…11), then 0–40 ms more.
            let lo = 1 + kill * (steps - 1) / 5, hi = max(lo, (kill + 1) * (steps - 1) / 5)
            let target = lo + Int(rng.next() % UInt64(hi - lo + 1))
            let extraMicros = useconds_t(rng.next() % 40_000)
            let process = Process()
            process.executableURL = try CLI.binary()
            process.arguments = args(dir, config, run: "killed", steps: steps, every: 2) + (kill == 0 ? [] : ["--resume"])
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(240)
            if kill == 2 {
                // Mid-checkpoint: poll for a temp file of a checkpoint being written.
                while process.isRunning && Date() < deadline && tempFiles(checkpoints).isEmpty { usleep(200) }
                if process.isRunning && !tempFiles(checkpoints).isEmpty { killedMidWrite = true }
            } else {
                while process.isRunning && Date() < deadline && lastStep(metrics) < target { usleep(2_000) }
                usleep(extraMicros)
            }
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, "kill \(kill + 1) (after step \(target)): the run had ended")
            if kill == 2 {
                XCTAssertTrue(killedMidWrite, "no checkpoint temp file was seen before the run ended")
                XCTAssertFalse(tempFiles(checkpoints).isEmpty, "the kill mid-write leaves the temp file (removed by the next save)")
            }
        }
        let resumed = try CLI.run(args(dir, config, run: "killed", steps: steps, every: 2) + ["--resume"], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let after = try losses(metrics)
        XCTAssertEqual(after.keys.sorted(), Array(1...steps))
        for step in 1...steps { XCTAssertEqual(after[step], reference[step], "step \(step)") }
        XCTAssertEqual(tempFiles(checkpoints), [], "a later checkpoint removes the temp files of interrupted writes")
        XCTAssertEqual(tempFiles(run), [])
    }

    /// Runs `fashionvl args…` under `ulimit -f blocks` (1024-byte blocks), SIGXFSZ ignored, so that a write past
    /// the limit fails with EFBIG as on a full disk.
    private func runLimited(_ args: [String], blocks: Int, timeout: TimeInterval = 300) throws -> CLI.Output {
        let quoted = try ([CLI.binary().path] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let script = "trap '' XFSZ; ulimit -f \(blocks); exec " + quoted.joined(separator: " ")
        return try CLI.execute(URL(fileURLWithPath: "/bin/bash"), ["-c", script], timeout: timeout)
    }

    /// A checkpoint that cannot be written: one error line naming the checkpoint file and the cause; last.json
    /// still names the previous checkpoint, which loads (the run resumes from it to the uninterrupted losses).
    func testCheckpointWritePastTheLimitKeepsThePreviousCheckpoint() throws {
        let (dir, config) = try catalog()
        // A 4-step run killed once its step-2 checkpoint is complete (a resume keeps the saved step count).
        let run = dir.appendingPathComponent("run")
        let lastURL = run.appendingPathComponent("last.json")
        let process = Process()
        process.executableURL = try CLI.binary()
        process.arguments = args(dir, config, run: "run", steps: 4, every: 2)
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(240)
        while !FileManager.default.fileExists(atPath: lastURL.path) && process.isRunning && Date() < deadline { usleep(1_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "the run had ended before the kill")
        let lastBefore = try Data(contentsOf: lastURL)
        let ckpt = run.appendingPathComponent("checkpoints/step-000002.safetensors")
        let ckptBefore = try Data(contentsOf: ckpt)
        XCTAssertGreaterThan(ckptBefore.count, 2 << 20, "the limit below must be smaller than a checkpoint")

        let full = try runLimited(args(dir, config, run: "run", steps: 4, every: 2) + ["--resume"], blocks: 1024)
        // A resume says where it starts from ("resuming from step 2 …") before it fails: one error line, the last.
        XCTAssertNotEqual(full.status, 0, full.stderr)
        let errors = full.stderrLines.filter { $0.hasPrefix("error: ") }
        XCTAssertEqual(errors.count, 1, full.stderr)
        XCTAssertEqual(errors.last, full.stderrLines.last, full.stderr)
        for m in ["step-000004.safetensors", "File too large"] {
            XCTAssertTrue(errors.last?.contains(m) == true, "the error line should mention '\(m)': \(full.stderr)")
        }
        XCTAssertEqual(try Data(contentsOf: lastURL), lastBefore, "last.json still names the previous checkpoint")
        XCTAssertEqual(try Data(contentsOf: ckpt), ckptBefore)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoints/step-000004.safetensors").path))
        XCTAssertEqual(tempFiles(run.appendingPathComponent("checkpoints")), [], "no partial temp file remains")
        XCTAssertEqual(tempFiles(run), [])

        // The previous checkpoint loads: resuming without the limit gives the uninterrupted run's losses.
        let resumed = try CLI.run(args(dir, config, run: "run", steps: 4, every: 2) + ["--resume"], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let straight = try CLI.run(args(dir, config, run: "straight", steps: 4, every: 2), timeout: 300)
        XCTAssertEqual(straight.status, 0, straight.stderr)
        XCTAssertEqual(try losses(run.appendingPathComponent("metrics.jsonl")),
                       try losses(dir.appendingPathComponent("straight/metrics.jsonl")))
    }

    /// An import whose output cannot be written: one error line naming the output and the cause; the previous
    /// file at --out is unchanged and still reads; no temp file remains.
    func testImportPastTheLimitKeepsThePreviousOutput() throws {
        let dir = try CLI.tempDir(prefix: "fvl-crash-import")
        let images = dir.appendingPathComponent("img")
        try CLI.python("cli_import_images.py", [images.path])
        var csv = "image_path,product_id,title,description,category,subcategory\n"
        for id in 1...6 { csv += "\(["red.png", "blue.jpg", "grey.png"][id % 3]),\(id),Shirt \(id),A plain shirt.,TOPS,T-SHIRTS\n" }
        let table = dir.appendingPathComponent("t.csv")
        try Data(csv.utf8).write(to: table)
        let out = dir.appendingPathComponent("out").appendingPathComponent("c.h5")
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
        let small = try CLI.run(["import", "--images", images.path, "--table", table.path, "--out", out.path, "--image-size", "32"])
        XCTAssertEqual(small.status, 0, small.stderr)
        let before = try Data(contentsOf: out)

        // 6 images of 256² · 3 bytes (1.2 MB) do not fit in 512 KB.
        let big = try runLimited(["import", "--images", images.path, "--table", table.path, "--out", out.path,
                                  "--image-size", "256"], blocks: 512)
        assertOneErrorLine(big, mentions: ["c.h5", "File too large"])
        XCTAssertEqual(try Data(contentsOf: out), before, "the previous output is unchanged")
        XCTAssertEqual(tempFiles(out.deletingLastPathComponent()), [], "no partial temp file remains")
        let summary = try InspectSummary.parse(try CLI.run(["inspect", out.path]))
        XCTAssertEqual(summary.products, 6)
        XCTAssertEqual(summary.imageSize, 32)
    }
}

/// A small seeded generator (SplitMix64) for the kill schedule.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
