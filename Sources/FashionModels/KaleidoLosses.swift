// The seven pretraining losses of Kaleido-BERT (shared/spec/kaleido-bert.md §6), summed without weights
// (paper eq. 8; code `adaptive_loss`), each on every sample of the batch, ITM negatives included (the code's
// behaviour). The masks, perturbations and labels come from the host (FashionTrain/KaleidoMasking.swift).
import Torch

/// Which losses a step computes: AMLM and ITM, and the five AKPM subtasks (Table 4's ablations switch these).
public struct KaleidoTerms: Codable, Sendable, Equatable {
    public var amlm = true, itm = true, rr = true, jps = true, cp = true, g2cm = true, b2cm = true
    public init(amlm: Bool = true, itm: Bool = true, rr: Bool = true, jps: Bool = true, cp: Bool = true,
                g2cm: Bool = true, b2cm: Bool = true) {
        self.amlm = amlm; self.itm = itm; self.rr = rr; self.jps = jps; self.cp = cp; self.g2cm = g2cm; self.b2cm = b2cm
    }
    /// The AKPM subtask names, in the paper's order (I…V).
    public static let akpmNames = ["rr", "jps", "cp", "g2cm", "b2cm"]
}

/// One pretraining batch on the model's device, already masked and perturbed.
public struct KaleidoModelInputs {
    /// (B, L) int64 ids after token masking, (B, L) int64 attention mask.
    public var ids: Tensor, attentionMask: Tensor
    /// (B, 55, D) float32 patch features after the AKPM perturbations; (B, 55, 5) float32 positions.
    public var features: Tensor, positions: Tensor
    /// AMLM: (B, P) int64 text positions, their original ids, and (B, P) float32 weights (0 = padding slot).
    public var mlmPositions: Tensor, mlmIds: Tensor, mlmWeights: Tensor
    /// (B) int64: ITM (1 = matched), rotation (0…3), jigsaw permutation index (0…23), camouflaged K3 slot (0…8).
    public var itmLabels: Tensor, rotation: Tensor, jigsaw: Tensor, camouflage: Tensor
    /// G2CM: (B, 2) int64 greyed K4 slots and (B, 2, D) their colour features; B2CM: (B, 3) blanked K5 slots and
    /// (B, 3, D) their original features.
    public var greyPositions: Tensor, greyTargets: Tensor, blankPositions: Tensor, blankTargets: Tensor

    public init(ids: Tensor, attentionMask: Tensor, features: Tensor, positions: Tensor, mlmPositions: Tensor, mlmIds: Tensor,
                mlmWeights: Tensor, itmLabels: Tensor, rotation: Tensor, jigsaw: Tensor, camouflage: Tensor,
                greyPositions: Tensor, greyTargets: Tensor, blankPositions: Tensor, blankTargets: Tensor) {
        self.ids = ids; self.attentionMask = attentionMask; self.features = features; self.positions = positions
        self.mlmPositions = mlmPositions; self.mlmIds = mlmIds; self.mlmWeights = mlmWeights
        self.itmLabels = itmLabels; self.rotation = rotation; self.jigsaw = jigsaw; self.camouflage = camouflage
        self.greyPositions = greyPositions; self.greyTargets = greyTargets
        self.blankPositions = blankPositions; self.blankTargets = blankTargets
    }
}

/// The losses of one step (nil = switched off), their sum, and the heads' accuracies on this batch.
public struct KaleidoStepLosses {
    public var amlm: Tensor?, itm: Tensor?, rr: Tensor?, jps: Tensor?, cp: Tensor?, g2cm: Tensor?, b2cm: Tensor?
    public var total: Tensor
    /// "amlm_acc", "itm_acc", "rr_acc", "jps_acc", "cp_acc" (detached scalars).
    public var accuracies: [String: Tensor] = [:]

    /// The computed terms by name.
    public var named: [(String, Tensor)] {
        [("amlm", amlm), ("itm", itm), ("rr", rr), ("jps", jps), ("cp", cp), ("g2cm", g2cm), ("b2cm", b2cm)]
            .compactMap { name, t in t.map { (name, $0) } }
    }
}

