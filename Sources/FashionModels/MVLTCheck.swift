// One checked step of spec §12 (what `fashionvl debug-step` prints and the parity tests compare with
// Tests/reference/mvlt_parity.py losses): masked input, eval mode, float32, losses, backward, gradient norms.
import Foundation
import Torch

public struct MVLTStepReport: Codable, Sendable {
    public var mir: Double?
    public var itm: Double?
    public var mlm: Double?
    public var total: Double
    public var itmAccuracy: Double?
    /// L2 norm of every parameter's gradient (0 when it got none); the tied word/decoder matrix is listed
    /// under both names.
    public var gradNorms: [String: Double]
    /// √(Σ norm²) over distinct parameters (the tied matrix once).
    public var gradNormTotal: Double
    /// Mean |image tokens|, mean |text tokens| after each stage.
    public var stageMeanAbs: [[Double]]

    enum CodingKeys: String, CodingKey {
        case mir, itm, mlm, total, itmAccuracy = "itm_acc", gradNorms = "grad_norms"
        case gradNormTotal = "grad_norm_total", stageMeanAbs = "stage_mean_abs"
    }
}

extension MVLT {
    /// Runs spec §12 on `batch` (image, mask, input_ids, mlm_labels, itm_labels as mvlt_parity.py writes them):
    /// input = image.maskedFill(mask > 0.5, 1e-6) (the clean image when `masked` is false), the model's
    /// current mode, losses, `total.backward()`, gradient norms. Existing gradients are cleared first.
    /// `fullMLMLogits` false computes the MLM head on labelled positions only (the training path).
    public func checkStep(batch: [String: Tensor], masked: Bool = true, fullMLMLogits: Bool = true) throws -> MVLTStepReport {
        func get(_ key: String) throws -> Tensor {
            guard let t = batch[key] else { throw ModelError.input("batch has no '\(key)' tensor") }
            return t
        }
        let image = try get("image").to(dtype: .float32)
        let input = masked ? try image.maskedFill(get("mask").gt(0.5), 1e-6) : image
        let ids = try get("input_ids")
        for p in parameters() { try p.setGrad(nil) }

        var stats: [[Double]] = []
        let l: MVLTLosses
        if fullMLMLogits {
            let (maps, texts) = try features(image: input, inputIds: ids) { stats.append([$0, $1]) }
            let output = try heads(maps: maps, texts: texts)
            l = try MVLT.losses(output, cleanImage: image, mlmLabels: batch["mlm_labels"], itmLabels: batch["itm_labels"])
        } else {
            l = try losses(input: input, cleanImage: image, inputIds: ids, mlmLabels: batch["mlm_labels"],
                           itmLabels: batch["itm_labels"])
        }
        try l.total.backward()

        var norms: [String: Double] = [:], sumSq = 0.0
        for (name, p) in namedParameters() {
            let n = try p.grad.map { try $0.to(dtype: .float64).norm().item() } ?? 0
            norms[name] = n
            sumSq += n * n
        }
        if config.heads.mlm { norms[MVLT.decoderKey] = norms[MVLT.wordKey] }
        return MVLTStepReport(mir: try l.mir?.item(), itm: try l.itm?.item(), mlm: try l.mlm?.item(),
                              total: try l.total.item(), itmAccuracy: try l.itmAccuracy?.item(),
                              gradNorms: norms, gradNormTotal: sumSq.squareRoot(), stageMeanAbs: stats)
    }
}
