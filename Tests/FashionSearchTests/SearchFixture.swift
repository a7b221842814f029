// One tiny trained SyncMask checkpoint and catalog for the search tests, made once per test process with the
// built `fashionvl` binary (synth, then a few pretraining steps, as SyncMaskPretrainCLITests does), and the
// engine opened on it in-process.
import FashionEval
import FashionModels
import FashionSearch
import Foundation
import XCTest

enum SearchFixture {
    struct Made {
        var dir: URL
        var run: String
        var catalogPath: String
        var indexPath: String
        var model: DualEncoderCheckpoint
        var catalog: Catalog
        var engine: SearchEngine
    }

    static let tinyConfig = """
    {"family": "syncmask", "image_encoder": "cnn", "image_size": 32, "patch_size": 16, "cnn_channels": [8, 8, 16, 16],
     "vision_width": 32, "vision_depth": 1, "vision_heads": 4, "text_width": 32, "text_heads": 4, "text_layers": 1,
     "fusion_layers": 2, "intermediate_size": 64, "text_length": 16, "embed_dim": 16, "queue_size": 64,
     "mim_decoder_layers": 1, "sync_layer": -1, "text_pool": "mean"}
    """

    nonisolated(unsafe) private static var made: Result<Made, Error>?
    private static let lock = NSLock()

    static func get() throws -> Made {
        lock.lock(); defer { lock.unlock() }
        if made == nil { made = Result { try make() } }
        return try made!.get()
    }

    private static func make() throws -> Made {
        ModelFamilies.register("syncmask") { config, weights, device in try SyncMask.open(config: config, weights: weights, device: device) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-search-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let data = dir.appendingPathComponent("data").path
        try runCLI(["synth", "--out", data, "--products", "30", "--image-size", "64", "--seed", "1"])
        let config = dir.appendingPathComponent("tiny.json")
        try Data(tinyConfig.utf8).write(to: config)
        let run = dir.appendingPathComponent("run").path
        try runCLI(["pretrain", "--config", config.path, "--data", data, "--out", run, "--steps", "6", "--batch", "4",
                    "--threads", "1", "--log-every", "3", "--checkpoint-every", "6", "--seed", "3", "--lr", "1e-3",
                    "--grit-search-space", "8", "--grit-buffer", "16", "--eval-products", "4"])
        let catalogPath = data + "/train.h5"
        let model = try EvalCheckpoint.open(run).dualEncoder(checkpoint: run, for: "search tests")
        let catalog = try Catalog(path: catalogPath)
        let indexPath = IndexFile.defaultPath(catalog: catalogPath, textField: .description)
        let index = try IndexFile.openOrBuild(indexPath, model: model, checkpoint: run, catalog: catalog, textField: .description)
        let engine = try SearchEngine(checkpoint: model, catalog: catalog, index: index)
        return Made(dir: dir, run: run, catalogPath: catalogPath, indexPath: indexPath, model: model, catalog: catalog, engine: engine)
    }

    /// Runs the `fashionvl` built next to the test bundle (or FASHIONVL_BIN); throws with its stderr on failure.
    static func runCLI(_ args: [String]) throws {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = args
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-search-err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let handle = try FileHandle(forWritingTo: err)
        defer { try? handle.close(); try? FileManager.default.removeItem(at: err) }
        process.standardError = handle
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
            throw FixtureError("fashionvl \(args.first ?? "") exited \(process.terminationStatus): \(text)")
        }
    }

    static func binary() throws -> URL {
        if let explicit = ProcessInfo.processInfo.environment["FASHIONVL_BIN"] { return URL(fileURLWithPath: explicit) }
        var dirs = Bundle.allBundles.filter { $0.bundleURL.pathExtension == "xctest" }.map { $0.bundleURL.deletingLastPathComponent() }
        dirs.append(Bundle.main.bundleURL.deletingLastPathComponent())
        dirs.append(Bundle.main.bundleURL)
        for dir in dirs {
            let url = dir.appendingPathComponent("fashionvl")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw FixtureError("the fashionvl executable was not found next to the tests; run `swift build --build-tests` or set FASHIONVL_BIN")
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}
