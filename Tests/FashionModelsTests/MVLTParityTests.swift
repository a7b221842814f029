import TestSupport
import FashionModels
import Foundation
import Torch
import XCTest

/// Spec §12 against the PyTorch reference port (Tests/reference/mvlt_port.py): same weights and batch,
/// eval mode, float32; losses within 1e-5, every gradient norm within 1e-4 relative.
final class MVLTParityTests: XCTestCase {
    /// Writes weights + batch with `mvlt_parity.py make`, returns (dir, reference losses JSON).
    static func fixture(size: Int, textLength: Int, batch: Int, seed: Int) throws -> (String, [String: Any]) {
        let dir = try Reference.tempDir("mvlt\(size)")
        try Reference.parity(["make", "--out", dir, "--image-size", "\(size)", "--text-len", "\(textLength)",
                              "--batch", "\(batch)", "--seed", "\(seed)", "--vocab", "2000"])
        let ref = try Reference.json(Reference.parity(["losses", "--weights", dir + "/weights.safetensors",
                                                       "--batch", dir + "/batch.safetensors"]))
        return (dir, ref)
    }

    static let small = Result { try fixture(size: 64, textLength: 16, batch: 2, seed: 1) }

    /// Loads `weights` in Swift, runs the checked step, compares with `ref`; returns (max |Δloss|, max rel Δ).
    @discardableResult
    func assertParity(weights: String, batchFile: String, ref: [String: Any], size: Int, fullMLMLogits: Bool = true,
                      file: StaticString = #filePath, line: UInt = #line) throws -> (Double, Double) {
        let model = try MVLT.fromWeights(path: weights, imageSize: size)
        model.eval()
        let batch = try SafeTensors.load(batchFile).tensors
        let report = try model.checkStep(batch: batch, fullMLMLogits: fullMLMLogits)
        var maxLoss = 0.0
        for (name, value) in [("mir", report.mir), ("itm", report.itm), ("mlm", report.mlm), ("total", report.total)] {
            let expected = try XCTUnwrap(ref[name] as? Double, name, file: file, line: line)
            let got = try XCTUnwrap(value, name, file: file, line: line)
            maxLoss = max(maxLoss, abs(got - expected))
            XCTAssertEqual(got, expected, accuracy: 1e-5, "loss \(name)", file: file, line: line)
        }
        let refNorms = try XCTUnwrap(ref["grad_norms"] as? [String: Double], file: file, line: line)
        XCTAssertEqual(Set(refNorms.keys), Set(report.gradNorms.keys), "gradient names", file: file, line: line)
        var maxRel = 0.0
        for (name, expected) in refNorms {
            let got = report.gradNorms[name] ?? .nan
            let rel = abs(got - expected) / max(abs(expected), 1e-12)
            maxRel = max(maxRel, expected == 0 && got == 0 ? 0 : rel)
            XCTAssertLessThanOrEqual(rel, 1e-4, "grad norm \(name): \(got) vs \(expected)", file: file, line: line)
        }
        let total = try XCTUnwrap(ref["grad_norm_total"] as? Double)
        XCTAssertEqual(report.gradNormTotal, total, accuracy: 1e-4 * total, file: file, line: line)
        print("parity \(size) px (full MLM logits: \(fullMLMLogits)): max |Δloss| = \(maxLoss), max relative grad-norm Δ = \(maxRel)")
        return (maxLoss, maxRel)
    }

    func testParity64() throws {
        let (dir, ref) = try Self.small.get()
        try assertParity(weights: dir + "/weights.safetensors", batchFile: dir + "/batch.safetensors", ref: ref, size: 64)
    }

    /// 224 px: stage 1 keeps its stored 56×56 table (the H·W = 3136 rule), the others go through the resize.
    func testParity224() throws {
        let (dir, ref) = try Self.fixture(size: 224, textLength: 16, batch: 1, seed: 9)
        try assertParity(weights: dir + "/weights.safetensors", batchFile: dir + "/batch.safetensors", ref: ref, size: 224)
    }

    /// The training path (MLM head on labelled positions only) gives the same losses and gradients.
    func testParityLabelledOnlyMLM() throws {
        let (dir, ref) = try Self.small.get()
        try assertParity(weights: dir + "/weights.safetensors", batchFile: dir + "/batch.safetensors", ref: ref, size: 64,
                         fullMLMLogits: false)
    }

