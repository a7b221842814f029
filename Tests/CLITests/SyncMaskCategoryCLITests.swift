import Foundation
import XCTest

/// Category recognition of a SyncMask run through the same commands as MVLT: `pretrain` (a tiny SyncMask, two
/// steps), `finetune --task both` (the family read from the checkpoint), `evaluate mcr`; and one error line for a
/// pretraining run, a checkpoint without the heads, and an unknown family.
final class SyncMaskCategoryCLITests: XCTestCase {
    static let tinyConfig = """
    {"family": "syncmask", "image_encoder": "cnn", "image_size": 32, "patch_size": 16, "cnn_channels": [8, 8, 16, 16],
     "vision_width": 32, "vision_depth": 1, "vision_heads": 4, "text_width": 32, "text_heads": 4, "text_layers": 1,
     "fusion_layers": 1, "intermediate_size": 64, "text_length": 16, "embed_dim": 16, "queue_size": 64,
     "mim_decoder_layers": 1, "sync_layer": -1, "text_pool": "mean"}
    """

    struct Fixture { var dir: URL; var data: URL; var pretrained: URL }

    /// A 40-product catalog and a 2-step SyncMask pretraining run.
    private func fixture() throws -> Fixture {
        let dir = try CLI.tempDir(prefix: "fvl-smcat")
        let data = dir.appendingPathComponent("data")
        let synth = try CLI.run(["synth", "--out", data.path, "--products", "40", "--image-size", "64", "--seed", "1"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let config = dir.appendingPathComponent("syncmask-tiny.json")
        try Data(Self.tinyConfig.utf8).write(to: config)
        let pretrained = dir.appendingPathComponent("pre")
        let pre = try CLI.run(["pretrain", "--config", config.path, "--data", data.path, "--out", pretrained.path,
                               "--steps", "2", "--batch", "4", "--threads", "1", "--sampler", "random",
                               "--eval-products", "8"], timeout: 120)
        XCTAssertEqual(pre.status, 0, pre.stderr)
        return Fixture(dir: dir, data: data, pretrained: pretrained)
    }

    private func json(_ text: String) throws -> [String: Any] {
        let line = try XCTUnwrap(text.split(separator: "\n").last, "no output")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
    }

    private func object(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], url.path)
    }

    func testPretrainFinetuneEvaluate() throws {
        let f = try fixture()
        let run = f.dir.appendingPathComponent("ft")
        let ft = try CLI.run(["finetune", "--task", "both", "--checkpoint", f.pretrained.path, "--data", f.data.path,
                              "--out", run.path, "--steps", "3", "--batch", "4", "--threads", "1", "--log-every", "1",
                              "--lr", "1e-3"], timeout: 120)
        XCTAssertEqual(ft.status, 0, ft.stderr)
        let summary = try json(ft.stdout)
        for key in ["val_mcr_acc", "val_scr_acc"] {
            let v = try XCTUnwrap(summary[key] as? Double, "\(key) missing: \(ft.stdout)")
            XCTAssertTrue((0...1).contains(v), "\(key) = \(v)")
        }
        // config.json: the SyncMask model config, the pretraining's text field, the task and the class lists.
        let config = try object(run.appendingPathComponent("config.json"))
        XCTAssertEqual((config["model"] as? [String: Any])?["family"] as? String, "syncmask")
        XCTAssertEqual(config["caption"] as? String, "name")
        XCTAssertEqual(config["task"] as? String, "both")
        XCTAssertNotNil((config["classes"] as? [String: [String]])?["subcategories"])
        let records = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        for r in records where r["total"] != nil {
            let total = try XCTUnwrap(r["total"] as? Double), mcr = try XCTUnwrap(r["mcr"] as? Double)
            XCTAssertEqual(total, mcr + (try XCTUnwrap(r["scr"] as? Double)), accuracy: 1e-4)
        }
        XCTAssertEqual(records.filter { $0["total"] != nil }.count, 3)

        let ev = try CLI.run(["evaluate", "mcr", "--checkpoint", run.path, "--data", f.data.path, "--batch", "4",
                              "--threads", "1"], timeout: 60)
        XCTAssertEqual(ev.status, 0, ev.stderr)
        let j = try json(ev.stdout)
        for key in ["accuracy", "macro_f1", "macro_f1_all_classes"] {
            let v = try XCTUnwrap(j[key] as? Double, "\(key) missing: \(ev.stdout)")
            XCTAssertTrue((0...1).contains(v), "\(key) = \(v)")
        }
        XCTAssertEqual(j["split"] as? String, "validation")
        let result = try object(run.appendingPathComponent("eval/mcr.json"))
        XCTAssertEqual(result["task"] as? String, "M-CR")
        XCTAssertEqual(result["method"] as? String, "SyncMask")
        XCTAssertEqual((result["metrics"] as? [String: Any])?["accuracy"] as? Double, j["accuracy"] as? Double)
        // The held-out accuracy of the last step is the evaluation of the same checkpoint on the same rows.
        XCTAssertEqual(try XCTUnwrap(summary["val_mcr_acc"] as? Double), try XCTUnwrap(j["accuracy"] as? Double), accuracy: 1e-9)
        let png = try Data(contentsOf: run.appendingPathComponent("eval/mcr_confusion.png"))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
    }