extension KaleidoBERT {
    /// KL(softmax(target) ‖ softmax(prediction)) over the D channels, both clipped into [1e-7, 1] as Keras' KLD
    /// does, averaged over the masked patches and the batch (spec §6.6): (B, n, D) each → scalar.
    public static func reconstructionKL(prediction: Tensor, target: Tensor) throws -> Tensor {
        let q = try target.softmax(dim: -1).clamp(min: 1e-7, max: 1)
        let p = try prediction.softmax(dim: -1).clamp(min: 1e-7, max: 1)
        return try q.mul(q.log() - p.log()).sum(dims: [-1]).mean()
    }

    /// Accuracy of logits (N, C) against labels (N), detached.
    static func accuracy(_ logits: Tensor, _ labels: Tensor) throws -> Tensor {
        try logits.detach().argmax(dim: 1).eq(labels).to(dtype: .float32).mean()
    }

    /// The enabled losses of one batch and their sum.
    public func losses(_ x: KaleidoModelInputs, terms: KaleidoTerms) throws -> KaleidoStepLosses {
        let states = try encode(ids: x.ids, attentionMask: x.attentionMask, features: x.features, positions: x.positions)
        let (b, h) = (states.size(0), config.hidden)
        var out = KaleidoStepLosses(total: try Tensor.zeros([], device: states.device))

        if terms.amlm {
            let p = x.mlmPositions.size(1)
            let gathered = try states.gather(dim: 1, index: x.mlmPositions.unsqueeze(2).expand([b, p, h]))
            let logits = try cls.predictions(gathered).reshape([b * p, -1])
            let perSlot = try logits.crossEntropy(target: x.mlmIds.reshape([-1]), reduction: 0)
            let w = try x.mlmWeights.reshape([-1])
            out.amlm = try perSlot.mul(w).sum().div(w.sum().add(1e-5))
            let hits = try logits.detach().argmax(dim: 1).eq(x.mlmIds.reshape([-1])).to(dtype: .float32).mul(w).sum()
            out.accuracies["amlm_acc"] = try hits.div(w.sum().clamp(min: 1))
        }
        if terms.itm {
            let logits = try itmLogits(states)
            out.itm = try logits.crossEntropy(target: x.itmLabels)
            out.accuracies["itm_acc"] = try KaleidoBERT.accuracy(logits, x.itmLabels)
        }
        if terms.rr {
            let logits = try rotation_head(level(1, of: states).reshape([b, h]))
            out.rr = try logits.crossEntropy(target: x.rotation)
            out.accuracies["rr_acc"] = try KaleidoBERT.accuracy(logits, x.rotation)
        }
        if terms.jps {
            let logits = try jigsaw_head(level(2, of: states).reshape([b, 4 * h]))
            out.jps = try logits.crossEntropy(target: x.jigsaw)
            out.accuracies["jps_acc"] = try KaleidoBERT.accuracy(logits, x.jigsaw)
        }
        if terms.cp {
            let logits = try camouflageLogits(states)
            out.cp = try logits.crossEntropy(target: x.camouflage)
            out.accuracies["cp_acc"] = try KaleidoBERT.accuracy(logits, x.camouflage)
        }
        func reconstruction(_ k: Int, _ slots: Tensor, _ targets: Tensor, _ head: Linear) throws -> Tensor {
            let n = slots.size(1)
            let picked = try level(k, of: states).gather(dim: 1, index: slots.unsqueeze(2).expand([b, n, h]))
            return try KaleidoBERT.reconstructionKL(prediction: head(picked), target: targets)
        }
        if terms.g2cm { out.g2cm = try reconstruction(4, x.greyPositions, x.greyTargets, grey_head) }
        if terms.b2cm { out.b2cm = try reconstruction(5, x.blankPositions, x.blankTargets, blank_head) }

        let parts = out.named.map(\.1)
        guard let first = parts.first else { throw ModelError.input("no Kaleido-BERT loss is switched on") }
        out.total = try parts.dropFirst().reduce(first) { try $0 + $1 }
        return out
    }
}
