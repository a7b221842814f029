import TestSupport
import FashionModels
import Foundation
import Torch
import XCTest

/// The Swift SyncMask against the PyTorch reference port (Tests/reference/syncmask_port.py): the same state dict,
/// batch, masks and negatives give the same four losses (|Δ| ≤ 1e-5), gradient norms (≤ 1e-4 relative), chosen
/// negatives, sync-layer attention, momentum update and queue state.
final class SyncMaskParityTests: XCTestCase {
    static func config(_ encoder: String, textPool: String) -> String {
        // EfficientNet-Lite0 (random weights, perturbed BN statistics) at 64 px: a 2×2 grid of 32-px patches.
        let image = encoder == "efficientnet_lite0" ? "\"image_size\": 64, \"patch_size\": 32"
                                                    : "\"image_size\": 32, \"patch_size\": 16, \"cnn_channels\": [8, 8, 16, 16]"
        return """
        {"family": "syncmask", "image_encoder": "\(encoder)", \(image),
         "vision_width": 32, "vision_depth": 1, "vision_heads": 4, "text_width": 32, "text_heads": 4, "text_layers": 1,
         "fusion_layers": 2, "intermediate_size": 64, "vocab_size": 300, "text_length": 10, "embed_dim": 16,
         "queue_size": 12, "mim_decoder_layers": 1, "sync_layer": -1, "text_pool": "\(textPool)"}
        """
    }

