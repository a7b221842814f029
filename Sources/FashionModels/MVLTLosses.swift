// MVLT's pretraining objective (spec §5, §12): total = 1·L_mlm + 1·L_itm + 10·L_mir from one forward.
import Torch

/// Which terms enter the total, and their weights (defaults: the code's and the paper's w3 = 1, w2 = 1, w1 = 10).
public struct MVLTLossTerms: Sendable, Equatable {
    public var mlm = true, itm = true, mir = true, category = true
    public var mlmWeight = 1.0, itmWeight = 1.0, mirWeight = 10.0, categoryWeight = 1.0
    /// Data-parallel runs: the MLM mean is over this many labelled tokens (the global batch's count divided by the
    /// world size) instead of this process's, so that the averaged gradients are those of one process on the
    /// global batch. nil = this batch's own count.
    public var mlmTokens: Double?

    public init(mlm: Bool = true, itm: Bool = true, mir: Bool = true, category: Bool = true) {
        self.mlm = mlm; self.itm = itm; self.mir = mir; self.category = category
    }
}

/// 0-d tensors; a term is nil when it is switched off or its head/labels are absent.
public struct MVLTLosses {
    public var mir: Tensor?
    public var itm: Tensor?
    public var mlm: Tensor?
    public var supCategory: Tensor?
    public var subCategory: Tensor?
    /// Weighted sum of the present terms (the tensor to call `backward()` on).
    public var total: Tensor
    /// Share of samples whose ITM argmax equals the label (no gradient).
    public var itmAccuracy: Tensor?
}

extension MVLT {
    /// The losses of `output` against the labels:
    ///  - mir = SmoothL1(out, clean image, β 1, mean over all B·3·S·S values) (also on clean-input steps),
    ///  - itm = CE(itm logits (B, 2), itm labels (B)),
    ///  - mlm = CE(mlm logits over B·L, labels (B, L), ignore −100, mean over labelled tokens); 0 when no token is
    ///    labelled,
    ///  - category = CE(48) + CE(122) when the category head and labels are given,
    ///  - total = mlm + itm + 10·mir (+ category), summed in that order.
    public static func losses(_ output: MVLTOutput, cleanImage: Tensor?, mlmLabels: Tensor?, itmLabels: Tensor?,
                              categoryLabels: (sup: Tensor, sub: Tensor)? = nil,
                              terms: MVLTLossTerms = MVLTLossTerms()) throws -> MVLTLosses {
        var mlm: Tensor?, itm: Tensor?, mir: Tensor?, sup: Tensor?, sub: Tensor?, accuracy: Tensor?
        if terms.mlm, let logits = output.mlm, let labels = mlmLabels {
            let v = logits.size(-1)
            let flat = try labels.reshape([-1])
            // No labelled word in the batch (the 15 % Bernoulli selected none, likely at small batches): CE's mean
            // over zero tokens is 0/0 = NaN, and the original's fp16 GradScaler then skips the whole step. The term
            // is 0 instead (as in SyncMask), still attached to the graph so the other terms train.
            let labelled = flat.numel == 0 ? 0 : try flat.ne(-100).sum().itemInt()
            mlm = labelled == 0 ? try logits.sum().mul(0)
                                : try logits.reshape([-1, v]).crossEntropy(target: flat, ignoreIndex: -100)
            if let n = terms.mlmTokens, labelled > 0, n > 0 { mlm = try mlm?.mul(Double(labelled) / n) }
        }
        if let logits = output.itm, let labels = itmLabels {
            let flat = try labels.reshape([-1])
            if terms.itm { itm = try logits.reshape([-1, 2]).crossEntropy(target: flat) }
            accuracy = try Torch.noGrad { try logits.argmax(dim: -1).eq(flat).to(dtype: .float32).mean() }
        }
        if terms.mir, let image = output.mir, let target = cleanImage {
            mir = try image.smoothL1Loss(target: target, beta: 1)
        }
        if terms.category, let s = output.supCategory, let u = output.subCategory, let labels = categoryLabels {
            sup = try s.crossEntropy(target: labels.sup.reshape([-1]))
            sub = try u.crossEntropy(target: labels.sub.reshape([-1]))
        }
        var total: Tensor?
        func add(_ t: Tensor?, _ w: Double) throws {
            guard let t else { return }
            let term = w == 1 ? t : try t.mul(w)
            total = try total.map { try $0 + term } ?? term
        }
        try add(mlm, terms.mlmWeight)
        try add(itm, terms.itmWeight)
        try add(mir, terms.mirWeight)
        try add(sup, terms.categoryWeight)
        try add(sub, terms.categoryWeight)
        guard let total else {
            throw ModelError.input("MVLT.losses: no loss term is enabled with its head output and labels")
        }
        return MVLTLosses(mir: mir, itm: itm, mlm: mlm, supCategory: sup, subCategory: sub, total: total,
                          itmAccuracy: accuracy)
    }
}

extension MVLT {
    /// One training forward and its losses (spec §5): `input` is the clean or masked image, `cleanImage` the MIR
    /// target. With `fullMLMLogits` false (default) the MLM head runs only on the labelled positions; the
    /// loss ignores the others, so losses and gradients are those of the full logits (to float rounding) at
    /// a fraction of the decoder's B·L·768·vocab cost. Terms switched off in `terms` are not computed.
    public func losses(input: Tensor, cleanImage: Tensor, inputIds: Tensor, mlmLabels: Tensor?, itmLabels: Tensor?,
                       categoryLabels: (sup: Tensor, sub: Tensor)? = nil, terms: MVLTLossTerms = MVLTLossTerms(),
                       fullMLMLogits: Bool = false) throws -> MVLTLosses {
        let (maps, texts) = try features(image: input, inputIds: inputIds)
        var rows: Tensor?, labels = mlmLabels
        if !fullMLMLogits, terms.mlm, let l = mlmLabels {
            let flat = try l.reshape([-1])
            let r = try flat.ne(-100).nonzero().reshape([-1])
            rows = r
            labels = try flat.indexSelect(dim: 0, index: r)
        }
        var output = try heads(maps: maps, texts: texts, mlmRows: rows, mlm: terms.mlm)
        if !terms.mir { output.mir = nil }
        return try MVLT.losses(output, cleanImage: cleanImage, mlmLabels: labels, itmLabels: itmLabels,
                               categoryLabels: categoryLabels, terms: terms)
    }
}
