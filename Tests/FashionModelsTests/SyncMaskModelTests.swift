import FashionModels
import Foundation
import Torch
import XCTest

/// The SyncMask model on its own: config decoding, shapes, the momentum update and the queues (spec §8 item 14),
/// the semi-hard ITM choice (item 13) and one training step's losses.
final class SyncMaskModelTests: XCTestCase {
    static func tiny(_ encoder: String = "cnn") throws -> SyncMaskConfig {
        try SyncMaskConfig.decode(Data("""
        {"family": "syncmask", "image_encoder": "\(encoder)", "image_size": 32, "patch_size": 16, "cnn_channels": [8, 8, 16, 16],
         "vision_width": 32, "vision_depth": 1, "vision_heads": 4, "text_width": 32, "text_heads": 4, "text_layers": 1,
         "fusion_layers": 2, "intermediate_size": 64, "vocab_size": 200, "text_length": 8, "embed_dim": 16,
         "queue_size": 10, "mim_decoder_layers": 1, "sync_layer": -1}
        """.utf8), source: "tiny")
    }

    static func inputs(batch b: Int, config c: SyncMaskConfig, pids: [Int64]) throws -> SyncMaskInputs {
        let ids = try Tensor.randint(low: 1000 % c.vocabSize, high: c.vocabSize, [b, c.textLength])
        let mask = try Tensor.ones([b, c.textLength], dtype: .int64)
        return SyncMaskInputs(images: try Tensor.rand([b, 3, c.imageSize, c.imageSize]), ids: ids, attentionMask: mask,
                              productIDs: try Tensor(pids), textHashes: try Tensor(pids.map { $0 * 7 + 1 }))
    }

