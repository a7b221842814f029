import TestSupport
import FashionData
import FashionModels
import Foundation
import Torch
import XCTest
@testable import FashionTrain

/// A backbone whose feature is the crop's mean colour (D = 3): exact to check, instant to run.
/// A tiny untrained captioner (D = 3, H = 8, max length 6) over the titles of `file`, drawn after seeding 3.
func tinyCaptioner(for file: FashionGenFile) throws -> KaleidoCaptioner {
    var config = KaleidoCaptionerConfig()
    (config.featureDim, config.hidden, config.embed, config.attention, config.maxLength) = (3, 8, 4, 6, 6)
    Torch.manualSeed(3)
    let tokenizer = try WordPieceTokenizer.bertBaseUncased()
    let vocab = KaleidoCaptionerTraining.vocabulary(try file.names.map { try tokenizer.encode($0) }, tokenizer: tokenizer)
    return try KaleidoCaptioner(config, vocabIDs: vocab)
}

final class MeanColourBackbone: KaleidoBackbone {
    let identity: KaleidoBackboneIdentity
    var fail = false
    init(cropSize: Int = 8) {
        identity = KaleidoBackboneIdentity(name: "mean-colour", weightsSHA256: "none", cropSize: cropSize, featureDim: 3)
    }
    func pooled(_ pixels: Tensor) throws -> Tensor {
        if fail { throw TorchError.invalidArgument("backbone failure for the test") }
        return try pixels.to(dtype: .float32).mean(dims: [2, 3])
    }
}

/// The feature cache and alignment files (spec/kaleido-bert.md §2.3, §4.2): round trips, stale and foreign caches,
/// nothing half-written, other-architecture weights; EfficientNet-Lite0 features of kaleido crops against PyTorch.
final class KaleidoCacheTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws { dir = try Reference.tempDir("kaleido") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A catalog of `rows` 32-px images, each a coloured rectangle on white at a row-dependent place.
    func catalog(_ name: String, rows: Int, seed: Int = 0) throws -> FashionGenFile {
        let path = dir + "/" + name
        let w = try FashionGenWriter(path: path, imageSize: 32)
        for r in 0..<rows {
            var img = RGBImage(width: 32, height: 32)
            let x0 = 2 + (r * 5 + seed) % 12, y0 = 3 + (r * 3) % 10
            for y in y0..<(y0 + 18) { for x in x0..<(x0 + 14) {
                let i = (y * 32 + x) * 3
                img.pixels[i] = UInt8((40 * r + 7 * x) % 256); img.pixels[i + 1] = UInt8((90 + 5 * y) % 256); img.pixels[i + 2] = 30
            } }
            try w.append(FashionGenRecord(image: img.pixels, name: "red square \(["coat", "dress", "bag"][r % 3])",
                                          description: "A test item.", category: "TOPS", subcategory: "T-SHIRTS",
                                          productID: Int64(100 + r + seed * 1000)))
        }
        try w.finish()
        return try FashionGenFile(path: path)
    }

