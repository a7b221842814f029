import TestSupport
import FashionModels
import Foundation
import Torch
import XCTest

final class MVLTModelTests: XCTestCase {
    /// mvlt-tiny's state dict = the reference port's spec-§11 table (names, order, shapes, dtypes).
    func testStateDictMatchesSpecTable() throws {
        let text = try Reference.python(["-c", """
            import sys, json; sys.path.insert(0, '.')
            import mvlt_port as M
            print(json.dumps([[k, list(s), str(d)] for k, (s, d) in M.spec_state_shapes().items()]))
            """])
        let spec = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[Any]])
        Torch.manualSeed(0)
        let model = try MVLT(ModelRegistry.config(named: "mvlt-tiny"))
        let own = model.stateDict()
        XCTAssertEqual(own.count, 267)
        XCTAssertEqual(own.map(\.0), spec.map { $0[0] as! String }, "names in PyTorch state_dict order")
        for ((name, t), row) in zip(own, spec) {
            XCTAssertEqual(t.shape, row[1] as! [Int], name)
            XCTAssertEqual(t.dtype == .int64 ? "torch.int64" : "torch.float32", row[2] as! String, name)
        }
        XCTAssertEqual(model.parameterCount, 40_025_089)
        // Tied: the decoder IS the word table.
        XCTAssertTrue(model.mlm_head!.mlm_decoder.weight === model.text_embeddings.word_embeddings.weight)
        XCTAssertEqual(try model.text_embeddings.position_ids.value.toArray(Int64.self), (0..<512).map(Int64.init))
    }

    func testCategoryHeadsAndCategoryOnly() throws {
        var c = MVLTConfig.tiny
        c.heads.category = true
        XCTAssertEqual(try MVLT(c).stateDict().count, 281)
        c.heads = MVLTHeads(mlm: false, itm: false, mir: false, category: true)
        XCTAssertEqual(try MVLT(c).stateDict().count, 196)
    }

    /// Init per spec §4.8: Linear std 0.02 / bias 0, LayerNorm 1/0, extra biases 0, BERT tables N(0,1),
    /// word table (tied) std 0.02 with a non-zero row 0; `text_embedding_init: bert` gives the BERT tables 0.02.
    func testInitialisation() throws {
        Torch.manualSeed(1)
        var config = try ModelRegistry.config(named: "mvlt-demo")
        config.textEmbeddingInit = .code
        let m = try MVLT(config)
        let sd = Dictionary(uniqueKeysWithValues: m.stateDict())
        XCTAssertEqual(try sd["block1.0.attn.q.weight"]!.std(dims: [0, 1]).item(), 0.02, accuracy: 0.003)
        XCTAssertEqual(try sd["block1.0.attn.q.bias"]!.abs().max().item(), 0)
        XCTAssertEqual(try sd["block1.0.norm1.weight"]!.min().item(), 1)
        XCTAssertEqual(try sd["itm_head.linear_bias"]!.abs().max().item(), 0)
        XCTAssertEqual(try sd["mlm_head.bias"]!.abs().max().item(), 0)
        XCTAssertEqual(try sd["text_embeddings.position_embeddings.weight"]!.std(dims: [0, 1]).item(), 1, accuracy: 0.05)
        let word = sd[MVLT.wordKey]!
        XCTAssertEqual(try word.std(dims: [0, 1]).item(), 0.02, accuracy: 0.001)
        XCTAssertGreaterThan(try word.select(dim: 0, index: 0).abs().sum().item(), 0)
        XCTAssertEqual(try sd["pos_embed1"]!.std(dims: [0, 1, 2]).item(), 0.02, accuracy: 0.002)

        config.textEmbeddingInit = .bert
        let bert = Dictionary(uniqueKeysWithValues: try MVLT(config).stateDict())
        for key in ["text_embeddings.position_embeddings.weight", "text_embeddings.token_type_embeddings.weight"] {
            XCTAssertEqual(try bert[key]!.std(dims: [0, 1]).item(), 0.02, accuracy: 0.004, key)
        }
        XCTAssertEqual(try bert[MVLT.wordKey]!.std(dims: [0, 1]).item(), 0.02, accuracy: 0.001)
    }

    /// Every registered config builds and runs a forward with exactly the expected output shapes.
    func testEveryRegisteredConfigRuns() throws {
        XCTAssertEqual(ModelRegistry.names, ["mvlt-tiny", "mvlt-demo", "syncmask-base", "syncmask-demo", "syncmask-minilm", "syncmask-effnet", "kaleido-base", "kaleido-demo", "kaleido-minilm"])
        for name in ModelRegistry.names where name.hasPrefix("mvlt") {
            let c = try ModelRegistry.config(named: name)
            Torch.manualSeed(0)
            let model = try MVLT(c)
            model.eval()
            let b = 1, s = c.imageSize, l = c.textLength
            let image = try Tensor.rand([b, 3, s, s])
            let ids = try Tensor.randint(low: 0, high: c.vocabSize, [b, l])
            let out = try Torch.noGrad { try model(image: image, inputIds: ids) }
            XCTAssertEqual(out.mir?.shape, [b, 3, s, s], name)
            XCTAssertEqual(out.itm?.shape, [b, 2], name)
            XCTAssertEqual(out.mlm?.shape, [b, l, 30522], name)
            XCTAssertNil(out.supCategory, name)
            XCTAssertEqual(try out.mlm!.isfinite().all().itemInt(), 1, name)
        }
        let demo = try ModelRegistry.config(named: "mvlt-demo")
        XCTAssertEqual(demo.imageSize, 128)
        XCTAssertEqual(demo.textLength, 40)
        XCTAssertEqual(demo.embedDims, [32, 64, 160, 256])
        XCTAssertEqual(demo.textHidden, 256)
        XCTAssertEqual(try ModelRegistry.config(named: "mvlt-tiny"), MVLTConfig.tiny)
    }

    /// Sources/FashionModels/Configs/*.json (documentation) say the same as the embedded registry.
    func testConfigFilesMatchRegistry() throws {
        let dir = Reference.repo.appendingPathComponent("Sources/FashionModels/Configs")
        for name in ModelRegistry.names {
            let path = dir.appendingPathComponent(name + ".json").path
            switch (try ModelRegistry.load(nameOrPath: path), try ModelRegistry.load(nameOrPath: name)) {
            case let (.mvlt(a), .mvlt(b)): XCTAssertEqual(a, b, name)
            case let (.syncmask(a), .syncmask(b)): XCTAssertEqual(a, b, name)
            case let (.kaleido(a), .kaleido(b)): XCTAssertEqual(a, b, name)
            default: XCTFail("\(name): the file and the registry disagree on the family")
            }
        }
    }

    func testTextFirstAndCategoryForward() throws {
        var c = try ModelRegistry.config(named: "mvlt-demo")
        c.imageSize = 64; c.textLength = 8; c.tokenOrder = .textFirst; c.heads.category = true
        c.posEmbedResize = .whenGridDiffers
        let model = try MVLT(c)
        let out = try model(image: try Tensor.rand([2, 3, 64, 64]), inputIds: try Tensor.randint(low: 0, high: 100, [2, 8]))
        XCTAssertEqual(out.supCategory?.shape, [2, 48])
        XCTAssertEqual(out.subCategory?.shape, [2, 122])
        let l = try MVLT.losses(out, cleanImage: try Tensor.rand([2, 3, 64, 64]), mlmLabels: try Tensor.full([2, 8], 5, dtype: .int64),
                                itmLabels: try Tensor([Int64(0), 1]),
                                categoryLabels: (try Tensor([Int64(3), 4]), try Tensor([Int64(100), 121])))
        XCTAssertNotNil(l.supCategory)
        XCTAssertNotNil(l.itmAccuracy)
        try l.total.backward()
        XCTAssertNotNil(model.sub_cls_head!.linear.weight.grad)
    }

    /// total = mlm + itm + 10·mir; each term can be dropped.
    func testLossTermsAndFlags() throws {
        let out = MVLTOutput(mir: try Tensor.full([1, 3, 32, 32], 0.5), itm: try Tensor([Float(2), 0], shape: [1, 2]),
                             mlm: try Tensor.zeros([1, 4, 10]))
        let clean = try Tensor.zeros([1, 3, 32, 32])
        let mlmLabels = try Tensor([Int64(1), -100, 3, -100], shape: [1, 4]), itmLabels = try Tensor([Int64(0)])
        let all = try MVLT.losses(out, cleanImage: clean, mlmLabels: mlmLabels, itmLabels: itmLabels)
        XCTAssertEqual(try all.mir!.item(), 0.125, accuracy: 1e-7)                 // 0.5·0.5²
        XCTAssertEqual(try all.mlm!.item(), Foundation.log(10), accuracy: 1e-6)     // uniform logits
        XCTAssertEqual(try all.itm!.item(), Foundation.log(1 + Foundation.exp(-2)), accuracy: 1e-6)
        XCTAssertEqual(try all.total.item(), Foundation.log(10) + Foundation.log(1 + Foundation.exp(-2)) + 1.25, accuracy: 1e-5)
        XCTAssertEqual(try all.itmAccuracy!.item(), 1)
        let noMir = try MVLT.losses(out, cleanImage: clean, mlmLabels: mlmLabels, itmLabels: itmLabels,
                                    terms: MVLTLossTerms(mir: false))
        XCTAssertNil(noMir.mir)
        XCTAssertEqual(try noMir.total.item(), try all.total.item() - 1.25, accuracy: 1e-5)
        XCTAssertThrowsError(try MVLT.losses(out, cleanImage: clean, mlmLabels: mlmLabels, itmLabels: itmLabels,
                                             terms: MVLTLossTerms(mlm: false, itm: false, mir: false)))
    }

    /// A batch whose MLM corruption selected no word (likely at small batches): the MLM term is 0, not NaN, and the
    /// total stays finite and differentiable (issue 14 item 2). Both the full-logits and the labelled-rows paths.
    func testEmptyMLMMaskGivesZeroTerm() throws {
        let out = MVLTOutput(mir: try Tensor.full([1, 3, 32, 32], 0.5), itm: try Tensor([Float(2), 0], shape: [1, 2]),
                             mlm: try Tensor.zeros([1, 4, 10]))
        let none = try Tensor.full([1, 4], -100, dtype: .int64), itmLabels = try Tensor([Int64(0)])
        let l = try MVLT.losses(out, cleanImage: try Tensor.zeros([1, 3, 32, 32]), mlmLabels: none, itmLabels: itmLabels)
        XCTAssertEqual(try l.mlm!.item(), 0)
        XCTAssertEqual(try l.total.item(), Foundation.log(1 + Foundation.exp(-2)) + 1.25, accuracy: 1e-5)

        var c = try ModelRegistry.config(named: "mvlt-demo")
        c.imageSize = 64; c.textLength = 8
        let model = try MVLT(c)
        let image = try Tensor.rand([2, 3, 64, 64])
        for full in [false, true] {
            let losses = try model.losses(input: image, cleanImage: image, inputIds: try Tensor.randint(low: 0, high: 100, [2, 8]),
                                          mlmLabels: try Tensor.full([2, 8], -100, dtype: .int64),
                                          itmLabels: try Tensor([Int64(0), 1]), fullMLMLogits: full)
            XCTAssertEqual(try losses.mlm!.item(), 0, "full logits \(full)")
            XCTAssertEqual(try losses.total.isfinite().all().itemInt(), 1, "full logits \(full)")
            try losses.total.backward()
        }
    }

    /// Drop-path rates equal the port's torch.linspace(0, 0.1, 8) values exactly.
    func testDropPathRates() throws {
        let text = try Reference.python(["-c", "import torch, json; print(json.dumps([x.item() for x in torch.linspace(0, 0.1, 8)]))"])
        let expected = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Double])
        let model = try MVLT(ModelRegistry.config(named: "mvlt-demo"))
        // float32 values (JSON parsing may be an ulp off in double)
        XCTAssertEqual((model.block1 + model.block2 + model.block3 + model.block4).map { Float($0.drop_path.p) },
                       expected.map { Float($0) })
    }

    /// Drop path draws from the default generator: same seed, same training forward.
    func testDropPathUsesDefaultGenerator() throws {
        var c = try ModelRegistry.config(named: "mvlt-demo")
        c.imageSize = 64; c.textLength = 8; c.dropPathRate = 0.5; c.embeddingDropout = 0
        Torch.manualSeed(3)
        let model = try MVLT(c)
        let image = try Tensor.rand([4, 3, 64, 64]), ids = try Tensor.randint(low: 0, high: 100, [4, 8])
        func run(_ seed: UInt64) throws -> Double {
            Torch.manualSeed(seed)
            return try model(image: image, inputIds: ids).itm!.sum().item()
        }
        XCTAssertEqual(try run(7), try run(7))
        XCTAssertNotEqual(try run(7), try run(8))
        model.eval()
        XCTAssertEqual(try run(7), try run(8))
    }
}
