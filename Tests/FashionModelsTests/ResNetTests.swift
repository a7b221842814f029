import TestSupport
import FashionModels
import Foundation
import Torch
import XCTest

/// Seeded random ResNet-50 weights from the PyTorch port (Tests/reference/resnet_port.py: torchvision's names, BN
/// weights and running statistics re-drawn), saved as torchvision saves a state dict and converted to safetensors
/// as docs/KALEIDO-PREPARE.md §2 says; made once per test process.
enum ResNetWeights {
    nonisolated(unsafe) static var cached: Result<String, Error>?

    static func path() throws -> String {
        if cached == nil {
            cached = Result {
                let dir = try Reference.tempDir("resnet-weights")
                let out = dir + "/resnet50.safetensors"
                try Reference.run("resnet_port.py", ["weights", "--seed", "7", "--pth", dir + "/resnet50.pth", "--out", out])
                try? FileManager.default.removeItem(atPath: dir + "/resnet50.pth")
                return out
            }
        }
        return try cached!.get()
    }
}

/// Swift ResNet-50 (Sources/FashionModels/ResNet.swift) against the plain-torch port with torchvision's names, both
/// as a BatchNorm model and BN-folded; the errors for a weights file of another architecture.
final class ResNetTests: XCTestCase {
    /// The 98 MB weights go once the class's tests are done.
    override class func tearDown() {
        if case let .success(path)? = ResNetWeights.cached {
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        }
        ResNetWeights.cached = nil
        super.tearDown()
    }

    func testParityWithThePyTorchPortAndTheFoldedPath() throws {
        let weights = try ResNetWeights.path()
        let dir = try Reference.tempDir("resnet")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        Torch.manualSeed(11)
        // Three crops of an odd side (45 px: 23 → 12 → 12 → 6 → 3 → 2 grids), uint8 as the Kaleido crops.
        let pixels = try Tensor.rand([3, 3, 45, 45]).mul(256).floor().clamp(min: 0, max: 255).to(dtype: .uint8)
        try SafeTensors.save([("pixels", pixels)], to: dir + "/in.safetensors")
        try Reference.run("resnet_port.py", ["forward", "--weights", weights, "--input", dir + "/in.safetensors",
                                             "--out", dir + "/out.safetensors"])
        let ref = try SafeTensors.load(dir + "/out.safetensors").tensors
        let model = try ResNet50.load(from: weights)
        XCTAssertFalse(model.training)
        XCTAssertEqual(model.stateDict().count, 320, "torchvision's resnet50 state dict has 320 entries")
        let folded = try model.folded()
        let features = try Torch.noGrad { try model.features(pixels) }
        XCTAssertEqual(features.shape, [3, 2048, 2, 2])
        var worst = 0.0
        for (name, got, want) in [
            ("features", features, try XCTUnwrap(ref["features"])),
            ("pooled", try Torch.noGrad { try model.pooled(pixels) }, try XCTUnwrap(ref["pooled"])),
            ("logits", try Torch.noGrad { try model.logits(pixels) }, try XCTUnwrap(ref["logits"])),
            ("folded features", try folded.features(pixels), try XCTUnwrap(ref["features"])),
            ("folded pooled", try folded.pooled(pixels), try XCTUnwrap(ref["pooled"])),
            ("folded logits", try folded.logits(pixels), try XCTUnwrap(ref["logits"])),
        ] {
            let e = try EfficientNetLiteTests.relativeError(got, want)
            print("resnet50 parity \(name): relative error \(e)")
            XCTAssertLessThanOrEqual(e, 1e-4, name)
            worst = max(worst, e)
        }
        // Float pixels in [0, 255] are the same input.
        XCTAssertLessThanOrEqual(try EfficientNetLiteTests.relativeError(try folded.pooled(pixels.to(dtype: .float32)),
                                                                         try XCTUnwrap(ref["pooled"])), 1e-4)
        XCTAssertThrowsError(try folded.pooled(try Tensor.zeros([2, 1, 32, 32]))) { e in
            XCTAssertTrue("\(e)".contains("pixels must be (B, 3, H, W)"), "\(e)")
        }
    }

    // MARK: - Weights of another architecture

    func save(_ sd: [String: Tensor]) throws -> String {
        let path = try Reference.tempDir("resnet-variant") + "/weights.safetensors"
        try SafeTensors.save(sd.map { ($0.key, $0.value) }, to: path)
        return path
    }

    func loadError(_ path: String) -> String {
        do {
            _ = try ResNet50.load(from: path)
            return "loaded"
        } catch { return "\(error)" }
    }

    func testWeightsOfAnotherArchitectureNameTheFileAndTheFirstKey() throws {
        let full = Dictionary(try ResNet50().stateDict(), uniquingKeysWith: { a, _ in a })
        // torchvision's original ImageNet file has no num_batches_tracked: it loads.
        let v1 = try save(full.filter { !$0.key.hasSuffix("num_batches_tracked") })
        XCTAssertEqual(loadError(v1), "loaded")

        // The EfficientNet-Lite0 file: the first missing key.
        let effnet = try save(Dictionary(try EfficientNetLite().stateDict(), uniquingKeysWith: { a, _ in a }))
        let e1 = loadError(effnet)
        XCTAssertEqual(e1, "\(effnet): weights do not match the model: missing keys: bn1.bias")

        // ResNet-18/34 (BasicBlock: no conv3/bn3): missing.
        let basic = try save(full.filter { !$0.key.contains("bn3") && !$0.key.contains("conv3") })
        XCTAssertTrue(loadError(basic).contains("missing keys: layer1.0.bn3.bias") && loadError(basic).contains(basic), loadError(basic))

        // ResNet-101 (23 blocks in layer3): the first unexpected key.
        var deep = full
        deep["layer3.6.conv1.weight"] = try Tensor.zeros([256, 1024, 1, 1])
        deep["layer3.10.conv1.weight"] = try Tensor.zeros([256, 1024, 1, 1])
        let e3 = loadError(try save(deep))
        XCTAssertTrue(e3.contains("unexpected keys: layer3.10.conv1.weight") && !e3.contains("layer3.6"), e3)

        // Wide ResNet-50-2 (Bottleneck widths doubled): the first mis-shaped tensor with both shapes.
        var wide = full
        wide["layer1.0.conv1.weight"] = try Tensor.zeros([128, 64, 1, 1])
        XCTAssertTrue(loadError(try save(wide)).contains("layer1.0.conv1.weight: expected [64, 64, 1, 1], got [128, 64, 1, 1]"))

        // Not safetensors.
        let junk = try Reference.tempDir("resnet-junk") + "/x.safetensors"
        try Data("not safetensors".utf8).write(to: URL(fileURLWithPath: junk))
        XCTAssertTrue(loadError(junk).hasPrefix(junk + ": cannot read ResNet-50 weights"), loadError(junk))

        // And the other way round: a ResNet-50 file given to EfficientNet-Lite0.
        do {
            _ = try EfficientNetLite.load(from: v1)
            XCTFail("loaded")
        } catch {
            XCTAssertEqual("\(error)", "\(v1): weights do not match the model: missing keys: _blocks.0._bn1.bias")
        }
    }
}