    func testRegistryConfigsBuildAndUnknownKeysAreErrors() throws {
        guard case let .syncmask(demo) = try ModelRegistry.load(nameOrPath: "syncmask-demo") else { return XCTFail("family") }
        XCTAssertEqual(demo.imageEncoder, .cnn)
        XCTAssertEqual(demo.patches, 16)
        guard case .syncmask = try ModelRegistry.load(nameOrPath: "syncmask-base") else { return XCTFail("family") }
        guard case .mvlt = try ModelRegistry.load(nameOrPath: "mvlt-demo") else { return XCTFail("family") }
        XCTAssertThrowsError(try SyncMaskConfig.decode(Data(#"{"family": "syncmask", "image_szie": 64}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("image_szie"), "\($0)")
        }
        XCTAssertThrowsError(try SyncMaskConfig.decode(Data(#"{"family": "syncmask", "vision_width": 1000000000000}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("vision_width"), "\($0)")
        }
        XCTAssertThrowsError(try MVLTConfig.load(nameOrPath: "syncmask-demo"))
    }

    func testOneStepGivesFiniteLossesAndGradientsOnlyInTheStudent() throws {
        for encoder in ["cnn", "vit"] {
            Torch.manualSeed(0)
            let c = try Self.tiny(encoder)
            let model = try SyncMask(c)
            let x = try Self.inputs(batch: 4, config: c, pids: [1, 2, 2, 3])
            let mp = try model.momentumPass(x, alpha: 0.4, syncAttention: true)
            XCTAssertEqual(mp.syncAttention?.shape, [4, c.textLength, 1 + c.patches])
            // Every attention row sums to 1.
            let rowSums = try XCTUnwrap(mp.syncAttention).sum(dims: [2])
            XCTAssertEqual(try rowSums.sub(1).abs().max().item(), 0, accuracy: 1e-5)
            var labels = [Int64](repeating: -100, count: 4 * c.textLength)
            labels[1] = 5; labels[c.textLength + 2] = 7
            let masks = SyncMaskMasks(mlmIds: x.ids, mlmLabels: try Tensor(labels, shape: [4, c.textLength]),
                                      patchMask: try Tensor.rand([4, c.patches]).lt(0.3))
            var rng = SystemRandomNumberGenerator()
            let l = try model.stepLosses(x, momentum: mp, masks: masks, alpha: 0.4, terms: SyncMaskTerms(),
                                         rule: .semihardTop1, rng: &rng)
            for v in [l.itc, l.itm, l.mlm, l.mim] { XCTAssertTrue(try XCTUnwrap(v).item().isFinite) }
            try l.total.backward()
            for (name, p) in model.namedParameters() {
                if SyncMask.momentumPrefixes.contains(where: { name.hasPrefix($0) }) {
                    XCTAssertNil(p.grad, name)
                    XCTAssertFalse(p.requiresGrad, name)
                }
            }
            XCTAssertNotNil(model.temp.grad)
            XCTAssertNotNil(model.mim_decoder.head.weight.grad)
            XCTAssertEqual(try model.queue_ptr.value.itemInt(), 4)
            // Same-product samples 1 and 2 never are each other's negative.
            let ni = try XCTUnwrap(l.negativeImage)
            XCTAssertNotEqual(ni.index[1], 2)
            XCTAssertNotEqual(ni.index[2], 1)
        }
    }

    func testMomentumUpdateAndQueueWrap() throws {
        Torch.manualSeed(1)
        let c = try Self.tiny()
        let model = try SyncMask(c)
        // Move the student away from the momentum copy, then update.
        try Torch.noGrad { for (s, _) in try model.momentumPairs() { try s.add_(try Tensor.randn(s.shape)) } }
        let before = try model.momentumPairs().map { (try $0.0.clone(), try $0.1.clone()) }
        try model.momentumUpdate()
        for ((s, m), (_, mNew)) in zip(before, try model.momentumPairs()) {
            let expected = try m.mul(c.momentum) + s.mul(1 - c.momentum)
            XCTAssertEqual(try expected.sub(mNew).abs().max().item(), 0, accuracy: 1e-6)
        }
        // K = 10, B = 4: pointer 0 → 4 → 8 → 2 (wrapped), slots 8, 9, 0, 1 written by the third batch.
        for step in 0..<3 {
            let f = try Tensor.full([4, c.embedDim], Double(step + 1))
            try model.enqueue(imageFeatures: f, textFeatures: f, productIDs: Tensor([Int64](repeating: Int64(step), count: 4)),
                              textHashes: Tensor([Int64](repeating: 100 + Int64(step), count: 4)))
        }
        XCTAssertEqual(try model.queue_ptr.value.itemInt(), 2)
        XCTAssertEqual(try model.idx_queue.value.toArray(Int64.self), [2, 2, 0, 0, 1, 1, 1, 1, 2, 2])
        XCTAssertEqual(try model.image_queue.value.select(dim: 0, index: 0).toArray(Float.self), [3, 3, 1, 1, 2, 2, 2, 2, 3, 3])
        XCTAssertEqual(try model.hash_queue.value.toArray(Int64.self), [102, 102, 100, 100, 101, 101, 101, 101, 102, 102])
    }

    func testSemiHardChoice() {
        var rng = SystemRandomNumberGenerator()
        // Anchor 0: positive 0.5; candidate 1 above the positive, 2 below, 3 same product.
        let s: [Float] = [0.5, 0.9, 0.2, 0.45,
                          0, 1, 0, 0,
                          0, 0, 1, 0,
                          0, 0, 0, 1]
        let top = ITMNegatives.choose(similarity: s, batch: 4, productIDs: [1, 2, 3, 1], textHashes: [10, 20, 30, 40],
                                      rule: .semihardTop1, rng: &rng)
        XCTAssertEqual(top.index[0], 2)
        XCTAssertFalse(top.fallback[0])
        // Anchor 1 scores every candidate below its positive 1: the most similar (index 0, 2 and 3 tie at 0 →
        // lowest index).
        XCTAssertEqual(top.index[1], 0)
        // Same text hash is excluded like the same product: anchor 0's only candidate below the positive is 2.
        let hashes = ITMNegatives.choose(similarity: s, batch: 4, productIDs: [1, 2, 3, 4], textHashes: [10, 20, 10, 40],
                                         rule: .semihardTop1, rng: &rng)
        XCTAssertEqual(hashes.index[0], 3)
        // Empty semi-hard set (every candidate above the positive): a fallback from the candidates.
        let above: [Float] = [0.0, 0.5, 0.6, 0.0, 1, 0, 0, 0, 1]
        let f = ITMNegatives.choose(similarity: above, batch: 3, productIDs: [1, 2, 3], textHashes: [1, 2, 3],
                                    rule: .semihardTop1, rng: &rng)
        XCTAssertTrue(f.fallback[0])
        XCTAssertTrue([1, 2].contains(f.index[0]))
        // No candidate at all: counted as relaxed.
        let none = ITMNegatives.choose(similarity: [1, 0, 0, 1], batch: 2, productIDs: [5, 5], textHashes: [1, 2],
                                       rule: .semihardTop1, rng: &rng)
        XCTAssertEqual(none.relaxed, 2)
    }
}