    func testErrorsAreOneLine() throws {
        let f = try fixture()
        let fm = FileManager.default
        // A pretraining run has no category heads.
        let pre = try CLI.run(["evaluate", "mcr", "--checkpoint", f.pretrained.path, "--data", f.data.path])
        assertOneErrorLine(pre, mentions: [f.pretrained.path, "finetune"])

        // A fine-tuning run's config over a pretraining checkpoint: the weights lack the heads.
        let ft = f.dir.appendingPathComponent("ft")
        let r = try CLI.run(["finetune", "--task", "mcr", "--checkpoint", f.pretrained.path, "--data", f.data.path,
                             "--out", ft.path, "--steps", "1", "--batch", "4", "--threads", "1"], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        let fake = f.dir.appendingPathComponent("fake")
        try fm.createDirectory(at: fake, withIntermediateDirectories: true)
        try fm.copyItem(at: ft.appendingPathComponent("config.json"), to: fake.appendingPathComponent("config.json"))
        for item in ["last.json", "checkpoints"] {
            try fm.copyItem(at: f.pretrained.appendingPathComponent(item), to: fake.appendingPathComponent(item))
        }
        let noHeads = try CLI.run(["evaluate", "scr", "--checkpoint", fake.path, "--data", f.data.path])
        assertOneErrorLine(noHeads, mentions: [fake.path, "cls_head_main"])

        // An unknown family: for fine-tuning and for evaluation; no run folder is left behind.
        let unknown = f.dir.appendingPathComponent("unknown")
        try fm.createDirectory(at: unknown, withIntermediateDirectories: true)
        let text = try String(contentsOf: f.pretrained.appendingPathComponent("config.json"), encoding: .utf8)
            .replacingOccurrences(of: "\"syncmask\"", with: "\"blip\"")
        try Data(text.utf8).write(to: unknown.appendingPathComponent("config.json"))
        let out = f.dir.appendingPathComponent("never")
        let fineUnknown = try CLI.run(["finetune", "--checkpoint", unknown.path, "--data", f.data.path, "--out", out.path,
                                       "--steps", "1", "--batch", "4"])
        assertOneErrorLine(fineUnknown, mentions: [unknown.path, "blip", "syncmask"])
        XCTAssertFalse(fm.fileExists(atPath: out.path), "no run folder for a failed start")
        let evalUnknown = try CLI.run(["evaluate", "mcr", "--checkpoint", unknown.path, "--data", f.data.path])
        assertOneErrorLine(evalUnknown, mentions: [unknown.path, "blip"])
    }
}
