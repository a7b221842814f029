import Foundation
import XCTest

/// `fashionvl pretrain --config syncmask-minilm` and `--init text=…,image=…`: the pretrained text tower loads and
/// trains; a weights file for the wrong tower or width, a config with more layers than the file and a missing file
/// are each one error line, and leave no run folder.
final class SyncMaskInitCLITests: XCTestCase {
    /// scripts/fetch-weights NAME; skips with its reason when the package cannot be downloaded.
    private func fetch(_ name: String) throws {
        let r = try CLI.execute(CLI.testsDir.deletingLastPathComponent().appendingPathComponent("scripts/fetch-weights"),
                                [name], timeout: 600)
        if r.status == 2 { throw XCTSkip("scripts/fetch-weights \(name) could not download: \(r.stderr)") }
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    private func catalog() throws -> URL {
        let dir = try CLI.tempDir(prefix: "fvl-minilm")
        let r = try CLI.run(["synth", "--out", dir.appendingPathComponent("data").path, "--products", "24",
                             "--image-size", "64", "--seed", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return dir
    }

    private func args(_ dir: URL, run: String, config: String = "syncmask-minilm", steps: Int = 2) -> [String] {
        ["pretrain", "--config", config, "--data", dir.appendingPathComponent("data").path,
         "--out", dir.appendingPathComponent(run).path, "--steps", "\(steps)", "--batch", "4", "--threads", "1",
         "--log-every", "1", "--seed", "3", "--grit-search-space", "8", "--grit-buffer", "16", "--eval-products", "4"]
    }

    private func assertNoRun(_ dir: URL, _ run: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent(run).path), "no run folder is left",
                       file: file, line: line)
    }

    func testMiniLMConfigTrainsAndRecordsItsTextInit() throws {
        try fetch("minilm-l6")
        let dir = try catalog()
        let r = try CLI.run(args(dir, run: "run"), timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("text_init: text_encoder.bert from "), r.stderr)
        XCTAssertTrue(r.stderr.contains("cross-attention of layers 4–5 fresh"), r.stderr)
        let saved = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("run/config.json")))
                                  as? [String: Any])
        let model = try XCTUnwrap(saved["model"] as? [String: Any])
        XCTAssertEqual(model["text_init"] as? String, "minilm-l6")
        XCTAssertEqual(model["text_width"] as? Int, 384)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertTrue((summary["total"] as? Double).map { $0.isFinite } ?? false, r.stdout)

        // A resumed run keeps the towers it started from.
        let resumed = try CLI.run(args(dir, run: "run") + ["--resume", "--init", "text=minilm-l6"], timeout: 120)
        assertOneErrorLine(resumed, mentions: ["--init", "resumed"])
    }

    func testWrongWeightsAreOneErrorLineAndNoRunFolder() throws {
        try fetch("minilm-l6")
        let dir = try catalog()
        try CLI.python("minilm_reference.py", ["fixtures", "--out", dir.path])
        let bert32 = dir.appendingPathComponent("bert_w32.safetensors").path
        let image = dir.appendingPathComponent("image_tower.safetensors").path

        let width = try CLI.run(args(dir, run: "w") + ["--init", "text=\(bert32)"], timeout: 120)
        assertOneErrorLine(width, mentions: ["bert_w32.safetensors", "'embeddings.word_embeddings.weight'", "[30522, 32]",
                                             "expected [30522, 384]"])
        assertNoRun(dir, "w")

        let wrongTower = try CLI.run(args(dir, run: "t") + ["--init", "text=\(image)"], timeout: 120)
        assertOneErrorLine(wrongTower, mentions: ["image_tower.safetensors", "not a BERT text tower"])
        assertNoRun(dir, "t")
        let textAsImage = try CLI.run(args(dir, run: "i", config: "syncmask-demo") + ["--init", "image=\(bert32)"], timeout: 120)
        assertOneErrorLine(textAsImage, mentions: ["bert_w32.safetensors", "not an image tower"])
        assertNoRun(dir, "i")

        let missing = try CLI.run(args(dir, run: "m") + ["--init", "text=\(dir.path)/none.safetensors"], timeout: 120)
        assertOneErrorLine(missing, mentions: ["none.safetensors", "no such file"])
        assertNoRun(dir, "m")

        // text_layers + fusion_layers beyond MiniLM's 6 layers: by name (config field) and through --init.
        let deep = dir.appendingPathComponent("deep.json")
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: CLI.testsDir.deletingLastPathComponent()
            .appendingPathComponent("Sources/FashionModels/Configs/syncmask-minilm.json"))) as? [String: Any])
        config["text_layers"] = 5
        try JSONSerialization.data(withJSONObject: config).write(to: deep)
        let tooDeep = try CLI.run(args(dir, run: "d", config: deep.path), timeout: 120)
        assertOneErrorLine(tooDeep, mentions: ["deep.json", "text_init", "6 BERT layers", "5 + 2 = 7"])
        assertNoRun(dir, "d")
        config["text_init"] = nil
        try JSONSerialization.data(withJSONObject: config).write(to: deep)
        let tooDeepInit = try CLI.run(args(dir, run: "d2", config: deep.path) + ["--init", "text=minilm-l6"], timeout: 120)
        assertOneErrorLine(tooDeepInit, mentions: ["--init", "text_init", "6 BERT layers"])
        assertNoRun(dir, "d2")

        let badValue = try CLI.run(args(dir, run: "b") + ["--init", "txt=minilm-l6"], timeout: 120)
        assertOneErrorLine(badValue, mentions: ["--init", "unknown tower 'txt'"])
        assertNoRun(dir, "b")
        let mvlt = try CLI.run(["pretrain", "--config", "mvlt-demo", "--data", dir.appendingPathComponent("data").path,
                                "--out", dir.appendingPathComponent("v").path, "--init", "text=minilm-l6"])
        assertOneErrorLine(mvlt, mentions: ["--init", "SyncMask option"])
        assertNoRun(dir, "v")
    }
}