    func testParity256() throws {
        let (dir, ref) = try Self.fixture(size: 256, textLength: 32, batch: 2, seed: 5)
        try assertParity(weights: dir + "/weights.safetensors", batchFile: dir + "/batch.safetensors", ref: ref, size: 256)
        try assertParity(weights: dir + "/weights.safetensors", batchFile: dir + "/batch.safetensors", ref: ref, size: 256,
                         fullMLMLogits: false)
    }

    /// Train mode (BERT dropout, drop path, BN batch statistics) with the same default-generator seed: the
    /// random draws happen in the same order on the same generator, so the losses match the port too.
    func testTrainModeWithSameSeed() throws {
        let (dir, _) = try Self.small.get()
        let text = try Reference.python(["-c", """
            import sys, json, torch; sys.path.insert(0, '.')
            import mvlt_port as M, mvlt_parity as P, safetensors_io as st
            model = P.load_model('\(dir)/weights.safetensors', 64).train()
            batch = st.load('\(dir)/batch.safetensors')
            torch.manual_seed(7)
            r = M.losses(model, batch)
            print(json.dumps({k: float(r[k]) for k in ('mir', 'itm', 'mlm', 'total')}))
            """])
        let ref = try Reference.json(text)
        let model = try MVLT.fromWeights(path: dir + "/weights.safetensors", imageSize: 64)
        model.train()
        Torch.manualSeed(7)
        let report = try model.checkStep(batch: try SafeTensors.load(dir + "/batch.safetensors").tensors)
        for (name, value) in [("mir", report.mir), ("itm", report.itm), ("mlm", report.mlm), ("total", report.total)] {
            XCTAssertEqual(try XCTUnwrap(value), try XCTUnwrap(ref[name] as? Double), accuracy: 1e-5, name)
        }
        // and differs from eval mode, so the randomness was really exercised
        model.eval()
        XCTAssertNotEqual(try model.checkStep(batch: try SafeTensors.load(dir + "/batch.safetensors").tensors).total,
                          report.total, accuracy: 1e-4)
    }

    /// Stage statistics localise a mismatch; they must agree too.
    func testStageStatistics() throws {
        let (dir, ref) = try Self.small.get()
        let model = try MVLT.fromWeights(path: dir + "/weights.safetensors", imageSize: 64)
        model.eval()
        let report = try model.checkStep(batch: try SafeTensors.load(dir + "/batch.safetensors").tensors)
        let expected = try XCTUnwrap(ref["stage_mean_abs"] as? [[Double]])
        XCTAssertEqual(report.stageMeanAbs.count, 4)
        for (a, e) in zip(report.stageMeanAbs, expected) {
            XCTAssertEqual(a[0], e[0], accuracy: 1e-5 * max(1, e[0]))
            XCTAssertEqual(a[1], e[1], accuracy: 1e-5 * max(1, e[1]))
        }
    }

    /// A .pth saved by the port (state_dict under `model`, with optimizer-like extras) → convert-mvlt-checkpoint
    /// → loaded by name in Swift gives the reference losses.
    func testConverterRoundTrip() throws {
        let (dir, ref) = try Self.small.get()
        let pth = dir + "/checkpoint.pth", out = dir + "/converted.safetensors"
        try Reference.python(["-c", """
            import sys, torch; sys.path.insert(0, '.')
            import safetensors_io as st
            sd = st.load('\(dir)/weights.safetensors')
            sd['mlm_head.mlm_decoder.weight'] = sd['text_embeddings.word_embeddings.weight']
            torch.save({'model': sd, 'epoch': 3, 'optimizer': {}}, '\(pth)')
            """])
        try Reference.python([Reference.repo.appendingPathComponent("scripts/convert-mvlt-checkpoint").path, pth, out])
        try assertParity(weights: out, batchFile: dir + "/batch.safetensors", ref: ref, size: 64)
        // --drop-tied writes the word table only; the loader ties the decoder to it.
        try Reference.python([Reference.repo.appendingPathComponent("scripts/convert-mvlt-checkpoint").path, pth, out, "--drop-tied"])
        XCTAssertNil(try SafeTensors.load(out).tensors[MVLT.decoderKey])
        try assertParity(weights: out, batchFile: dir + "/batch.safetensors", ref: ref, size: 64)
    }
}
