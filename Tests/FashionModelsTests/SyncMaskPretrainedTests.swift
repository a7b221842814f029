import TestSupport
import FashionModels
import Foundation
import Torch
import XCTest

/// SyncMask's pretrained text tower (SyncMaskPretrained.swift): all-MiniLM-L6-v2 loaded by name gives the sentence
/// embeddings of the plain-torch BERT in Tests/reference/minilm_reference.py; the init writes exactly the file's
/// tensors into the student and momentum towers and nothing else; wrong files are errors naming the key.
final class SyncMaskPretrainedTests: XCTestCase {
    /// Runs scripts/fetch-weights NAME (idempotent, sha256-checked); skips with its reason when there is no network.
    static func fetch(_ name: String) throws -> String {
        let p = Process()
        p.executableURL = Reference.repo.appendingPathComponent("scripts/fetch-weights")
        p.arguments = [name]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus == 2 { throw XCTSkip("scripts/fetch-weights \(name) could not download: \(message)") }
        guard p.terminationStatus == 0 else { throw TorchError.invalidArgument("scripts/fetch-weights \(name) failed: \(message)") }
        return try XCTUnwrap(PretrainedWeights.named(name)).path
    }

    /// bert-base-uncased ids of "a navy striped long-sleeve shirt", "long-sleeved shirt with navy stripes" and
    /// "the stock market fell sharply on tuesday", as `fashionvl tokenize` gives them, padded with 0.
    static let sentences: [[Int64]] = [
        [101, 1037, 3212, 17983, 2146, 1011, 10353, 3797, 102],
        [101, 2146, 1011, 10353, 2094, 3797, 2007, 3212, 13560, 102],
        [101, 1996, 4518, 3006, 3062, 9249, 2006, 9857, 102],
    ]

