import FashionModels
import Foundation
import Torch
import XCTest

/// SyncMaskClassifier: the head names (docs/SYNCMASK.md §5), what fine-tuning trains, the logits' shapes, and a
/// pretraining state dict loading by name with the heads left fresh.
final class SyncMaskClassifierTests: XCTestCase {
    func testHeadsNamesParametersAndPretrainedLoad() throws {
        let c = try SyncMaskModelTests.tiny()
        Torch.manualSeed(0)
        let model = try SyncMaskClassifier(c, mainClasses: 5, subClasses: 7)
        let names = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.0, $0.1.shape) })
        XCTAssertEqual(names["cls_head_main.0.weight"], [c.textWidth, c.textWidth])
        XCTAssertEqual(names["cls_head_main.2.weight"], [5, c.textWidth])
        XCTAssertEqual(names["cls_head_sub.2.bias"], [7])
        let trained = model.categoryParameters().map(\.0)
        XCTAssertTrue(trained.contains("cls_head_sub.0.weight"))
        XCTAssertTrue(trained.contains { $0.hasPrefix("visual_encoder.") })
        XCTAssertTrue(trained.contains { $0.hasPrefix("text_encoder.bert.encoder.layer.1.crossattention.") })
        for excluded in ["visual_encoder_m.", "text_encoder_m.", "itm_head.", "mim_decoder.", "vision_proj", "temp",
                         "text_encoder.cls."] {
            XCTAssertFalse(trained.contains { $0.hasPrefix(excluded) }, excluded)
        }
        let b = 3
        let (main, sub) = try model.categoryLogits(images: Tensor.rand([b, 3, c.imageSize, c.imageSize]),
                                                   ids: Tensor.randint(low: 1, high: c.vocabSize, [b, c.textLength]),
                                                   attentionMask: Tensor.ones([b, c.textLength], dtype: .int64))
        XCTAssertEqual(main.shape, [b, 5])
        XCTAssertEqual(sub.shape, [b, 7])

        // A plain SyncMask's weights load by name; the heads keep their values.
        let base = try SyncMask(c)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smcls-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: dir) }
        try SafeTensors.save(base.stateDict(), to: dir.path)
        let head = try model.cls_head_main.output.weight.clone()
        try model.loadPretrained(weights: dir.path)
        XCTAssertEqual(try model.visual_encoder.cls_token.toArray(Float.self), try base.visual_encoder.cls_token.toArray(Float.self))
        XCTAssertEqual(try model.cls_head_main.output.weight.toArray(Float.self), try head.toArray(Float.self))
        // Opening that checkpoint as a fine-tuned classifier is one error naming the missing heads.
        let config = try JSONEncoder().encode(c)
        XCTAssertThrowsError(try SyncMaskClassifier.open(config: config, mainClasses: 5, subClasses: 7, weights: dir.path,
                                                         device: .cpu)) { error in
            XCTAssertTrue("\(error)".contains("cls_head_main"), "\(error)")
        }
    }
}
