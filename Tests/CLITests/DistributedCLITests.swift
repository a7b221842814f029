import Foundation
import XCTest

/// Data-parallel `pretrain` over c10d's Gloo on loopback: 2 processes × batch b train the same parameters as
/// 1 process × batch 2b (MVLT with and without MIR's SyncBatchNorm; SyncMask's momentum ITC with its queue and
/// GRIT), a checkpoint changes world size
/// only where that is sound, a killed rank is named by the others, and rendezvous failures are one clear error.
final class DistributedCLITests: XCTestCase {
    /// PretrainCLITests' tiny MVLT without dropout and stochastic depth (their random draws are per process).
    static let mvltConfig = """
    {"image_size": 64, "text_length": 16, "vocab_size": 30522, "text_hidden": 32,
     "embed_dims": [16, 32, 48, 64], "num_heads": [1, 2, 3, 4], "mlp_ratios": [2, 2, 2, 2],
     "depths": [1, 1, 1, 1], "sr_ratios": [8, 4, 2, 1], "decoder_channels": 8,
     "drop_path_rate": 0, "embedding_dropout": 0}
    """

    private func catalog(_ config: String) throws -> (dir: URL, config: URL) {
        let dir = try CLI.tempDir(prefix: "fvl-dist")
        let r = try CLI.run(["synth", "--out", dir.appendingPathComponent("data").path, "--products", "40",
                             "--image-size", "64", "--seed", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let url = dir.appendingPathComponent("tiny.json")
        try Data(config.utf8).write(to: url)
        return (dir, url)
    }

    private func mvltArgs(_ dir: URL, _ config: URL, run: String, steps: Int, batch: Int) -> [String] {
        ["pretrain", "--config", config.path, "--data", dir.appendingPathComponent("data").path,
         "--out", dir.appendingPathComponent(run).path, "--steps", "\(steps)", "--batch", "\(batch)", "--threads", "1",
         "--log-every", "1", "--checkpoint-every", "1", "--seed", "7", "--lr", "1e-3", "--eval-batches", "1", "--no-mir"]
    }

    private func syncmaskArgs(_ dir: URL, _ config: URL, run: String, steps: Int, batch: Int) -> [String] {
        ["pretrain", "--config", config.path, "--data", dir.appendingPathComponent("data").path,
         "--out", dir.appendingPathComponent(run).path, "--steps", "\(steps)", "--batch", "\(batch)", "--threads", "1",
         "--log-every", "1", "--checkpoint-every", "1", "--seed", "3", "--lr", "1e-3", "--grit-search-space", "8",
         "--grit-buffer", "16", "--eval-products", "8"]
    }

    private func checkpoint(_ dir: URL, _ run: String, step: Int) -> String {
        dir.appendingPathComponent(run).appendingPathComponent(String(format: "checkpoints/step-%06d.safetensors", step)).path
    }

    /// `compare_checkpoints.py`: the largest difference of two checkpoints, and of one step of the first.
    private func compare(_ a: String, _ b: String, previous: String) throws -> (diff: Double, step: Double, worst: String) {
        let o = try compareJSON(a, b, previous: previous)
        return (try XCTUnwrap(o["max_abs_diff"] as? Double), try XCTUnwrap(o["max_step_change"] as? Double),
                o["worst_tensor"] as? String ?? "")
    }

    /// The same over the BatchNorm running statistics alone (what SyncBatchNorm computes).
    private func compareRunningStats(_ a: String, _ b: String, previous: String) throws -> (diff: Double, step: Double) {
        let o = try XCTUnwrap(try compareJSON(a, b, previous: previous)["running_stats"] as? [String: Any], "no BatchNorm statistics")
        return (try XCTUnwrap(o["max_abs_diff"] as? Double), try XCTUnwrap(o["max_step_change"] as? Double))
    }

    private func compareJSON(_ a: String, _ b: String, previous: String) throws -> [String: Any] {
        let python = URL(fileURLWithPath: "/usr/bin/python3")
        guard FileManager.default.isExecutableFile(atPath: python.path) else { throw XCTSkip("/usr/bin/python3 with torch is needed") }
        let r = try CLI.execute(python, [CLI.referenceDir.appendingPathComponent("compare_checkpoints.py").path, a, b, previous])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
    }

    /// MVLT with MLM + ITM: both losses are per sample (the MLM mean over the global batch's labelled tokens), the
    /// loader's shards are the global batch's halves with the same per-sample random streams (ITM caption swaps,
    /// MLM masks, grid masks), so after 3 steps the parameters of 2 × 2 equal those of 1 × 4 to fp32 round-off.
    /// The 2-process checkpoint then resumes in 1 process (same global batch: sound).
    func testMVLTTwoRanksMatchOneRankWithDoubleBatchAndResumeInOne() throws {
        let (dir, config) = try catalog(Self.mvltConfig)
        let one = try CLI.run(mvltArgs(dir, config, run: "one", steps: 3, batch: 4), timeout: 300)
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try CLI.run(mvltArgs(dir, config, run: "two", steps: 3, batch: 2) + ["--nproc", "2"], timeout: 300)
        XCTAssertEqual(two.status, 0, two.stderr)
        XCTAssertEqual(two.stdout.split(separator: "\n").count, 1, "only rank 0 prints the summary: \(two.stdout)")
        let c = try compare(checkpoint(dir, "one", step: 3), checkpoint(dir, "two", step: 3), previous: checkpoint(dir, "one", step: 2))
        print("MVLT 2x2 vs 1x4 after 3 steps: max |Δ| \(c.diff) (\(c.worst)), one step moves up to \(c.step)")
        XCTAssertGreaterThan(c.step, 1e-4, "the step changed nothing: the comparison would prove nothing")
        XCTAssertLessThan(c.diff, 1e-5)

        // Both runs extended to 4 steps (their saved config says 3): the 2-process run continues in one process
        // (--batch 4, from its saved global batch) exactly as the 1-process run does.
        for run in ["one", "two"] { try setSteps(4, of: dir.appendingPathComponent(run)) }
        let resumed = try CLI.run(mvltArgs(dir, config, run: "two", steps: 4, batch: 2) + ["--resume"], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming from step 3"), resumed.stderr)
        let onward = try CLI.run(mvltArgs(dir, config, run: "one", steps: 4, batch: 4) + ["--resume"], timeout: 300)
        XCTAssertEqual(onward.status, 0, onward.stderr)
        let d = try compare(checkpoint(dir, "one", step: 4), checkpoint(dir, "two", step: 4), previous: checkpoint(dir, "one", step: 3))
        XCTAssertLessThan(d.diff, 1e-5, "resumed in another world size: \(d)")

        // 3 processes cannot split its global batch of 4.
        try setSteps(5, of: dir.appendingPathComponent("two"))
        let three = try CLI.run(mvltArgs(dir, config, run: "two", steps: 5, batch: 2) + ["--resume", "--nproc", "3"], timeout: 120)
        XCTAssertNotEqual(three.status, 0)
        XCTAssertTrue(three.stderr.contains("cannot split evenly"), three.stderr)

    }

    /// MVLT with MLM + ITM + MIR: the MIR decoder's eleven BatchNorms normalise with the global batch's statistics
    /// (SyncBatchNorm: sum, sum of squares and count all-reduced by a differentiable all-reduce), so 2 × 2 equals
    /// 1 × 4 after 3 steps (clean and grid-masked inputs) in running statistics to fp32 round-off and in weights
    /// up to AdamW's amplification of round-off, and the 2-process checkpoint continues in 1 process.
    ///
    /// Weights: measured, after one step already, the largest difference is 3.8e-5 in one element of
    /// block4.0.attn.kv.weight whose gradient is round-off (−4.0e-10 against −8.4e-10; the tensor's largest gradient
    /// is 7.6e-4, and all gradients agree to 7.5e-6 of their tensor's largest): AdamW divides by √v + 1e-8, which
    /// turns such a gradient into 4 % or 8 % of a full step of lr 1e-3. The difference does not grow over the steps.
    /// Without SyncBatchNorm the weights differed by 5e-3 and the running statistics by 4e-2.
    func testMVLTWithMIRTwoRanksMatchOneRankThroughSyncBatchNorm() throws {
        let (dir, config) = try catalog(Self.mvltConfig)
        func args(_ run: String, steps: Int, batch: Int) -> [String] {
            Array(mvltArgs(dir, config, run: run, steps: steps, batch: batch).dropLast())  // without --no-mir
        }
        let one = try CLI.run(args("one", steps: 3, batch: 4), timeout: 300)
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try CLI.run(args("two", steps: 3, batch: 2) + ["--nproc", "2"], timeout: 300)
        XCTAssertEqual(two.status, 0, two.stderr)
        let c = try compare(checkpoint(dir, "one", step: 3), checkpoint(dir, "two", step: 3), previous: checkpoint(dir, "one", step: 2))
        let bn = try compareRunningStats(checkpoint(dir, "one", step: 3), checkpoint(dir, "two", step: 3),
                                         previous: checkpoint(dir, "one", step: 2))
        print("MVLT+MIR 2x2 vs 1x4 after 3 steps: max |Δ| \(c.diff) (\(c.worst)), one step moves up to \(c.step); "
              + "BatchNorm running statistics: max |Δ| \(bn.diff), one step moves them up to \(bn.step)")
        XCTAssertGreaterThan(bn.step, 1e-2, "the statistics did not move: the comparison would prove nothing")
        XCTAssertLessThan(bn.diff, 1e-5, "SyncBatchNorm's running statistics are not the global batch's")
        XCTAssertLessThan(c.diff, 1e-4, "beyond AdamW-amplified round-off (a tenth of one step's lr)")
        for run in ["one", "two"] { try setSteps(4, of: dir.appendingPathComponent(run)) }
        let resumed = try CLI.run(args("two", steps: 4, batch: 2) + ["--resume"], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let onward = try CLI.run(args("one", steps: 4, batch: 4) + ["--resume"], timeout: 300)
        XCTAssertEqual(onward.status, 0, onward.stderr)
        let d = try compare(checkpoint(dir, "one", step: 4), checkpoint(dir, "two", step: 4), previous: checkpoint(dir, "one", step: 3))
        print("MVLT+MIR resumed in 1 process, step 4: max |Δ| \(d.diff) (\(d.worst))")
        XCTAssertLessThan(d.diff, 1e-4, "resumed in another world size: \(d)")
    }

    /// Sets `train.steps` in a run folder's config.json (how a finished run is extended).
    private func setSteps(_ steps: Int, of run: URL) throws {
        let url = run.appendingPathComponent("config.json")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var train = try XCTUnwrap(object["train"] as? [String: Any])
        train["steps"] = steps
        object["train"] = train
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    /// SyncMask with the momentum ITC (queue, distillation, GRIT order): the banks hold the gathered global batch,
    /// the queue receives it, GRIT collects it, so 2 × 2 equals 1 × 4 over 12 steps (past GRIT's first epoch).
    /// The full recipe's ITM negatives and MLM/MIM normalisation are per process (as in ALBEF), so its checkpoint
    /// refuses another world size.
    func testSyncMaskITCTwoRanksMatchOneRankAndFullRecipeKeepsItsWorldSize() throws {
        let (dir, config) = try catalog(SyncMaskPretrainCLITests.tinyConfig)
        let itcOnly = ["--no-itm", "--no-mlm", "--no-mim"]
        let one = try CLI.run(syncmaskArgs(dir, config, run: "one", steps: 12, batch: 4) + itcOnly, timeout: 300)
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try CLI.run(syncmaskArgs(dir, config, run: "two", steps: 12, batch: 2) + itcOnly + ["--nproc", "2"], timeout: 300)
        XCTAssertEqual(two.status, 0, two.stderr)
        let c = try compare(checkpoint(dir, "one", step: 12), checkpoint(dir, "two", step: 12), previous: checkpoint(dir, "one", step: 11))
        print("SyncMask ITC 2x2 vs 1x4 after 12 steps: max |Δ| \(c.diff) (\(c.worst)), one step moves up to \(c.step)")
        XCTAssertGreaterThan(c.step, 1e-4)
        XCTAssertLessThan(c.diff, 1e-4)

        let full = try CLI.run(syncmaskArgs(dir, config, run: "full", steps: 2, batch: 2) + ["--nproc", "2"], timeout: 300)
        XCTAssertEqual(full.status, 0, full.stderr)
        let resumed = try CLI.run(syncmaskArgs(dir, config, run: "full", steps: 3, batch: 2) + ["--resume"], timeout: 120)
        XCTAssertNotEqual(resumed.status, 0)
        assertOneErrorLine(resumed, mentions: ["2 processes", "world size 2"])
    }

    /// A rank killed mid-run: the other stops with an error naming it, well within the collective timeout, and
    /// the launcher reports the failure.
    func testKilledRankIsNamedByTheOthers() throws {
        let (dir, config) = try catalog(Self.mvltConfig)
        let port = try Self.freePort()
        var ranks: [(Process, URL)] = []
        for r in 0..<2 {
            let p = Process()
            p.executableURL = try CLI.binary()
            p.arguments = mvltArgs(dir, config, run: "run", steps: 100_000, batch: 2)
                + ["--rank", "\(r)", "--world-size", "2", "--master", "127.0.0.1:\(port)", "--dist-timeout", "120"]
            let err = dir.appendingPathComponent("rank\(r).err")
            _ = FileManager.default.createFile(atPath: err.path, contents: nil)
            p.standardError = try FileHandle(forWritingTo: err)
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            ranks.append((p, err))
        }
        defer { for (p, _) in ranks where p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let metrics = dir.appendingPathComponent("run/metrics.jsonl")
        let deadline = Date().addingTimeInterval(200)
        while !FileManager.default.fileExists(atPath: metrics.path) && ranks[0].0.isRunning && Date() < deadline { usleep(20_000) }
        let early = (try? String(contentsOf: ranks[0].1, encoding: .utf8)) ?? ""
        XCTAssertTrue(FileManager.default.fileExists(atPath: metrics.path), early)
        kill(ranks[1].0.processIdentifier, SIGKILL)
        let killedAt = Date()
        while ranks[0].0.isRunning && Date().timeIntervalSince(killedAt) < 60 { usleep(20_000) }
        XCTAssertFalse(ranks[0].0.isRunning, "rank 0 still runs 60 s after rank 1 was killed")
        ranks[0].0.waitUntilExit()
        XCTAssertEqual(ranks[0].0.terminationStatus, 1)
        let err = try String(contentsOf: ranks[0].1, encoding: .utf8)
        XCTAssertTrue(err.contains("error: lost rank 1 during"), err)
    }

    /// A port already in use, and a master nobody listens on: one error line each, saying so.
    func testPortInUseAndUnreachableMasterAreOneClearError() throws {
        let (dir, config) = try catalog(Self.mvltConfig)
        let (fd, port) = try Self.listeningSocket()
        defer { close(fd) }
        let busy = try CLI.run(mvltArgs(dir, config, run: "busy", steps: 2, batch: 2)
            + ["--rank", "0", "--world-size", "2", "--master", "127.0.0.1:\(port)", "--dist-timeout", "5"], timeout: 60)
        XCTAssertEqual(busy.status, 1)
        assertOneErrorLine(busy, mentions: ["127.0.0.1:\(port)", "in use"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("busy").path))

        let free = try Self.freePort()
        let lonely = try CLI.run(mvltArgs(dir, config, run: "lonely", steps: 2, batch: 2)
            + ["--rank", "1", "--world-size", "2", "--master", "127.0.0.1:\(free)", "--dist-timeout", "3"], timeout: 60)
        XCTAssertEqual(lonely.status, 1)
        assertOneErrorLine(lonely, mentions: ["cannot reach the master at 127.0.0.1:\(free)"])
    }

    // MARK: sockets

    /// A socket listening on 127.0.0.1 at a free port.
    static func listeningSocket() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard fd >= 0, ok else { throw CLIError("cannot open a listening socket") }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    static func freePort() throws -> Int {
        let (fd, port) = try listeningSocket()
        close(fd)
        return port
    }
}
