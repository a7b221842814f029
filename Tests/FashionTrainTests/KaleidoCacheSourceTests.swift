import TestSupport
import FashionData
import FashionModels
import Foundation
import TestSupport
import Torch
import XCTest
@testable import FashionTrain

/// The `cache` feature source (the default of Kaleido-BERT pretraining): it reads the feature cache and alignments
/// kaleido-prepare writes beside each catalog file, refuses alignments made for another text, and a pretraining run
/// opened on a catalog without a cache is one error naming the file, leaving no run folder.
final class KaleidoCacheSourceTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws { dir = try Reference.tempDir("kaleido-source") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// `rows` 32-px images of `products` products (a coloured rectangle each) with short titles.
    func catalog(_ name: String, rows: Int, firstProduct: Int64) throws -> FashionGenFile {
        let path = dir + "/" + name
        let w = try FashionGenWriter(path: path, imageSize: 32)
        for r in 0..<rows {
            var img = RGBImage(width: 32, height: 32)
            let x0 = 2 + (r * 5) % 12, y0 = 3 + (r * 3) % 10
            for y in y0..<(y0 + 18) { for x in x0..<(x0 + 14) {
                let i = (y * 32 + x) * 3
                img.pixels[i] = UInt8((40 * r + 7 * x) % 256); img.pixels[i + 1] = UInt8((90 + 5 * y) % 256); img.pixels[i + 2] = 30
            } }
            try w.append(FashionGenRecord(image: img.pixels, name: "red \(["coat", "dress", "bag"][r % 3]) with pockets",
                                          description: "A test item.", category: "TOPS", subcategory: "T-SHIRTS",
                                          productID: firstProduct + Int64(r)))
        }
        try w.finish()
        return try FashionGenFile(path: path)
    }

    /// Features (mean colour, D = 3) and alignments (a tiny untrained captioner) for `file`, as kaleido-prepare writes them.
    func prepare(_ file: FashionGenFile) throws {
        let path = KaleidoFeatureFile.path(for: file.path)
        try KaleidoFeatureFile.build(file: file, backbone: MeanColourBackbone(), to: path)
        let cache = try KaleidoFeatureFile(path: path, catalog: .of(file))
        let model = try tinyCaptioner(for: file)
        try KaleidoAlignmentFile.build(file: file, features: cache, captioner: model, captionerSHA256: "x",
                                       to: KaleidoAlignmentFile.path(for: file.path), textLength: 16, batch: 4)
    }

    func options(run: String) -> MVLTPretraining.Options {
        MVLTPretraining.Options(config: dir + "/tiny.json", data: dir, run: run, steps: 2, epochs: nil, batch: 4, device: .cpu,
                                threads: 1, seed: 0, lr: 1e-3, warmup: 1, clipNorm: 1, weightDecay: 0.01,
                                maskRule: .slidingWindow, logEvery: 1, checkpointEvery: 2, evalEvery: 0, evalBatches: 1,
                                losses: .init())
    }

    func testTheCacheSourceIsTheDefaultAndReadsWhatKaleidoPrepareWrote() throws {
        XCTAssertEqual(KaleidoRecipe().features, KaleidoSources.cacheName)
        let train = try catalog("train.h5", rows: 8, firstProduct: 100)
        let validation = try catalog("validation.h5", rows: 3, firstProduct: 500)
        try Data("""
        {"family": "kaleido", "hidden": 16, "layers": 1, "heads": 2, "intermediate_size": 32, "text_length": 16, "feature_dim": 3}
        """.utf8).write(to: URL(fileURLWithPath: dir + "/tiny.json"))

        // No cache: one error naming the feature file and kaleido-prepare; no run folder.
        XCTAssertThrowsError(try KaleidoPretraining(options: options(run: dir + "/run0"), recipe: KaleidoRecipe(), resume: false)) { e in
            XCTAssertEqual("\(e)", "\(KaleidoFeatureFile.path(for: train.path)): no Kaleido cache file; \(KaleidoFeatureFile.hint)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run0"))

        try prepare(train)
        try prepare(validation)
        let source = try KaleidoSources.open("cache", file: train, textField: "title", textLength: 16, featureDim: 3)
        let alignments = try KaleidoAlignmentFile(path: KaleidoAlignmentFile.path(for: train.path),
                                                  features: try KaleidoFeatureFile(path: KaleidoFeatureFile.path(for: train.path)))
        let features = try KaleidoFeatureFile(path: KaleidoFeatureFile.path(for: train.path))
        for row in 0..<train.count {
            XCTAssertEqual(try source.patches(row: row), try features.patches(row: row))
            XCTAssertEqual(try source.alignments(row: row), try alignments.alignments(row: row))
        }
        // Alignments made for another text length (or field) are refused, naming the alignment file.
        XCTAssertThrowsError(try KaleidoSources.open("cache", file: train, textField: "title", textLength: 64, featureDim: 3)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix(KaleidoAlignmentFile.path(for: train.path) + ": the cache does not match (text: alignments of title at length 16, the model reads title at length 64)"), text)
            XCTAssertTrue(text.contains("fashionvl kaleido-prepare --data DIR --text-field title --text-length 64"), text)
        }
        // A model of another feature width is refused.
        XCTAssertThrowsError(try KaleidoSources.open("cache", file: train, textField: "title", textLength: 16, featureDim: 1280)) { e in
            XCTAssertTrue("\(e)".contains("the 'cache' features are 3-d but the model's feature_dim is 1280"), "\(e)")
            XCTAssertTrue("\(e)".hasSuffix("or rebuild the cache with `fashionvl kaleido-prepare --backbone efficientnet-lite0`)"), "\(e)")
        }
        XCTAssertThrowsError(try KaleidoSources.open("cache", file: train, textField: "title", textLength: 16, featureDim: 2048)) { e in
            XCTAssertTrue("\(e)".hasSuffix("(use a config with \"feature_dim\": 3, or rebuild the cache with `fashionvl kaleido-prepare --backbone resnet50`)"), "\(e)")
        }

        // Pretraining by default reads the cache: the run records it and trains.
        let job = try KaleidoPretraining(options: options(run: dir + "/run"), recipe: KaleidoRecipe(), resume: false)
        let last = try job.run()
        XCTAssertEqual(job.runConfig.recipe.features, "cache")
        XCTAssertTrue(try String(contentsOfFile: dir + "/run/config.json", encoding: .utf8).contains("\"features\" : \"cache\""))
        XCTAssertTrue(try XCTUnwrap(last["total"]).isFinite)
        // The held-out evaluation read the validation file's cache: its 3 products.
        let metrics = try String(contentsOfFile: dir + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let evaluated = try metrics.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .compactMap { $0["val_products"] as? Double }
        XCTAssertEqual(evaluated, [Double(validation.count)])
    }
}