    func testCacheRoundTripEqualsTheCropsThroughTheBackbone() throws {
        let file = try catalog("train.h5", rows: 3)
        let backbone = MeanColourBackbone()
        let path = KaleidoFeatureFile.path(for: file.path)
        XCTAssertEqual(path, dir + "/train.h5.kaleido-features.safetensors")
        try KaleidoFeatureFile.build(file: file, backbone: backbone, to: path, rowsPerBatch: 2)
        let cache = try KaleidoFeatureFile(path: path, catalog: .of(file), backbone: backbone.identity)
        XCTAssertEqual(cache.rows, 3)
        let generator = try KaleidoPatchGenerator(cropSize: 8)
        for row in 0..<3 {
            let crops = try generator.crops(of: RGBImage(width: 32, height: 32, pixels: file.image(row)))
            let per = 3 * 64
            let expected: [Float] = (0..<74).flatMap { s in
                (0..<3).map { c in
                    let plane = crops.pixels[(s * per + c * 64)..<(s * per + (c + 1) * 64)]
                    return Float(Float16(Float(plane.reduce(0) { $0 + Int($1) }) / 64))
                }
            }
            let set = try cache.patches(row: row)
            XCTAssertEqual(set.dim, 3)
            XCTAssertEqual(set.colour, Array(expected[0..<165]))
            XCTAssertEqual(set.rotated, Array(expected[165..<174]))
            XCTAssertEqual(set.grey, Array(expected[174...]))
            XCTAssertEqual(set.positions, crops.positions)
            let b = crops.box.rect
            XCTAssertEqual(try cache.box(row: row), [Float(b.x0) / 32, Float(b.x1) / 32, Float(b.y0) / 32, Float(b.y1) / 32])
        }
        // The batch path: rows in any order, a slot range.
        let t = try cache.featureTensor(rows: [2, 0], slots: 30..<55)
        XCTAssertEqual(t.shape, [2, 25, 3])
        XCTAssertEqual(try t.toArray(Float.self), Array(try cache.patches(row: 2).colour[90..<165]) + Array(try cache.patches(row: 0).colour[90..<165]))
        XCTAssertThrowsError(try cache.patches(row: 3)) { XCTAssertTrue("\($0)".contains("row 3 is outside 0..<3"), "\($0)") }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["train.h5", "train.h5.kaleido-features.safetensors"])
    }

    /// The default batch keeps EfficientNet-Lite0's largest activation within glibc's heap limit; the cache's bytes
    /// do not depend on the batch (crops made on the second thread, a short last batch).
    func testDefaultBatchSizeAndTheCacheDoesNotDependOnTheBatch() throws {
        XCTAssertEqual(KaleidoFeatureFile.defaultRowsPerBatch(cropSize: 32), 4)
        XCTAssertEqual(KaleidoFeatureFile.defaultRowsPerBatch(cropSize: 16), 18)
        XCTAssertEqual(KaleidoFeatureFile.defaultRowsPerBatch(cropSize: 512), 1)
        XCTAssertTrue(Torch.retainFreedMemory(), "glibc's mallopt")
        let file = try catalog("train.h5", rows: 5)
        var contents: [Data] = []
        for (i, per) in [1, 2, nil].enumerated() {
            let path = dir + "/cache\(i).safetensors"
            try KaleidoFeatureFile.build(file: file, backbone: MeanColourBackbone(), to: path, rowsPerBatch: per)
            contents.append(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        XCTAssertEqual(contents[0], contents[1])
        XCTAssertEqual(contents[0], contents[2])
    }

    func testStaleForeignAndMissingCachesAreRefusedNamingWhatDiffers() throws {
        let file = try catalog("train.h5", rows: 3)
        let path = KaleidoFeatureFile.path(for: file.path)
        XCTAssertThrowsError(try KaleidoInputs.open(catalog: file.path)) { e in
            XCTAssertEqual("\(e)", "\(path): no Kaleido cache file; \(KaleidoFeatureFile.hint)")
        }
        try KaleidoFeatureFile.build(file: file, backbone: MeanColourBackbone(), to: path)
        // Another backbone setting.
        XCTAssertThrowsError(try KaleidoFeatureFile(path: path, catalog: .of(file), backbone: MeanColourBackbone(cropSize: 16).identity)) { e in
            XCTAssertTrue("\(e)".hasPrefix(path + ": the cache does not match (crop size: cache 8, expected 16)"), "\(e)")
        }
        // The same file touched: stale by mtime only.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)], ofItemAtPath: file.path)
        XCTAssertThrowsError(try KaleidoFeatureFile(path: path, catalog: .of(file))) { e in
            guard case let .stale(p, diffs, _)? = e as? KaleidoCacheError else { return XCTFail("\(e)") }
            XCTAssertEqual(p, path)
            XCTAssertEqual(diffs.count, 1)
            XCTAssertTrue(diffs[0].hasPrefix("catalog modified"), diffs[0])
        }
        // Another catalog under the same name.
        try FileManager.default.removeItem(atPath: file.path)
        let other = try catalog("train.h5", rows: 4, seed: 1)
        XCTAssertThrowsError(try KaleidoFeatureFile(path: path, catalog: .of(other))) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("catalog rows: cache 3, file 4") && text.contains("catalog product ids differ"), text)
        }
        // A file that is not a cache.
        try SafeTensors.save([("x", try Tensor([Float(1)]))], to: dir + "/bogus.safetensors")
        XCTAssertThrowsError(try KaleidoFeatureFile(path: dir + "/bogus.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("format is absent, expected fashionvl-kaleido-features/1"), "\(e)")
        }
    }

    func testAFailedBuildLeavesNothingAndKeepsThePreviousCache() throws {
        let file = try catalog("train.h5", rows: 3)
        let path = KaleidoFeatureFile.path(for: file.path)
        let backbone = MeanColourBackbone()
        backbone.fail = true
        XCTAssertThrowsError(try KaleidoFeatureFile.build(file: file, backbone: backbone, to: path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["train.h5"])
        backbone.fail = false
        try KaleidoFeatureFile.build(file: file, backbone: backbone, to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        backbone.fail = true
        XCTAssertThrowsError(try KaleidoFeatureFile.build(file: file, backbone: backbone, to: path))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).count, 2)
    }

    func testWeightsOfAnotherArchitectureAreOneClearError() throws {
        let path = dir + "/resnet.safetensors"
        try SafeTensors.save([("conv1.weight", try Tensor.zeros([64, 3, 7, 7])), ("fc.weight", try Tensor.zeros([1000, 2048]))], to: path)
        XCTAssertThrowsError(try KaleidoBackbones.open(name: "efficientnet-lite0", weights: path, cropSize: 32)) { e in
            XCTAssertTrue("\(e)".contains(path) && "\(e)".contains("missing keys: _blocks.0."), "\(e)")
        }
        // The other way round: an EfficientNet-Lite0-named file given to resnet50.
        let effnet = dir + "/effnet.safetensors"
        try SafeTensors.save([("_conv_stem.weight", try Tensor.zeros([32, 3, 3, 3])), ("_bn0.weight", try Tensor.ones([32]))], to: effnet)
        XCTAssertThrowsError(try KaleidoBackbones.open(name: "resnet50", weights: effnet, cropSize: 32)) { e in
            XCTAssertEqual("\(e)", "\(effnet): weights do not match the model: missing keys: bn1.bias")
        }
        XCTAssertThrowsError(try KaleidoBackbones.open(name: "resnet50", weights: dir + "/absent.safetensors", cropSize: 32)) { e in
            XCTAssertTrue("\(e)".hasPrefix(dir + "/absent.safetensors: no such file; ResNet-50 weights are not shipped"), "\(e)")
        }
        XCTAssertThrowsError(try KaleidoBackbones.open(name: "vgg", weights: nil, cropSize: 32)) { e in
            XCTAssertEqual("\(e)", "unknown kaleido backbone 'vgg'; known: efficientnet-lite0, resnet50")
        }
    }

    /// ResNet-50 (`--backbone resnet50`) on kaleido crops of every kind (colour cells of each level, rotated K1,
    /// grey K4) against the plain-torch port with torchvision's names, on seeded random weights whose BatchNorm
    /// statistics are re-drawn (Tests/reference/resnet_port.py; converted as docs/KALEIDO-PREPARE.md §2 says).
    func testResNet50FeaturesOfKaleidoCropsMatchPyTorch() throws {
        try Reference.run("resnet_port.py", ["weights", "--seed", "4", "--pth", dir + "/r.pth", "--out", dir + "/resnet50.safetensors"])
        var img = RGBImage(width: 64, height: 64, fill: (246, 246, 246))
        for y in 10..<58 { for x in 14..<50 {
            let i = (y * 64 + x) * 3
            img.pixels[i] = UInt8(40 + x * 3); img.pixels[i + 1] = UInt8(20 + (x ^ y) % 90); img.pixels[i + 2] = UInt8(200 - y * 2)
        } }
        let crops = try KaleidoPatchGenerator(cropSize: 32).crops(of: img)
        let all = try Tensor(crops.pixels, shape: [74, 3, 32, 32])
        // K1, a K2, a K3, a K4 and a K5 cell, the three rotations, two grey K4 cells.
        let slots: [Int64] = [0, 2, 7, 20, 40, 55, 56, 57, 58, 70]
        let pixels = try all.indexSelect(dim: 0, index: try Tensor(slots)).contiguous()
        try SafeTensors.save([("pixels", pixels)], to: dir + "/in.safetensors")
        try Reference.run("resnet_port.py", ["forward", "--weights", dir + "/resnet50.safetensors", "--input", dir + "/in.safetensors",
                                             "--out", dir + "/out.safetensors"])
        let ref = try XCTUnwrap(SafeTensors.load(dir + "/out.safetensors").tensors["pooled"])
        // What ResNet50Backbone.pooled runs (the backbone itself also hashes the 100 MB file, ~50 s in a debug
        // build: KaleidoPrepareCLITests opens it end to end).
        let swift = try ResNet50.load(from: dir + "/resnet50.safetensors").folded().pooled(pixels)
        XCTAssertEqual(KaleidoBackbones.name(featureDim: swift.size(1)), "resnet50")
        let err = try relativeError(swift, ref)
        print("kaleido crops (10 × 32 px) ResNet-50 pooled: relative error \(err)")
        XCTAssertLessThanOrEqual(err, 1e-4)
    }

    func testAlignmentFileRoundTripThroughTheInputSource() throws {
        let file = try catalog("train.h5", rows: 3)
        let backbone = MeanColourBackbone()
        try KaleidoFeatureFile.build(file: file, backbone: backbone, to: KaleidoFeatureFile.path(for: file.path))
        let cache = try KaleidoFeatureFile(path: KaleidoFeatureFile.path(for: file.path), catalog: .of(file))
        let model = try tinyCaptioner(for: file)
        XCTAssertEqual(Array(try model.vocab_ids.value.toArray(Int64.self).prefix(4)), [0, 101, 102, 100])
        let path = KaleidoAlignmentFile.path(for: file.path)
        let built = try KaleidoAlignmentFile.build(file: file, features: cache, captioner: model, captionerSHA256: "x", to: path, batch: 2)
        let inputs = try KaleidoInputs.open(catalog: file.path)
        let source: KaleidoInputSource = inputs
        XCTAssertEqual(source.featureDim, 3)
        XCTAssertEqual(source.alignedTextField, "title")
        XCTAssertEqual(source.alignedTextLength, 64)
        var pairs = 0
        for row in 0..<3 {
            let a = try source.alignments(row: row)
            pairs += a.count
            XCTAssertTrue(a.allSatisfy { (3...5).contains($0.level) && $0.token >= 1 && $0.patch < $0.level * $0.level })
            XCTAssertLessThanOrEqual(inputs.alignmentFile.caption(row: row).count, 6)
            XCTAssertEqual(try source.patches(row: row), try cache.patches(row: row))
        }
        XCTAssertEqual(pairs, built.pairs)
        // Rebuilt features (another crop size) make the alignments stale.
        try KaleidoFeatureFile.build(file: file, backbone: MeanColourBackbone(cropSize: 16), to: KaleidoFeatureFile.path(for: file.path))
        XCTAssertThrowsError(try KaleidoInputs.open(catalog: file.path)) { e in
            XCTAssertTrue("\(e)".hasPrefix(path + ": the cache does not match (crop size: cache 8, expected 16)"), "\(e)")
        }
    }

    /// Teacher mode: per caption piece one probability in (0, 1] and one attention map summing to 1, at most
    /// max_length − 2 pieces; the file records the mode and every pair's token is a piece of a content word of the title.
    func testTeacherModeAlignmentFile() throws {
        let file = try catalog("train.h5", rows: 3)
        try KaleidoFeatureFile.build(file: file, backbone: MeanColourBackbone(), to: KaleidoFeatureFile.path(for: file.path))
        let cache = try KaleidoFeatureFile(path: KaleidoFeatureFile.path(for: file.path), catalog: .of(file))
        let model = try tinyCaptioner(for: file)
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let grid = try cache.featureTensor(rows: [0, 1, 2], slots: KaleidoCaptionerTraining.gridSlots)
        let forced = try model.teacherForced(features: grid, captions: [[4, 5, 6, 7, 8, 9], [4], []])
        XCTAssertEqual(forced.map(\.probabilities.count), [4, 1, 0])
        for f in forced {
            XCTAssertTrue(f.probabilities.allSatisfy { $0 > 0 && $0 <= 1 })
            for a in f.alphas { XCTAssertEqual(a.reduce(0, +), 1, accuracy: 1e-5) }
        }
        // The same caption alone or in a batch: the same probabilities.
        let alone = try model.teacherForced(features: grid.narrow(dim: 0, start: 1, length: 1), captions: [[4]])
        XCTAssertEqual(alone[0].probabilities[0], forced[1].probabilities[0], accuracy: 1e-6)

        let path = KaleidoAlignmentFile.path(for: file.path)
        // An untrained captioner keeps nothing at threshold 0.1 only by chance; the file must be well formed either way.
        try KaleidoAlignmentFile.build(file: file, features: cache, captioner: model, captionerSHA256: "x", to: path,
                                       mode: .teacher, batch: 2)
        let inputs = try KaleidoInputs.open(catalog: file.path)
        XCTAssertEqual(inputs.alignmentFile.mode, .teacher)
        let titles = try file.names
        for row in 0..<3 {
            let raw = try tokenizer.decode(tokenizer.encode(titles[row], maxLength: 64))
            let content = Set(KaleidoAlignmentRules.words(raw).filter { KaleidoAlignmentRules.isContentWord($0.word) }.flatMap(\.positions))
            XCTAssertTrue(try inputs.alignments(row: row).allSatisfy { content.contains($0.token) })
            let kept = try tokenizer.decode(inputs.alignmentFile.caption(row: row))
            XCTAssertTrue(kept.allSatisfy { raw.contains($0) }, "\(kept) not in \(raw)")
        }
    }

    /// max |a − b| / max |b|.
    func relativeError(_ a: Tensor, _ b: Tensor) throws -> Double {
        XCTAssertEqual(a.shape, b.shape)
        let x = try a.contiguous().toArray(Float.self), y = try b.contiguous().toArray(Float.self)
        var d = 0.0, s = 0.0
        for (u, v) in zip(x, y) { d = max(d, abs(Double(u) - Double(v))); s = max(s, abs(Double(v))) }
        return d / max(s, 1e-12)
    }

    func testEfficientNetFeaturesOfKaleidoCropsMatchPyTorch() throws {
        let weights = PretrainedWeights.named("efficientnet-lite0")!.path
        guard FileManager.default.fileExists(atPath: weights) else {
            throw XCTSkip("EfficientNet-Lite0 weights are not at \(weights) (scripts/fetch-weights efficientnet-lite0)")
        }
        var img = RGBImage(width: 64, height: 64, fill: (246, 246, 246))
        for y in 10..<58 { for x in 14..<50 {
            let i = (y * 64 + x) * 3
            img.pixels[i] = UInt8(40 + x * 3); img.pixels[i + 1] = UInt8(20 + (x ^ y) % 90); img.pixels[i + 2] = UInt8(200 - y * 2)
        } }
        let crops = try KaleidoPatchGenerator(cropSize: 32).crops(of: img)
        let pixels = try Tensor(crops.pixels, shape: [74, 3, 32, 32])
        try SafeTensors.save([("pixels", pixels)], to: dir + "/in.safetensors")
        try Reference.python([Reference.dir.appendingPathComponent("kaleido_reference.py").path, "features", "--weights", weights,
                              "--input", dir + "/in.safetensors", "--out", dir + "/out.safetensors"])
        let ref = try XCTUnwrap(SafeTensors.load(dir + "/out.safetensors").tensors["pooled"])
        let swift = try Torch.noGrad { try KaleidoBackbones.open(name: "efficientnet-lite0", weights: weights, cropSize: 32).pooled(pixels) }
        let err = try relativeError(swift, ref)
        print("kaleido crops (74 × 32 px) EfficientNet-Lite0 pooled: relative error \(err)")
        XCTAssertLessThanOrEqual(err, 1e-4)
    }

    func testCaptionerLossAndGradientsMatchThePyTorchPort() throws {
        var config = KaleidoCaptionerConfig()
        (config.featureDim, config.hidden, config.embed, config.attention, config.dropout) = (6, 8, 5, 7, 0)
        Torch.manualSeed(7)
        let model = try KaleidoCaptioner(config, vocabIDs: [0, 101, 102, 100, 2417, 3797, 4524, 2665])
        let features = try Tensor.randn([3, 25, 6])
        let ids = try Tensor([1, 4, 5, 2, 0, 0, 1, 6, 2, 0, 0, 0, 1, 7, 4, 6, 5, 2] as [Int64], shape: [3, 6])
        try model.save(to: dir + "/w.safetensors", metadata: ["config": String(decoding: try JSONEncoder().encode(model.config), as: UTF8.self)])
        try SafeTensors.save([("features", features), ("ids", ids)], to: dir + "/in.safetensors")
        try Reference.python([Reference.dir.appendingPathComponent("kaleido_reference.py").path, "captioner", "--weights",
                              dir + "/w.safetensors", "--input", dir + "/in.safetensors", "--out", dir + "/out.safetensors"])
        let ref = try SafeTensors.load(dir + "/out.safetensors").tensors
        let l = try model.loss(features: features, ids: ids)
        for (name, v) in [("total", l.total), ("ce", l.ce), ("attention_reg", l.attention)] {
            XCTAssertEqual(try v.item(), try XCTUnwrap(ref[name]).item(), accuracy: 1e-5, name)
        }
        let (logits, alphas) = try model.forward(features: features, ids: ids)
        XCTAssertLessThanOrEqual(try relativeError(logits, XCTUnwrap(ref["logits"])), 1e-5)
        XCTAssertLessThanOrEqual(try relativeError(alphas, XCTUnwrap(ref["alphas"])), 1e-5)
        try l.total.backward()
        var worst = 0.0
        for (name, p) in model.namedParameters() {
            let g = try XCTUnwrap(p.grad, name)
            worst = max(worst, try relativeError(g, XCTUnwrap(ref["grad." + name], name)))
        }
        print("kaleido captioner parity: worst gradient relative error \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-5)
        // Greedy decoding never emits [PAD]/[CLS]/[UNK], stops at [SEP] or the length, one map per token summing to 1.
        for c in try model.greedy(features: features) {
            XCTAssertLessThanOrEqual(c.ids.count, config.maxLength - 1)
            XCTAssertTrue(c.ids.allSatisfy { $0 >= 4 })
            XCTAssertEqual(c.alphas.count, c.ids.count)
            for a in c.alphas { XCTAssertEqual(a.reduce(0, +), 1, accuracy: 1e-5) }
        }
    }
}
