import Foundation
import TestSupport
import XCTest

/// `fashionvl kaleido-prepare` on bad input (issue 16): a weights file of another architecture, an unknown backbone,
/// images smaller than 5×5 cells, a stale feature cache — each one `error:` line naming the file, exit ≠ 0 and no
/// cache file left — and no foreground found, whose documented fallback is the full image
/// (docs/KALEIDO-PREPARE.md §1). The backbone is `resnet50` with seeded random torchvision-named weights
/// (Tests/reference/resnet_port.py), so no download is needed.
final class KaleidoPrepareCLITests: XCTestCase {
    static let fixtures = "kaleido_cli_fixtures.py"
    nonisolated(unsafe) static var resnetWeights: Result<String, Error>?

    /// Random ResNet-50 weights (torchvision names), made once per test process.
    static func resnet() throws -> String {
        if resnetWeights == nil {
            resnetWeights = Result {
                let dir = try CLI.tempDir(prefix: "fvl-resnet-weights").path
                try CLI.python("resnet_port.py", ["weights", "--seed", "3", "--pth", dir + "/r.pth", "--out", dir + "/resnet50.safetensors"])
                try? FileManager.default.removeItem(atPath: dir + "/r.pth")
                return dir + "/resnet50.safetensors"
            }
        }
        return try resnetWeights!.get()
    }

    /// The 98 MB weights go once the class's tests are done.
    override class func tearDown() {
        if case let .success(path)? = resnetWeights {
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        }
        resnetWeights = nil
        super.tearDown()
    }

    var dir = ""
    override func setUpWithError() throws { dir = try CLI.tempDir(prefix: "fvl-kprep").path }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// DIR/data/train.h5 (`rows` images, row `blank` all white) and validation.h5 (2 images), of side `side`.
    func data(side: Int = 32, rows: Int = 6, blank: Int = -1) throws -> String {
        let data = dir + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try CLI.python(Self.fixtures, ["catalog", data + "/train.h5", "--side", "\(side)", "--rows", "\(rows)", "--blank-row", "\(blank)"])
        try CLI.python(Self.fixtures, ["catalog", data + "/validation.h5", "--side", "\(side)", "--rows", "2", "--first-product", "500"])
        return data
    }

    func prepare(_ data: String, _ extra: [String]) throws -> CLI.Output {
        try CLI.run(["kaleido-prepare", "--data", data, "--crop-size", "8", "--captioner-epochs", "1", "--threads", "1",
                     "--figure", "none"] + extra, timeout: 300)
    }

    func contents(_ path: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

    func testWeightsOfAnotherArchitectureOrAnUnknownBackboneAreOneErrorAndWriteNothing() throws {
        let data = try data()
        let effnet = dir + "/effnet.safetensors", resnetLike = dir + "/resnet-like.safetensors"
        try CLI.python(Self.fixtures, ["foreign", effnet, "--arch", "efficientnet-lite0"])
        try CLI.python(Self.fixtures, ["foreign", resnetLike, "--arch", "resnet50"])
        let cache = dir + "/cache"

        let r1 = try prepare(data, ["--backbone", "resnet50", "--weights", effnet, "--cache-dir", cache])
        assertOneErrorLine(r1, mentions: [effnet + ": weights do not match the model: missing keys: bn1.bias"])
        let r2 = try prepare(data, ["--backbone", "efficientnet-lite0", "--weights", resnetLike, "--cache-dir", cache])
        assertOneErrorLine(r2, mentions: [resnetLike + ": weights do not match the model: missing keys: _blocks.0._bn1.bias"])
        let r3 = try prepare(data, ["--backbone", "vgg", "--cache-dir", cache])
        assertOneErrorLine(r3, mentions: ["unknown kaleido backbone 'vgg'; known: efficientnet-lite0, resnet50"])
        let r4 = try prepare(data, ["--backbone", "resnet50", "--weights", dir + "/absent.safetensors"])
        assertOneErrorLine(r4, mentions: [dir + "/absent.safetensors: no such file", "docs/KALEIDO-PREPARE.md"])

        XCTAssertFalse(FileManager.default.fileExists(atPath: cache), "no cache folder made")
        XCTAssertEqual(try contents(data), ["train.h5", "validation.h5"], "nothing written beside the catalog")
    }

    /// Checked before the backbone is opened (here: the default EfficientNet-Lite0, whose weights need not exist).
    func testImagesSmallerThanFiveByFiveCellsAreOneErrorNamingTheFileAndLeaveNoCache() throws {
        let data = try data(side: 4, rows: 3)
        let r = try prepare(data, ["--cache-dir", dir + "/cache"])
        assertOneErrorLine(r, mentions: [data + "/train.h5: kaleido patches: the image is 4x4 px, smaller than the 5x5 cells of level K5"])
        XCTAssertEqual(try contents(data), ["train.h5", "validation.h5"], "no cache or temporary file left")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/cache"))
    }

    /// ResNet-50 features end to end: 2048-d caches, the blank image falls back to the full-image box, a touched
    /// catalog makes the cache stale (pretraining: one error naming the cache; kaleido-prepare: a notice, rebuilt),
    /// and a `feature_dim` 2048 model pretrains on it.
    func testResNet50CachesNoForegroundFallbackAndAStaleCache() throws {
        let data = try data(blank: 2)
        let weights = try Self.resnet()
        let r = try prepare(data, ["--backbone", "resnet50", "--weights", weights])
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual(summary["backbone"] as? String, "resnet50")
        let trainCache = data + "/train.h5.kaleido-features.safetensors"
        let read = try Reference.json(Reference.run(Self.fixtures, ["boxes", trainCache]))
        XCTAssertEqual(read["features"] as? [Int], [6, 74, 2048])
        let boxes = try XCTUnwrap(read["boxes"] as? [[Double]])
        XCTAssertEqual(boxes[2], [0, 1, 0, 1], "no foreground: the full image")
        for (row, b) in boxes.enumerated() where row != 2 {
            XCTAssertLessThan((b[1] - b[0]) * (b[3] - b[2]), 0.9, "row \(row) has a foreground box: \(b)")
        }

        // A touched catalog: the cache is stale.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)], ofItemAtPath: data + "/train.h5")
        let config = dir + "/tiny.json"
        try Data("""
        {"family": "kaleido", "hidden": 16, "layers": 1, "heads": 2, "intermediate_size": 32, "text_length": 16, "feature_dim": 2048}
        """.utf8).write(to: URL(fileURLWithPath: config))
        let run = dir + "/run"
        let pretrain = ["pretrain", "--config", config, "--data", data, "--out", run, "--steps", "1", "--batch", "2",
                        "--threads", "1", "--log-every", "1"]
        let stale = try CLI.run(pretrain, timeout: 120)
        assertOneErrorLine(stale, mentions: [trainCache + ": the cache does not match (catalog modified", "fashionvl kaleido-prepare --data"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "no run folder")

        let again = try prepare(data, ["--backbone", "resnet50", "--weights", weights, "--text-length", "16"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("notice: rebuilding the feature cache: \(trainCache): the cache does not match (catalog modified"), again.stderr)
        let trained = try CLI.run(pretrain, timeout: 300)
        XCTAssertEqual(trained.status, 0, trained.stderr)
    }
}