    func check(encoder: String, textPool: String, alpha: Double, itc: SyncMaskITC = .momentum) throws {
        let dir = try Reference.tempDir("syncmask-\(encoder)")
        let configPath = dir + "/config.json"
        try Self.config(encoder, textPool: textPool).write(toFile: configPath, atomically: true, encoding: .utf8)
        let script = Reference.dir.appendingPathComponent("syncmask_parity.py").path
        try Reference.python([script, "make", "--out", dir, "--config", configPath, "--batch", "4", "--seed", "3",
                              "--vocab", "300", "--alpha", "\(alpha)", "--itc", itc.rawValue])
        let ref = try Reference.json(Reference.python([script, "losses", "--weights", dir + "/weights.safetensors",
                                                       "--batch", dir + "/batch.safetensors", "--itc", itc.rawValue]))

        let config = try SyncMaskConfig.load(nameOrPath: configPath)
        let model = try SyncMask(config)
        try model.loadStateDict(try SafeTensors.load(dir + "/weights.safetensors").tensors)
        let b = try SafeTensors.load(dir + "/batch.safetensors").tensors
        func t(_ k: String) throws -> Tensor { try XCTUnwrap(b[k], k) }
        let x = SyncMaskInputs(images: try t("image"), ids: try t("input_ids"), attentionMask: try t("attention_mask"),
                               productIDs: try t("pids"), textHashes: try t("hashes"))
        let masks = SyncMaskMasks(mlmIds: try t("mlm_ids"), mlmLabels: try t("mlm_labels"), patchMask: try t("patch_mask").gt(0))
        let a = try t("alpha").item()
        let mp = try model.momentumPass(x, alpha: a, syncAttention: true)
        let negImage = try t("neg_image").toArray(Int64.self).map(Int.init)
        let negText = try t("neg_text").toArray(Int64.self).map(Int.init)
        // The rule on the Swift side's own similarities agrees with the port's choice wherever no random fallback
        // was involved.
        var rng = SystemRandomNumberGenerator()
        let own = try model.stepLosses(x, momentum: model.momentumPass(x, alpha: a, syncAttention: false), masks: masks,
                                       alpha: a, terms: SyncMaskTerms(itc: false, itm: true, mlm: false, mim: false),
                                       rule: .semihardTop1, itc: itc, rng: &rng)
        let fallback = try t("neg_fallback").toArray(Int64.self)
        for i in 0..<negImage.count where fallback[i] == 0 { XCTAssertEqual(own.negativeImage?.index[i], negImage[i], "image for text \(i)") }
        for i in 0..<negText.count where fallback[negText.count + i] == 0 { XCTAssertEqual(own.negativeText?.index[i], negText[i], "text for image \(i)") }

        // Fresh model for the compared step (the check above advanced the momentum and queues).
        let fresh = try SyncMask(config)
        try fresh.loadStateDict(try SafeTensors.load(dir + "/weights.safetensors").tensors)
        let mp2 = try fresh.momentumPass(x, alpha: a, syncAttention: true)
        let l = try fresh.stepLosses(x, momentum: mp2, masks: masks, alpha: a, terms: SyncMaskTerms(), rule: .semihardTop1,
                                     negatives: (negImage, negText), itc: itc, rng: &rng)
        for (name, v) in [("itc", l.itc), ("itm", l.itm), ("mlm", l.mlm), ("mim", l.mim), ("total", l.total)] {
            let expected = try XCTUnwrap(ref[name] as? Double, name)
            XCTAssertEqual(try XCTUnwrap(v, name).item(), expected, accuracy: 1e-5, name)
        }
        try l.total.backward()
        let refNorms = try XCTUnwrap(ref["grad_norms"] as? [String: Double])
        var maxRel = 0.0
        let named = Dictionary(fresh.namedParameters(removeDuplicates: false), uniquingKeysWith: { a, _ in a })
        for (name, expected) in refNorms {
            let got = try XCTUnwrap(named[name]?.grad, "no gradient for \(name)").norm().item()
            // Key biases get a zero gradient in exact arithmetic (softmax ignores a constant per query): their
            // norms are rounding noise (~1e-11), compared absolutely.
            let rel = abs(got - expected) / max(abs(expected), 1e-12)
            if abs(expected) > 1e-8 { maxRel = max(maxRel, rel) }
            XCTAssertTrue(rel <= 1e-4 || abs(got - expected) <= 1e-8, "grad norm \(name): \(got) vs \(expected)")
        }
        let trained = Set(fresh.trainableParameters().filter { $0.1.grad != nil }.map(\.0))
        XCTAssertEqual(trained.subtracting(refNorms.keys), [], "gradients the port does not have")
        // Attention of the sync layer (head mean), the momentum update and the queue after the step.
        let att = try XCTUnwrap(mp.syncAttention).reshape([-1]).toArray(Float.self)
        let refAtt = try XCTUnwrap(ref["sync_attention"] as? [Any])
        func flat(_ a: Any) -> [Double] { (a as? [Any]).map { $0.flatMap(flat) } ?? [(a as? Double) ?? .nan] }
        let refFlat = flat(refAtt)
        XCTAssertEqual(att.count, refFlat.count)
        XCTAssertLessThanOrEqual(zip(att, refFlat).map { abs(Double($0) - $1) }.max() ?? 1, 1e-5)
        var checksum = 0.0
        for (_, m) in try fresh.momentumPairs() { checksum += try m.to(dtype: .float64).sum().item() }
        let refChecksum = try XCTUnwrap(ref["momentum_checksum"] as? Double)
        XCTAssertEqual(checksum, refChecksum, accuracy: 1e-4 * max(1, abs(refChecksum)))
        XCTAssertEqual(try fresh.queue_ptr.value.itemInt(), try XCTUnwrap(ref["queue_ptr"] as? Int))
        let queueSum = try fresh.image_queue.value.to(dtype: .float64).sum().item()
        XCTAssertEqual(queueSum, try XCTUnwrap(ref["image_queue_checksum"] as? Double), accuracy: 1e-4)
        print("syncmask parity \(encoder)/\(textPool) α=\(a): itc \(try l.itc!.item()) vs \(ref["itc"]!), max relative grad-norm Δ \(maxRel)")
    }

    func testCNNMeanPoolParity() throws { try check(encoder: "cnn", textPool: "mean", alpha: 0.4) }
    func testViTClsParity() throws { try check(encoder: "vit", textPool: "cls", alpha: 0.0) }
    /// `--itc in-batch` (CLIP-style ITC, the documented option that learns fastest from random weights).
    func testInBatchITCParity() throws { try check(encoder: "cnn", textPool: "mean", alpha: 0.4, itc: .inBatch) }
    /// The EfficientNet-Lite0 stem: its own normalisation, masked 32-px patches before the backbone, BatchNorm on
    /// the (perturbed) running statistics although the model is in training mode.
    func testEfficientNetStemParity() throws { try check(encoder: "efficientnet_lite0", textPool: "mean", alpha: 0.4) }
}
