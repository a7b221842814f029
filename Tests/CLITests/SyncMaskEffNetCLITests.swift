import Foundation
import XCTest

/// `fashionvl pretrain --config syncmask-effnet`: SyncMask with the EfficientNet-Lite0 stem starts from the ImageNet
/// weights (`image_init: efficientnet-lite0`) and trains; the run records its image_init; a weights file that is not
/// EfficientNet-Lite0 is one error line and leaves no run folder.
final class SyncMaskEffNetCLITests: XCTestCase {
    private func catalog() throws -> URL {
        let dir = try CLI.tempDir(prefix: "fvl-effnet")
        let r = try CLI.run(["synth", "--out", dir.appendingPathComponent("data").path, "--products", "24",
                             "--image-size", "128", "--seed", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return dir
    }

    private func args(_ dir: URL, run: String) -> [String] {
        ["pretrain", "--config", "syncmask-effnet", "--data", dir.appendingPathComponent("data").path,
         "--out", dir.appendingPathComponent(run).path, "--steps", "2", "--batch", "4", "--threads", "1",
         "--log-every", "1", "--seed", "3", "--grit-search-space", "8", "--grit-buffer", "16", "--eval-products", "4"]
    }

    func testEffNetConfigTrainsFromImageNetWeightsAndWrongFileIsOneErrorLine() throws {
        let fetch = try CLI.execute(CLI.testsDir.deletingLastPathComponent().appendingPathComponent("scripts/fetch-weights"),
                                    ["efficientnet-lite0"], timeout: 600)
        if fetch.status == 2 { throw XCTSkip("scripts/fetch-weights efficientnet-lite0 could not download: \(fetch.stderr)") }
        XCTAssertEqual(fetch.status, 0, fetch.stderr)
        let dir = try catalog()

        let r = try CLI.run(args(dir, run: "run"), timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("image_init: visual_encoder.backbone (EfficientNet-Lite0) from "), r.stderr)
        XCTAssertTrue(r.stderr.contains("296 tensors"), r.stderr)
        let saved = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("run/config.json")))
                                  as? [String: Any])
        let model = try XCTUnwrap(saved["model"] as? [String: Any])
        XCTAssertEqual(model["image_init"] as? String, "efficientnet-lite0")
        XCTAssertEqual(model["image_encoder"] as? String, "efficientnet_lite0")
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertTrue((summary["total"] as? Double).map { $0.isFinite } ?? false, r.stdout)

        // A text tower's weights as the image tower: one error line naming the file and the problem, no run folder.
        try CLI.python("minilm_reference.py", ["fixtures", "--out", dir.path])
        let bert = dir.appendingPathComponent("bert_w32.safetensors").path
        let wrong = try CLI.run(args(dir, run: "w") + ["--init", "image=\(bert)"], timeout: 120)
        assertOneErrorLine(wrong, mentions: ["bert_w32.safetensors", "not an EfficientNet-Lite0 image tower", "unexpected key"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("w").path), "no run folder is left")
    }
}
