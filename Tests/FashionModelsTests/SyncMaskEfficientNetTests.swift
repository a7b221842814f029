import TestSupport
import FashionModels
import Foundation
import Torch
import XCTest

/// SyncMask's EfficientNet-Lite0 image stem (SyncMaskEfficientNetStem.swift): config checks, the named image init
/// `efficientnet-lite0` (ImageNet weights into both towers' `visual_encoder.backbone`), BatchNorm frozen in training
/// mode, and wrong files as one error naming the problem. Loss / gradient parity with the PyTorch port:
/// SyncMaskParityTests.testEfficientNetStemParity.
final class SyncMaskEfficientNetTests: XCTestCase {
    private func assertError(_ body: () throws -> Void, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = "\(error)"
            for m in mentions { XCTAssertTrue(text.contains(m), "'\(m)' not in: \(text)", file: file, line: line) }
        }
    }

    func testConfigChecks() throws {
        let c = try SyncMaskConfig.load(nameOrPath: "syncmask-effnet")
        XCTAssertEqual(c.imageEncoder, .efficientnetLite0)
        XCTAssertEqual(c.imageInit, "efficientnet-lite0")
        XCTAssertEqual(c.tokenPatch, 32)
        XCTAssertEqual(c.patches, 16)
        var bad = c
        bad.patchSize = 16
        assertError({ try bad.validate() }, mentions: ["patch_size", "must be 32", "efficientnet_lite0", "got 16"])
        bad = c
        bad.imageSize = 100
        assertError({ try bad.validate() }, mentions: ["image_size", "multiple of the token patch 32", "got 100"])
        var cnn = try SyncMaskConfig.load(nameOrPath: "syncmask-demo")
        cnn.imageInit = "efficientnet-lite0"
        assertError({ try cnn.validate() }, mentions: ["image_init", "'efficientnet-lite0'", "efficientnet_lite0", "image_encoder cnn"])
        // The named tower is an image tower: not a text init.
        var text = c
        text.textInit = "efficientnet-lite0"
        assertError({ try text.validate() }, mentions: ["text_init", "an image tower"])
    }

    /// A small model with the EfficientNet stem (the registered syncmask-effnet minus the named init).
    static func smallConfig() throws -> SyncMaskConfig {
        var c = try SyncMaskConfig.load(nameOrPath: "syncmask-effnet")
        c.imageInit = nil
        c.imageSize = 64
        c.queueSize = 16
        c.vocabSize = 300
        return c
    }

    func testNamedInitLoadsImageNetWeightsIntoBothTowersAndBatchNormStaysFrozen() throws {
        let path = try SyncMaskPretrainedTests.fetch("efficientnet-lite0")
        var c = try Self.smallConfig()
        c.imageInit = "efficientnet-lite0"
        Torch.manualSeed(4)
        let model = try SyncMask(c)
        let lines = try model.loadPretrainedTowers()
        XCTAssertTrue(lines.first?.contains("visual_encoder.backbone (EfficientNet-Lite0)") ?? false, "\(lines)")
        XCTAssertTrue(lines.first?.contains("296 tensors") ?? false, "\(lines)")
        let reference = try EfficientNetLite.load(from: path)
        let student = try XCTUnwrap(model.visual_encoder.backbone), momentum = try XCTUnwrap(model.visual_encoder_m.backbone)
        let (s, m) = (Dictionary(uniqueKeysWithValues: student.stateDict()), Dictionary(uniqueKeysWithValues: momentum.stateDict()))
        for (name, t) in reference.stateDict() {   // parameters and BatchNorm running statistics
            XCTAssertEqual(try s[name].map { try SyncMaskPretrainedTests.maxAbsDiff($0.to(dtype: .float64), t.to(dtype: .float64)) }, 0, name)
            XCTAssertEqual(try m[name].map { try SyncMaskPretrainedTests.maxAbsDiff($0.to(dtype: .float64), t.to(dtype: .float64)) }, 0, name)
        }
        // Training mode: BatchNorm uses the running statistics (an image's tokens do not depend on the rest of the
        // batch) and never updates them.
        model.train()
        let runningVar = try student._bn1.running_var.value.clone()
        Torch.manualSeed(5)
        let images = try Tensor.rand([3, 3, 64, 64])
        let batch = try model.visual_encoder(images)
        let alone = try model.visual_encoder(images.narrow(dim: 0, start: 0, length: 1))
        XCTAssertFalse(student.training)
        XCTAssertLessThan(try SyncMaskPretrainedTests.maxAbsDiff(batch.narrow(dim: 0, start: 0, length: 1), alone), 1e-5)
        XCTAssertEqual(try SyncMaskPretrainedTests.maxAbsDiff(student._bn1.running_var.value, runningVar), 0)
        XCTAssertEqual(batch.shape, [3, 1 + 4, c.visionWidth])
        // The tokens see EfficientNet's normalisation of the pixels: the backbone's grid from the [0, 1] images
        // is ImageNet EfficientNet-Lite0's on the [0, 255] pixels.
        let grid = try student.features(normalized: EfficientNetLite.normalize(images.mul(255)))
        XCTAssertLessThan(try SyncMaskPretrainedTests.maxAbsDiff(grid, reference.features(images.mul(255))), 1e-5)
        XCTAssertEqual(grid.shape, [3, 1280, 2, 2])
    }

    func testWrongFilesAreOneErrorAndWriteNothing() throws {
        Torch.manualSeed(6)
        let model = try SyncMask(try Self.smallConfig())
        let dir = try Reference.tempDir("effnet-wrong")
        let stem = try XCTUnwrap(model.visual_encoder.backbone)._conv_stem.weight.clone()

        // A text tower's file.
        let bert = dir + "/bert.safetensors"
        try SafeTensors.save([("embeddings.word_embeddings.weight", try Tensor.zeros([300, 8])),
                              ("encoder.layer.0.attention.self.query.weight", try Tensor.zeros([8, 8]))], to: bert)
        assertError({ try model.initialiseEfficientNet(fromFile: bert) },
                    mentions: ["bert.safetensors", "not an EfficientNet-Lite0 image tower", "unexpected key 'embeddings.word_embeddings.weight'",
                               "scripts/convert-efficientnet-lite0"])
        // A complete file with one tensor of another shape; and one with a tensor missing.
        var tensors = try EfficientNetLite().stateDict()
        let i = try XCTUnwrap(tensors.firstIndex { $0.0 == "_conv_head.weight" })
        tensors[i].1 = try Tensor.zeros([1280, 32, 1, 1])
        let shape = dir + "/shape.safetensors"
        try SafeTensors.save(tensors, to: shape)
        assertError({ try model.initialiseEfficientNet(fromFile: shape) },
                    mentions: ["shape.safetensors", "'_conv_head.weight'", "[1280, 32, 1, 1]", "expected [1280, 320, 1, 1]"])
        tensors.remove(at: i)
        let missing = dir + "/missing.safetensors"
        try SafeTensors.save(tensors, to: missing)
        assertError({ try model.initialiseEfficientNet(fromFile: missing) }, mentions: ["missing key '_conv_head.weight'"])
        XCTAssertEqual(try SyncMaskPretrainedTests.maxAbsDiff(try XCTUnwrap(model.visual_encoder.backbone)._conv_stem.weight, stem), 0)

        // Through image_init: the same error, from the config's field.
        var c = try Self.smallConfig()
        c.imageInit = bert
        assertError({ try SyncMask(c).loadPretrainedTowers() }, mentions: ["not an EfficientNet-Lite0 image tower"])
    }
}