    static func batch() throws -> (ids: Tensor, mask: Tensor, idsJSON: String, maskJSON: String) {
        let l = sentences.map(\.count).max() ?? 0
        let ids = sentences.map { $0 + Array(repeating: 0, count: l - $0.count) }
        let mask = sentences.map { Array(repeating: Int64(1), count: $0.count) + Array(repeating: 0, count: l - $0.count) }
        func json(_ rows: [[Int64]]) -> String { "[" + rows.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",") + "]" }
        return (try Tensor(ids.flatMap { $0 }, shape: [ids.count, l]), try Tensor(mask.flatMap { $0 }, shape: [ids.count, l]),
                json(ids), json(mask))
    }

    static func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double { try a.sub(b).abs().max().item() }

    func testMiniLMSentenceEmbeddingsMatchPyTorchAndRankParaphrasesFirst() throws {
        let path = try Self.fetch("minilm-l6")
        let config = try ModelRegistry.load(nameOrPath: "syncmask-minilm")
        guard case let .syncmask(c) = config else { return XCTFail("syncmask-minilm is not a SyncMask config") }
        XCTAssertEqual(c.textInit, "minilm-l6")
        let model = try SyncMask(c)
        let lines = try model.loadPretrainedTowers()
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].contains(path), lines[0])

        let (ids, mask, idsJSON, maskJSON) = try Self.batch()
        let ref = try Reference.json(Reference.python([Reference.dir.appendingPathComponent("minilm_reference.py").path,
                                                       "embed", "--weights", path, "--ids", idsJSON, "--mask", maskJSON,
                                                       "--layers", "\(c.textLayers)"]))
        let refEmbedding = try Tensor(try XCTUnwrap(ref["embedding"] as? [[Double]]).flatMap { $0.map(Float.init) },
                                      shape: [3, c.textWidth])
        try Torch.noGrad {
            // all-MiniLM-L6-v2's sentence embedding: all 6 layers as plain BERT, mean over real tokens, L2-normalised.
            let e = try model.text_encoder.sentenceEmbedding(ids: ids, attentionMask: mask)
            XCTAssertEqual(e.shape, [3, 384])
            XCTAssertLessThanOrEqual(try Self.maxAbsDiff(e, refEmbedding), 1e-5)
            let em = try model.text_encoder_m.sentenceEmbedding(ids: ids, attentionMask: mask)
            XCTAssertEqual(try Self.maxAbsDiff(em, e), 0, "the momentum tower starts equal to the student")
            // SyncMask's own text mode: the first text_layers (4) layers.
            let states = try model.text_encoder.text(ids, keyMask: TextEncoder.keyMask(mask))
            let refStates = try Tensor(try XCTUnwrap(ref["states"] as? [Double]).map(Float.init), shape: states.shape)
            XCTAssertLessThanOrEqual(try Self.maxAbsDiff(states, refStates), 1e-5)

            let cos = try e.matmul(e.transpose(0, 1)).toArray(Float.self)
            let (para, unrelated0, unrelated1) = (cos[1], cos[2], cos[5])
            print("minilm parity: embedding max |Δ| \(try Self.maxAbsDiff(e, refEmbedding)), text-mode states max |Δ| "
                  + "\(try Self.maxAbsDiff(states, refStates)); cosine paraphrases \(para), unrelated \(unrelated0) / \(unrelated1)")
            XCTAssertGreaterThan(para, unrelated0 + 0.5, "paraphrases \(para) vs unrelated \(unrelated0)")
            XCTAssertGreaterThan(para, unrelated1 + 0.5, "paraphrases \(para) vs unrelated \(unrelated1)")
        }
    }

    func testInitCopiesTheFileIntoBothTowersAndLeavesCrossAttentionFresh() throws {
        let path = try Self.fetch("minilm-l6")
        let c = try SyncMaskConfig.load(nameOrPath: "syncmask-minilm")
        Torch.manualSeed(7)
        let fresh = try SyncMask(c)
        Torch.manualSeed(7)
        let model = try SyncMask(c)
        try model.loadPretrainedTowers()
        let file = try SafeTensors.load(path).tensors
        let params = Dictionary(model.namedParameters(removeDuplicates: false), uniquingKeysWith: { a, _ in a })
        let before = Dictionary(fresh.namedParameters(removeDuplicates: false), uniquingKeysWith: { a, _ in a })
        for key in ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.LayerNorm.weight",
                    "encoder.layer.0.attention.self.query.weight", "encoder.layer.3.intermediate.dense.bias",
                    "encoder.layer.4.attention.self.value.weight", "encoder.layer.5.output.LayerNorm.weight"] {
            let want = try XCTUnwrap(file[key], key)
            for tower in ["text_encoder.bert.", "text_encoder_m.bert."] {
                XCTAssertEqual(try Self.maxAbsDiff(try XCTUnwrap(params[tower + key], tower + key), want), 0, tower + key)
            }
        }
        // The MLM decoder is tied to the (loaded) word table; the MLM transform, cross-attention, image tower and
        // projections keep their fresh values.
        XCTAssertEqual(try Self.maxAbsDiff(try XCTUnwrap(params["text_encoder.cls.predictions.decoder.weight"]),
                                           try XCTUnwrap(file["embeddings.word_embeddings.weight"])), 0)
        let untouched = params.keys.filter {
            $0.contains(".crossattention.") || $0.contains("cls.predictions.transform") || $0.hasPrefix("visual_encoder")
                || $0.hasPrefix("text_proj") || $0.hasPrefix("mim_decoder")
        }
        XCTAssertEqual(untouched.filter { $0.contains(".crossattention.") }.count, 2 * 2 * 10, "2 towers × 2 fusion layers × 10 tensors")
        for key in untouched {
            XCTAssertEqual(try Self.maxAbsDiff(try XCTUnwrap(params[key]), try XCTUnwrap(before[key])), 0, key)
        }
        XCTAssertNotEqual(try Self.maxAbsDiff(try XCTUnwrap(params["text_encoder.bert.encoder.layer.4.crossattention.self.query.weight"]),
                                              try XCTUnwrap(file["encoder.layer.4.attention.self.query.weight"])), 0)
    }

    func testImageInitLoadsVisualEncoderTensors() throws {
        let c = try SyncMaskConfig.load(nameOrPath: "syncmask-demo")
        Torch.manualSeed(1)
        let source = try SyncMask(c)
        let dir = try Reference.tempDir("image-init")
        let file = dir + "/visual.safetensors"
        try SafeTensors.save(source.visual_encoder.stateDict().map { ("visual_encoder." + $0.0, $0.1) }, to: file)
        Torch.manualSeed(2)
        var c2 = c
        c2.imageInit = file
        let model = try SyncMask(c2)
        let lines = try model.loadPretrainedTowers()
        XCTAssertTrue(lines.first?.contains("visual_encoder") ?? false, "\(lines)")
        for (name, t) in source.visual_encoder.namedParameters() {
            let student = try XCTUnwrap(Dictionary(model.visual_encoder.namedParameters(), uniquingKeysWith: { a, _ in a })[name])
            let momentum = try XCTUnwrap(Dictionary(model.visual_encoder_m.namedParameters(), uniquingKeysWith: { a, _ in a })[name])
            XCTAssertEqual(try Self.maxAbsDiff(student, t), 0, name)
            XCTAssertEqual(try Self.maxAbsDiff(momentum, t), 0, name)
        }
    }

    private func assertError(_ body: () throws -> Void, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = "\(error)"
            for m in mentions { XCTAssertTrue(text.contains(m), "'\(m)' not in: \(text)", file: file, line: line) }
        }
    }

    func testWrongFilesAndConfigsAreErrorsThatNameTheProblem() throws {
        let minilm = try Self.fetch("minilm-l6")
        let dir = try Reference.tempDir("minilm-fixtures")
        try Reference.python([Reference.dir.appendingPathComponent("minilm_reference.py").path, "fixtures", "--out", dir])
        var c = try SyncMaskConfig.load(nameOrPath: "syncmask-minilm")

        // BERT keys of another width: the key, the found and the expected shape; nothing is written.
        c.textInit = dir + "/bert_w32.safetensors"
        Torch.manualSeed(3)
        let model = try SyncMask(c)
        let word = try model.text_encoder.bert.embeddings.word_embeddings.weight.clone()
        assertError({ try model.loadPretrainedTowers() },
                    mentions: ["bert_w32.safetensors", "'embeddings.word_embeddings.weight'", "[30522, 32]", "expected [30522, 384]"])
        XCTAssertEqual(try Self.maxAbsDiff(model.text_encoder.bert.embeddings.word_embeddings.weight, word), 0)

        // An image model's file as the text tower, and a text tower as the image tower.
        c.textInit = dir + "/image_tower.safetensors"
        assertError({ try SyncMask(c).loadPretrainedTowers() }, mentions: ["image_tower.safetensors", "not a BERT text tower", "blocks.0.0.conv_dw.weight"])
        c.textInit = nil
        c.imageInit = minilm
        assertError({ try SyncMask(c).loadPretrainedTowers() }, mentions: ["not an image tower", "embeddings.LayerNorm.bias"])
        c.imageInit = "minilm-l6"
        assertError({ try c.validate() }, mentions: ["image_init", "a text tower"])
        c.imageInit = nil

        // More layers than the init has: by name at config time, by file at load time.
        c.textLayers = 5
        c.textInit = "minilm-l6"
        assertError({ try c.validate() }, mentions: ["text_init", "6 BERT layers", "5 + 2 = 7"])
        c.textInit = minilm
        assertError({ try SyncMask(c).loadPretrainedTowers() }, mentions: [minilm, "has 6 BERT layers", "5 + 2 = 7"])
        c.textLayers = 4
        c.textWidth = 256
        c.textHeads = 8
        c.textInit = "minilm-l6"
        assertError({ try c.validate() }, mentions: ["text_init", "text_width 384"])
        c = try SyncMaskConfig.load(nameOrPath: "syncmask-minilm")
        c.maxPositions = 128
        assertError({ try c.validate() }, mentions: ["text_init", "max_positions 512", "has 128"])
        c = try SyncMaskConfig.load(nameOrPath: "syncmask-minilm")

        // A missing file.
        c.textInit = dir + "/nope.safetensors"
        assertError({ try SyncMask(c).loadPretrainedTowers() }, mentions: ["nope.safetensors", "no such file", "minilm-l6"])
        // A registered name not fetched (an empty weights root).
        setenv("FASHIONVL_WEIGHTS", dir + "/empty-root", 1)
        defer { unsetenv("FASHIONVL_WEIGHTS") }
        c.textInit = "minilm-l6"
        assertError({ try SyncMask(c).loadPretrainedTowers() }, mentions: ["empty-root/minilm-l6/model.safetensors", "scripts/fetch-weights minilm-l6"])
    }

    func testInitOptionParsing() throws {
        XCTAssertEqual(try SyncMaskTowerInit(parsing: "text=minilm-l6"), SyncMaskTowerInit(text: "minilm-l6"))
        XCTAssertEqual(try SyncMaskTowerInit(parsing: "text=/a/b.safetensors,image=/c.safetensors"),
                       SyncMaskTowerInit(text: "/a/b.safetensors", image: "/c.safetensors"))
        for bad in ["minilm-l6", "txt=a", "text=", "text=a,text=b", "text=a,"] {
            assertError({ _ = try SyncMaskTowerInit(parsing: bad) }, mentions: ["--init", "text=NAME|FILE"])
        }
        var c = try SyncMaskConfig.load(nameOrPath: "syncmask-demo")
        c = SyncMaskTowerInit(image: "/x.safetensors").applied(to: c)
        XCTAssertEqual(c.imageInit, "/x.safetensors")
        XCTAssertNil(c.textInit)
    }
}
