import TestSupport
import FashionModels
import Foundation
import TestSupport
import Torch
import XCTest

/// The Swift Kaleido-BERT against the PyTorch reference port (Tests/reference/kaleido_port.py): the same state dict
/// and batch give the same seven losses and total (|Δ| ≤ 1e-5) and gradient norms (≤ 1e-4 relative); and the
/// model's shape facts of spec §9.
final class KaleidoParityTests: XCTestCase {
    static let tinyConfig = """
    {"family": "kaleido", "hidden": 32, "layers": 2, "heads": 4, "intermediate_size": 64, "vocab_size": 300,
     "text_length": 12, "feature_dim": 24, "dropout": 0}
    """

    func testLossesAndGradientsMatchThePort() throws { try checkParity(config: Self.tinyConfig) }

    /// The FashionVL contrast camouflage head (`camouflage_head: "contrast"`) against the port's.
    func testContrastCamouflageHeadMatchesThePort() throws {
        try checkParity(config: Self.tinyConfig.replacingOccurrences(of: #""dropout": 0}"#, with: #""dropout": 0, "camouflage_head": "contrast"}"#))
    }

    /// One camouflage head per config, by name; an unknown head is one error naming the field and the choices.
    func testCamouflageHeadChoice() throws {
        var c = KaleidoConfig()
        c.hidden = 16; c.layers = 1; c.heads = 2; c.intermediateSize = 32; c.featureDim = 8; c.vocabSize = 200
        func cpKeys(_ c: KaleidoConfig) throws -> [String] {
            try KaleidoBERT(c).namedParameters().map(\.0).filter { $0.hasPrefix("camouflage") }
        }
        XCTAssertEqual(try cpKeys(c), ["camouflage_head.weight", "camouflage_head.bias"])
        c.camouflageHead = .contrast
        XCTAssertEqual(try cpKeys(c), ["camouflage_contrast.scale", "camouflage_contrast.dense.weight"])
        let bad = #"{"family": "kaleido", "camouflage_head": "mlp"}"#
        XCTAssertThrowsError(try KaleidoConfig.decode(Data(bad.utf8), source: "x.json")) { e in
            XCTAssertEqual("\(e)", #"x.json: field 'camouflage_head': must be one of linear, contrast, got "mlp""#)
        }
    }

    /// `text_init`: a BERT-layout file's embeddings and layers land in `bert.*` (a `bert.` prefix and a pooler in the
    /// file are fine); the visual embedding and heads stay as drawn; a file of another width is one error naming the
    /// key and both shapes, and writes nothing.
    func testTextInitLoadsTheBertTowerOnly() throws {
        var c = KaleidoConfig()
        c.hidden = 16; c.layers = 2; c.heads = 2; c.intermediateSize = 32; c.featureDim = 8; c.vocabSize = 200; c.textLength = 8
        Torch.manualSeed(1)
        let source = try KaleidoBERT(c)
        let dir = try Reference.tempDir("kaleido-textinit")
        let file = dir + "/bert.safetensors"
        let tower = source.namedParameters().filter { $0.0.hasPrefix("bert.embeddings.") || $0.0.hasPrefix("bert.encoder.") || $0.0.hasPrefix("bert.pooler.") }
        try SafeTensors.save(tower, to: file)
        c.textInit = file
        Torch.manualSeed(2)
        let model = try KaleidoBERT(c)
        let before = Dictionary(uniqueKeysWithValues: try model.namedParameters().map { ($0.0, try $0.1.clone()) })
        let line = try XCTUnwrap(try model.loadPretrainedText())
        XCTAssertTrue(line.contains("layers 0–1"), line)
        let want = Dictionary(uniqueKeysWithValues: source.namedParameters())
        for (name, p) in model.namedParameters() {
            let moved = try p.sub(XCTUnwrap(before[name])).abs().max().item()
            if name.hasPrefix("bert.embeddings.") || name.hasPrefix("bert.encoder.") {
                XCTAssertEqual(try p.sub(XCTUnwrap(want[name])).abs().max().item(), 0, name)
            } else {
                XCTAssertEqual(moved, 0, "\(name) should stay as drawn")
            }
        }
        // Another width: one error, nothing written.
        var wide = c
        wide.hidden = 32; wide.intermediateSize = 64
        Torch.manualSeed(3)
        let other = try KaleidoBERT(wide)
        let snapshot = try other.bert.embeddings.word_embeddings.weight.clone()
        XCTAssertThrowsError(try other.loadPretrainedText()) { e in
            XCTAssertTrue("\(e)".contains(file) && "\(e)".contains("has shape [200, 16], expected [200, 32]"), "\(e)")
        }
        XCTAssertEqual(try other.bert.embeddings.word_embeddings.weight.sub(snapshot).abs().max().item(), 0)
    }

    private func checkParity(config: String) throws {
        let dir = try Reference.tempDir("kaleido")
        let configPath = dir + "/config.json"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let script = Reference.dir.appendingPathComponent("kaleido_parity.py").path
        try Reference.python([script, "make", "--out", dir, "--config", configPath, "--batch", "3", "--seed", "2"])
        let ref = try Reference.json(Reference.python([script, "losses", "--weights", dir + "/weights.safetensors",
                                                       "--batch", dir + "/batch.safetensors"]))
        let model = try KaleidoBERT(KaleidoConfig.load(nameOrPath: configPath))
        try model.loadStateDict(try SafeTensors.load(dir + "/weights.safetensors").tensors)
        model.eval()
        let b = try SafeTensors.load(dir + "/batch.safetensors").tensors
        func t(_ k: String) throws -> Tensor { try XCTUnwrap(b[k], k) }
        let x = KaleidoModelInputs(ids: try t("ids"), attentionMask: try t("attention_mask"), features: try t("features"),
                              positions: try t("positions"), mlmPositions: try t("mlm_positions"), mlmIds: try t("mlm_ids"),
                              mlmWeights: try t("mlm_weights"), itmLabels: try t("itm_labels"), rotation: try t("rotation"),
                              jigsaw: try t("jigsaw"), camouflage: try t("camouflage"), greyPositions: try t("grey_positions"),
                              greyTargets: try t("grey_targets"), blankPositions: try t("blank_positions"),
                              blankTargets: try t("blank_targets"))
        let l = try model.losses(x, terms: KaleidoTerms())
        var got = Dictionary(uniqueKeysWithValues: try l.named.map { ($0.0, try $0.1.item()) })
        got["total"] = try l.total.item()
        XCTAssertEqual(got.keys.sorted(), ["amlm", "b2cm", "cp", "g2cm", "itm", "jps", "rr", "total"])
        for (name, value) in got {
            XCTAssertEqual(value, try XCTUnwrap(ref[name] as? Double, name), accuracy: 1e-5, name)
        }
        // The losses are not trivially equal: a different term set changes the total.
        XCTAssertGreaterThan(abs(try model.losses(x, terms: KaleidoTerms(itm: false)).total.item() - got["total"]!), 1e-3)

        try l.total.backward()
        let refNorms = try XCTUnwrap(ref["grad_norms"] as? [String: Double])
        let named = Dictionary(model.namedParameters(removeDuplicates: false), uniquingKeysWith: { a, _ in a })
        for (name, expected) in refNorms {
            let g = try XCTUnwrap(named[name]?.grad, "no gradient for \(name)").norm().item()
            XCTAssertTrue(abs(g - expected) <= 1e-4 * max(abs(expected), 1e-12) || abs(g - expected) <= 1e-8,
                          "grad norm \(name): \(g) vs \(expected)")
        }
        let withGrad = Set(model.namedParameters().filter { $0.1.grad != nil }.map(\.0))
        XCTAssertEqual(withGrad.subtracting(refNorms.keys), [], "gradients the port does not have")
    }

    /// KL of identical softmaxes is 0 (§9); of different ones it is positive.
    func testReconstructionKLIsZeroForIdenticalInputs() throws {
        let target = try Tensor.randn([3, 2, 24])
        XCTAssertEqual(try KaleidoBERT.reconstructionKL(prediction: target, target: target).item(), 0, accuracy: 1e-7)
        XCTAssertGreaterThan(try KaleidoBERT.reconstructionKL(prediction: Tensor.randn([3, 2, 24]), target: target).item(), 0.01)
    }

    /// 64 text + 55 patches = 119 positions; levels of 1, 4, 9, 16, 25 in order.
    func testSequenceIs119LongWithLevelsInOrder() throws {
        var c = try KaleidoConfig.load(nameOrPath: "kaleido-demo")
        XCTAssertEqual(c.textLength, 64)
        XCTAssertEqual(c.featureDim, 1280)
        XCTAssertEqual(c.sequenceLength, 119)
        XCTAssertEqual(KaleidoConfig.levelSizes, [1, 4, 9, 16, 25])
        XCTAssertEqual((1...5).map(KaleidoConfig.levelOffset), [0, 1, 5, 14, 30])
        c.hidden = 16; c.layers = 1; c.heads = 2; c.intermediateSize = 32; c.featureDim = 8; c.vocabSize = 200
        let model = try KaleidoBERT(c)
        model.eval()
        let ids = try Tensor.randint(low: 104, high: 200, [2, 64])
        let states = try model.encode(ids: ids, attentionMask: Tensor.ones([2, 64], dtype: .int64),
                                      features: Tensor.randn([2, 55, 8]), positions: Tensor.rand([2, 55, 5]))
        XCTAssertEqual(states.shape, [2, 119, 16])
        XCTAssertEqual(try model.level(5, of: states).shape, [2, 25, 16])
        XCTAssertThrowsError(try model.encode(ids: ids, attentionMask: Tensor.ones([2, 64], dtype: .int64),
                                              features: Tensor.randn([2, 54, 8]), positions: Tensor.rand([2, 55, 5])))
        let base = try KaleidoConfig.load(nameOrPath: "kaleido-base")
        XCTAssertEqual([base.hidden, base.layers, base.heads, base.intermediateSize, base.featureDim], [768, 12, 12, 3072, 2048])
    }

    func testConfigErrorsNameTheField() throws {
        let bad = #"{"family": "kaleido", "hidden": 30, "heads": 4}"#
        XCTAssertThrowsError(try KaleidoConfig.decode(Data(bad.utf8), source: "x.json")) { e in
            XCTAssertEqual("\(e)", "x.json: field 'heads': the hidden width 30 is not divisible by 4 heads")
        }
        XCTAssertThrowsError(try KaleidoConfig.decode(Data(#"{"family": "kaleido", "feature_dims": 3}"#.utf8), source: "y.json")) { e in
            XCTAssertTrue("\(e)".contains("feature_dims"), "\(e)")
        }
    }
}
