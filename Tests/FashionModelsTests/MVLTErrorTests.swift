import TestSupport
import FashionModels
import Foundation
import Torch
import XCTest

/// Bad configs and bad weights throw errors that name the field, file and keys.
final class MVLTErrorTests: XCTestCase {
    func testUnknownConfigNameListsKnownNames() {
        XCTAssertThrowsError(try MVLTConfig.load(nameOrPath: "mvlt-huge")) { e in
            XCTAssertEqual(e as? ModelError, .unknownConfig(name: "mvlt-huge", known: ["mvlt-tiny", "mvlt-demo", "syncmask-base", "syncmask-demo", "syncmask-minilm", "syncmask-effnet", "kaleido-base", "kaleido-demo", "kaleido-minilm"]))
            XCTAssertTrue("\(e)".contains("mvlt-tiny, mvlt-demo"))
        }
    }

    func testJSONFile() throws {
        let dir = try Reference.tempDir("cfg")
        func write(_ json: String) throws -> String {
            let p = dir + "/c\(UInt32.random(in: 0...UInt32.max)).json"
            try json.write(toFile: p, atomically: true, encoding: .utf8)
            return p
        }
        // Partial JSON keeps the defaults.
        let ok = try MVLTConfig.load(nameOrPath: write(#"{"image_size": 128, "heads": {"mir": false}}"#))
        XCTAssertEqual(ok.imageSize, 128)
        XCTAssertFalse(ok.heads.mir)
        XCTAssertEqual(ok.embedDims, [64, 128, 320, 512])

        let wrongType = try write(#"{"image_size": "big"}"#)
        XCTAssertThrowsError(try MVLTConfig.load(nameOrPath: wrongType)) { e in
            guard case let .configFile(path, field, _)? = e as? ModelError else { return XCTFail("\(e)") }
            XCTAssertEqual(path, wrongType)
            XCTAssertEqual(field, "image_size")
        }
        let wrongElement = try write(#"{"embed_dims": [64, 128, "x", 512]}"#)
        XCTAssertThrowsError(try MVLTConfig.load(nameOrPath: wrongElement)) { e in
            guard case let .configFile(_, field, _)? = e as? ModelError else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "embed_dims[2]")
        }
        let badEnum = try write(#"{"token_order": "sideways"}"#)
        XCTAssertThrowsError(try MVLTConfig.load(nameOrPath: badEnum)) { e in
            guard case let .configFile(_, field, _)? = e as? ModelError else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "token_order")
        }
        let badInit = try write(#"{"text_embedding_init": "xavier"}"#)
        XCTAssertThrowsError(try MVLTConfig.load(nameOrPath: badInit)) { e in
            guard case let .configFile(_, field, _)? = e as? ModelError else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "text_embedding_init")
        }
        XCTAssertEqual(try MVLTConfig.load(nameOrPath: write(#"{"text_embedding_init": "bert"}"#)).textEmbeddingInit, .bert)
        let negative = try write(#"{"text_length": -4}"#)
        XCTAssertThrowsError(try MVLTConfig.load(nameOrPath: negative)) { e in
            XCTAssertEqual(e as? ModelError, .configFile(path: negative, field: "text_length", reason: "must be in 1...8192, got -4"))
        }
        XCTAssertThrowsError(try MVLTConfig.load(nameOrPath: dir + "/absent.json")) { e in
            guard case let .configFile(path, nil, _)? = e as? ModelError else { return XCTFail("\(e)") }
            XCTAssertTrue(path.hasSuffix("absent.json"))
        }
    }

    /// Config files, both families, one checking place (issue 14 item 5): unknown keys (also nested) named,
    /// absurd sizes refused naming the field and the range before any model exists, JSON syntax errors located
    /// by line and column, names that are not registered refused listing the known ones.
    func testConfigFilesAreCheckedInOnePlace() throws {
        let dir = try Reference.tempDir("cfg5")
        func load(_ json: String) -> String {
            let p = dir + "/c\(UInt32.random(in: 0...UInt32.max)).json"
            do {
                try json.write(toFile: p, atomically: true, encoding: .utf8)
                _ = try ModelRegistry.load(nameOrPath: p)
                return "accepted"
            } catch {
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix(p + ": "), "names the file: \(text)")
                return String(text.dropFirst(p.count + 2))
            }
        }
        XCTAssertTrue(load(#"{"image_size": 64, "imagesize": 3}"#).hasPrefix("field 'imagesize': unknown key (known: decoder_channels, depths, "))
        XCTAssertEqual(load(#"{"heads": {"mirr": false}}"#), "field 'heads.mirr': unknown key (known: category, itm, mir, mlm)")
        XCTAssertTrue(load(#"{"family": "syncmask", "queue": 3}"#).hasPrefix("field 'queue': unknown key (known: alpha, "))
        XCTAssertEqual(load(#"{"family": "mvlt", "image_size": 64}"#), "accepted")
        XCTAssertEqual(load(#"{"image_size": 640000}"#), "field 'image_size': must be in 32...4096, got 640000")
        XCTAssertEqual(load(#"{"embed_dims": [64, 128, 320, 5000000]}"#), "field 'embed_dims[3]': must be in 1...8192, got 5000000")
        XCTAssertEqual(load(#"{"vocab_size": 999999999}"#), "field 'vocab_size': must be in 1...1048576, got 999999999")
        XCTAssertEqual(load(#"{"family": "syncmask", "text_width": 100000}"#), "field 'text_width': must be in 1...8192, got 100000")
        XCTAssertEqual(load("{\"image_size\": 64,\n  \"text_length\": 16,,\n}"),
                       "not valid JSON: line 2, column 21: expected a quoted key, found ','")
        XCTAssertEqual(load("[1, 2, 3]"), "expected a JSON object")
        XCTAssertEqual(load(#"{"image_size": "big"}"#), "field 'image_size': expected an integer")
        XCTAssertEqual(load(#"{"embed_dims": 64}"#), "field 'embed_dims': expected a list")
        XCTAssertEqual(load("{\"a\": tru}"), "not valid JSON: line 1, column 10: expected 'true', found '}'")
        XCTAssertEqual(load("{\"image_size\": 64"), "not valid JSON: line 1, column 18: expected ',' or '}', found end of file")
        XCTAssertThrowsError(try ModelRegistry.load(nameOrPath: "mvlt-hug")) { e in
            XCTAssertEqual("\(e)", "unknown model config 'mvlt-hug'; known: \(ModelRegistry.names.joined(separator: ", ")) (or a path to a .json file)")
            XCTAssertTrue(ModelRegistry.names.starts(with: ["mvlt-tiny", "mvlt-demo", "syncmask-base", "syncmask-demo"]))
        }
    }

    func testValidation() {
        func field(_ edit: (inout MVLTConfig) -> Void) -> String? {
            var c = MVLTConfig.tiny
            edit(&c)
            do { try c.validate(); return nil } catch let ModelError.invalidConfig(f, _) { return f } catch { return "\(error)" }
        }
        XCTAssertNil(field { _ in })
        XCTAssertEqual(field { $0.imageSize = 100 }, "image_size")
        XCTAssertEqual(field { $0.imageSize = -32 }, "image_size")
        XCTAssertEqual(field { $0.vocabSize = 0 }, "vocab_size")
        XCTAssertEqual(field { $0.embedDims = [64, 128, 320] }, "embed_dims")
        XCTAssertEqual(field { $0.depths = [2, -1, 2, 2] }, "depths[1]")
        XCTAssertEqual(field { $0.numHeads = [1, 3, 5, 8] }, "num_heads")
        XCTAssertEqual(field { $0.textLength = 600 }, "text_length")
        XCTAssertEqual(field { $0.dropPathRate = 1.5 }, "drop_path_rate")
        XCTAssertThrowsError(try MVLT({ var c = MVLTConfig.tiny; c.imageSize = 100; return c }()))
    }

    func testBadInputs() throws {
        var c = try ModelRegistry.config(named: "mvlt-demo")
        c.imageSize = 64; c.textLength = 8
        let model = try MVLT(c)
        XCTAssertThrowsError(try model(image: Tensor.rand([1, 3, 100, 100]), inputIds: Tensor.zeros([1, 8], dtype: .int64)))
        XCTAssertThrowsError(try model(image: Tensor.rand([1, 3, 64, 64]), inputIds: Tensor.zeros([1, 9], dtype: .int64)))
        XCTAssertThrowsError(try model(image: Tensor.rand([1, 3, 64, 64]), inputIds: Tensor.zeros([1, 8]))) { e in
            XCTAssertTrue("\(e)".contains("int64"))
        }
    }

    /// Weights with a missing key / a mis-shaped key / an unexpected key / an untied decoder → errors naming
    /// the file and the keys; `module.` prefixes are stripped; the optional keys may be absent.
    func testWeightsErrors() throws {
        let (dir, _) = try MVLTParityTests.small.get()
        let path = dir + "/weights.safetensors"
        let original = try SafeTensors.load(path).tensors
        let model = try MVLT.fromWeights(path: path, imageSize: 64)

        func check(_ name: String, _ edit: (inout [String: Tensor]) throws -> Void,
                   _ verify: (ModelError) -> Void) throws {
            var w = original
            try edit(&w)
            let p = dir + "/\(name).safetensors"
            try SafeTensors.save(w.sorted { $0.key < $1.key }, to: p)
            XCTAssertThrowsError(try model.load(weightsPath: p), name) { e in
                guard let me = e as? ModelError else { return XCTFail("\(name): \(e)") }
                XCTAssertTrue("\(me)".hasPrefix(p), "\(name): \(me)")
                verify(me)
            }
        }
        try check("missing", { $0["block2.1.attn.kv.bias"] = nil }) {
            XCTAssertEqual($0, .weights(path: dir + "/missing.safetensors", missing: ["block2.1.attn.kv.bias"], unexpected: [], mismatched: []))
        }
        try check("misshaped", { $0["block3.0.mlp.fc1.weight"] = try Tensor.zeros([7, 320]) }) {
            guard case let .weights(_, [], [], mismatched) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(mismatched.count, 1)
            XCTAssertTrue(mismatched[0].hasPrefix("block3.0.mlp.fc1.weight"), mismatched[0])
        }
        try check("unexpected", { $0["block9.0.norm1.weight"] = try Tensor.zeros([4]) }) {
            guard case .weights(_, [], ["block9.0.norm1.weight"], []) = $0 else { return XCTFail("\($0)") }
        }
        try check("untied", { $0[MVLT.decoderKey] = try $0[MVLT.wordKey]!.add(1) }) {
            guard case .badWeights = $0 else { return XCTFail("\($0)") }
        }
        // A failed load changes nothing.
        XCTAssertEqual(try model.block2[1].attn.kv.bias!.eq(original["block2.1.attn.kv.bias"]!).all().itemInt(), 1)

        // Optional keys absent and a DDP prefix: loads.
        var w = original
        w[MVLT.decoderKey] = nil
        w["text_embeddings.position_ids"] = nil
        let prefixed = Dictionary(uniqueKeysWithValues: w.map { ("module." + $0.key, $0.value) })
        try model.load(weights: prefixed, source: "prefixed")
        XCTAssertTrue(model.mlm_head!.mlm_decoder.weight === model.text_embeddings.word_embeddings.weight)

        // A demo model's weights: the config (incl. heads per stage) is read back from the shapes + registry.
        Torch.manualSeed(2)
        var demo = try ModelRegistry.config(named: "mvlt-demo")
        demo.textLength = 12
        let saved = dir + "/demo.safetensors"
        try MVLT(demo).save(to: saved)
        XCTAssertEqual(try MVLT.fromWeights(path: saved, imageSize: 128).config, demo)

        // Not a safetensors file at all: one error naming the file.
        let junk = dir + "/junk.safetensors"
        try Data("not safetensors".utf8).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try MVLT.fromWeights(path: junk, imageSize: 64)) { e in
            XCTAssertTrue("\(e)".contains(junk), "\(e)")
        }
    }
}
