// The losses of one SyncMask step (shared/spec/syncmask.md §2–3; docs/SYNCMASK.md §4), in two phases because the
// synchronized masks are chosen on the host between them:
//   1. `momentumPass`: clamp τ, momentum update, the momentum encoders' ITC features and targets, and the
//      cross-attention of the momentum fusion layers on the unmasked pair (the input of the mask selection);
//   2. `stepLosses`: the student's ITC, ITM (semi-hard negatives), MLM (masked text + clean image, momentum
//      distillation) and MIM (masked image + clean text), then the queue update.
import Torch

/// Which losses a step computes (each switchable off for ablations).
public struct SyncMaskTerms: Codable, Sendable, Equatable {
    public var itc = true, itm = true, mlm = true, mim = true
    public init(itc: Bool = true, itm: Bool = true, mlm: Bool = true, mim: Bool = true) {
        self.itc = itc; self.itm = itm; self.mlm = mlm; self.mim = mim
    }
}

/// What ITC contrasts each student feature with.
public enum SyncMaskITC: String, Codable, Sendable, CaseIterable {
    /// ALBEF (the spec): the momentum encoders' features of the batch and the queue, targets distilled from the
    /// momentum similarities (α) and the multi-positive ground truth.
    case momentum
    /// CLIP: the other tower's *student* features of the batch only, multi-positive ground truth as the target,
    /// no queue, no distillation. Not the paper's objective; what learns fastest from random weights
    /// (docs/SYNCMASK.md §6). The momentum model still runs for the MLM targets and the synchronized masks.
    case inBatch = "in-batch"
}

/// One batch on the model's device.
public struct SyncMaskInputs {
    /// (B, 3, S, S) float32 in [0, 1]
    public var images: Tensor
    /// (B, L) int64 clean ids and (B, L) int64 attention mask
    public var ids: Tensor, attentionMask: Tensor
    /// (B) int64 product ids and text hashes (`TextHash`)
    public var productIDs: Tensor, textHashes: Tensor

    public init(images: Tensor, ids: Tensor, attentionMask: Tensor, productIDs: Tensor, textHashes: Tensor) {
        self.images = images; self.ids = ids; self.attentionMask = attentionMask
        self.productIDs = productIDs; self.textHashes = textHashes
    }
}

/// The masks of one batch: MLM input ids and labels (−100 = not masked), MIM patch mask (B, N) bool.
public struct SyncMaskMasks {
    public var mlmIds: Tensor, mlmLabels: Tensor, patchMask: Tensor
    public init(mlmIds: Tensor, mlmLabels: Tensor, patchMask: Tensor) {
        self.mlmIds = mlmIds; self.mlmLabels = mlmLabels; self.patchMask = patchMask
    }
}

/// What the momentum model gives the rest of the step (all without gradient).
public struct SyncMaskMomentumPass {
    public var imageTokens: Tensor, imageFeatures: Tensor, textFeatures: Tensor
    /// Banks (E, B+K): this batch's momentum features, then the queue.
    public var imageBank: Tensor, textBank: Tensor
    /// ITC targets (B, B+K): α·softmax(momentum similarities) + (1 − α)·multi-positive ground truth.
    public var targetsI2T: Tensor, targetsT2I: Tensor
    /// Head-mean cross-attention of the sync layer (B, L, 1+N), when asked for.
    public var syncAttention: Tensor?
    /// Data-parallel runs: the banks start with the momentum features of the whole global batch (all ranks, in
    /// rank order), this rank's at column `localOffset`; the queue then receives the global batch (`queued`), so
    /// that every rank's queue stays the same (ALBEF all-gathers before enqueueing).
    public var localOffset = 0
    public var queued: (image: Tensor, text: Tensor, ids: Tensor, hashes: Tensor)?
}

public struct SyncMaskStepLosses {
    public var itc: Tensor?, itm: Tensor?, mlm: Tensor?, mim: Tensor?
    public var total: Tensor
    public var itmAccuracy: Tensor?
    /// The ITM negatives: an image for each text, a text for each image.
    public var negativeImage: ITMNegativeChoice?, negativeText: ITMNegativeChoice?
    /// The student's ITC features of this step, detached (what GRIT collects).
    public var imageFeatures: Tensor?, textFeatures: Tensor?
}

extension SyncMask {
    /// `gather` (data-parallel runs): every rank's tensor concatenated along dim 0 in rank order, this rank's
    /// batch at row `rank · B`; nil = one process.
    public func momentumPass(_ x: SyncMaskInputs, alpha: Double, syncAttention: Bool,
                             gather: ((Tensor) throws -> Tensor)? = nil, rank: Int = 0) throws -> SyncMaskMomentumPass {
        try Torch.noGrad {
            try temp.clamp_(min: 0.001, max: 0.5)
            try momentumUpdate()
            let keyMask = try TextEncoder.keyMask(x.attentionMask)
            let imageTokens = try visual_encoder_m(x.images)
            let v = try imageFeatures(imageTokens, momentum: true)
            let text = try text_encoder_m.text(x.ids, keyMask: keyMask)
            let t = try textFeatures(text, attentionMask: x.attentionMask, momentum: true)
            let b = x.productIDs.size(0)
            let vAll = try gather?(v) ?? v, tAll = try gather?(t) ?? t
            let idsAll = try gather?(x.productIDs) ?? x.productIDs, hashesAll = try gather?(x.textHashes) ?? x.textHashes
            let n = idsAll.size(0)
            let imageBank = try Tensor.cat([vAll.transpose(0, 1), image_queue.value.clone()], dim: 1)
            let textBank = try Tensor.cat([tAll.transpose(0, 1), text_queue.value.clone()], dim: 1)
            let ids = try Tensor.cat([idsAll.view([1, n]), idx_queue.value], dim: 1)
            let hashes = try Tensor.cat([hashesAll.view([1, n]), hash_queue.value], dim: 1)
            let positive = try x.productIDs.view([b, 1]).eq(ids).logicalOr(x.textHashes.view([b, 1]).eq(hashes))
                .to(dtype: .float32)
            let truth = try positive / positive.sum(dims: [1], keepdim: true)
            let i2t = try v.matmul(textBank) / temp, t2i = try t.matmul(imageBank) / temp
            let targetsI2T = try i2t.softmax(dim: 1).mul(alpha) + truth.mul(1 - alpha)
            let targetsT2I = try t2i.softmax(dim: 1).mul(alpha) + truth.mul(1 - alpha)
            var attention: Tensor?
            if syncAttention {
                let (_, probs) = try text_encoder_m.fusion(text, keyMask: keyMask, image: imageTokens,
                                                           probabilitiesOf: config.syncLayerIndex)
                attention = try probs?.mean(dims: [1])
            }
            var pass = SyncMaskMomentumPass(imageTokens: imageTokens, imageFeatures: v, textFeatures: t, imageBank: imageBank,
                                            textBank: textBank, targetsI2T: targetsI2T, targetsT2I: targetsT2I,
                                            syncAttention: attention)
            if gather != nil {
                pass.localOffset = rank * b
                pass.queued = (vAll, tAll, idsAll, hashesAll)
            }
            return pass
        }
    }

    /// The student's losses. `negatives` overrides the rule's choice (image-for-text, text-for-image), as the
    /// parity check does; `masks` is required for MLM and MIM.
    public func stepLosses<R: RandomNumberGenerator>(
        _ x: SyncMaskInputs, momentum mp: SyncMaskMomentumPass, masks: SyncMaskMasks?, alpha: Double,
        terms: SyncMaskTerms, rule: ITMNegativeRule, negatives: (image: [Int], text: [Int])? = nil,
        itc: SyncMaskITC = .momentum, rng: inout R
    ) throws -> SyncMaskStepLosses {
        let b = x.ids.size(0)
        let keyMask = try TextEncoder.keyMask(x.attentionMask)
        let image = try visual_encoder(x.images)
        let text = try text_encoder.text(x.ids, keyMask: keyMask)
        var out = SyncMaskStepLosses(total: try Tensor.zeros([], device: x.images.device))
        var parts: [Tensor] = []

        if terms.itc || terms.itm {
            let v = try imageFeatures(image), t = try textFeatures(text, attentionMask: x.attentionMask)
            (out.imageFeatures, out.textFeatures) = (try v.detach(), try t.detach())
            let i2t: Tensor, t2i: Tensor, targetsI2T: Tensor, targetsT2I: Tensor
            switch itc {
            case .momentum:
                (i2t, t2i) = (try v.matmul(mp.textBank) / temp, try t.matmul(mp.imageBank) / temp)
                (targetsI2T, targetsT2I) = (mp.targetsI2T, mp.targetsT2I)
            case .inBatch:
                i2t = try v.matmul(t.transpose(0, 1)) / temp
                t2i = try i2t.transpose(0, 1)
                let positive = try x.productIDs.view([b, 1]).eq(x.productIDs.view([1, b]))
                    .logicalOr(x.textHashes.view([b, 1]).eq(x.textHashes.view([1, b]))).to(dtype: .float32)
                targetsI2T = try positive / positive.sum(dims: [1], keepdim: true)
                targetsT2I = targetsI2T
            }
            if terms.itc {
                let a = try i2t.logSoftmax(dim: 1).mul(targetsI2T).sum(dims: [1]).mean().neg()
                let c = try t2i.logSoftmax(dim: 1).mul(targetsT2I).sum(dims: [1]).mean().neg()
                out.itc = try (a + c) * 0.5
            }
            if terms.itm {
                let (negImage, negText): ([Int], [Int])
                if let negatives {
                    (negImage, negText) = negatives
                } else {
                    let pids = try x.productIDs.toArray(Int64.self), hashes = try x.textHashes.toArray(Int64.self)
                    let o = itc == .momentum ? mp.localOffset : 0
                    let sT2I = try t2i.detach().narrow(dim: 1, start: o, length: b).contiguous().toArray(Float.self)
                    let sI2T = try i2t.detach().narrow(dim: 1, start: o, length: b).contiguous().toArray(Float.self)
                    let ci = ITMNegatives.choose(similarity: sT2I, batch: b, productIDs: pids, textHashes: hashes,
                                                 rule: rule, rng: &rng)
                    let ct = ITMNegatives.choose(similarity: sI2T, batch: b, productIDs: pids, textHashes: hashes,
                                                 rule: rule, rng: &rng)
                    (out.negativeImage, out.negativeText) = (ci, ct)
                    (negImage, negText) = (ci.index, ct.index)
                }
                let dev = x.images.device
                let imgIdx = try Tensor(negImage.map(Int64.init), device: dev)
                let txtIdx = try Tensor(negText.map(Int64.init), device: dev)
                let textAll = try Tensor.cat([text, text.indexSelect(dim: 0, index: txtIdx)], dim: 0)
                let maskAll = try Tensor.cat([keyMask, keyMask.indexSelect(dim: 0, index: txtIdx)], dim: 0)
                let imageAll = try Tensor.cat([image.indexSelect(dim: 0, index: imgIdx), image], dim: 0)
                let logits = try Tensor.cat([itmLogits(text: text, keyMask: keyMask, image: image),
                                             itmLogits(text: textAll, keyMask: maskAll, image: imageAll)], dim: 0)
                let labels = try Tensor.cat([Tensor.ones([b], dtype: .int64, device: dev),
                                             Tensor.zeros([2 * b], dtype: .int64, device: dev)])
                out.itm = try logits.crossEntropy(target: labels)
                out.itmAccuracy = try logits.detach().argmax(dim: 1).eq(labels).to(dtype: .float32).mean()
            }
        }

        if terms.mlm, let masks {
            let positions = try masks.mlmLabels.reshape([-1]).ne(-100).nonzero().reshape([-1])
            if positions.size(0) > 0 {
                let labels = try masks.mlmLabels.reshape([-1]).indexSelect(dim: 0, index: positions)
                func hidden(_ encoder: TextEncoder, _ img: Tensor) throws -> Tensor {
                    let states = try encoder.fusion(encoder.text(masks.mlmIds, keyMask: keyMask), keyMask: keyMask, image: img).0
                    return try states.reshape([-1, states.size(2)]).indexSelect(dim: 0, index: positions)
                }
                let logits = try text_encoder.cls.predictions(hidden(text_encoder, image))
                var loss = try logits.crossEntropy(target: labels)
                if alpha > 0 {
                    let soft = try Torch.noGrad {
                        try text_encoder_m.cls.predictions(hidden(text_encoder_m, mp.imageTokens)).softmax(dim: 1)
                    }
                    let distill = try logits.logSoftmax(dim: 1).mul(soft).sum(dims: [1]).mean().neg()
                    loss = try loss.mul(1 - alpha) + distill.mul(alpha)
                }
                out.mlm = loss
            }
        }

        if terms.mim, let masks {
            let mask = try masks.patchMask.to(dtype: .float32)
            let count = try mask.sum().item()
            if count > 0 {
                let masked = try visual_encoder(x.images, patchMask: masks.patchMask)
                let prediction = try mim_decoder(masked, text: text, textKeyMask: keyMask)
                let target = try MIMDecoder.target(x.images, patch: config.tokenPatch)
                let perPatch = try (prediction - target).square().sum(dims: [2])
                out.mim = try perPatch.mul(mask).sum().div(Double(3 * config.tokenPatch * config.tokenPatch) * count)
            }
        }

        for term in [out.itc, out.itm, out.mlm, out.mim] { if let term { parts.append(term) } }
        guard let first = parts.first else { throw ModelError.input("no SyncMask loss was computed (all terms off or no masks)") }
        out.total = try parts.dropFirst().reduce(first) { try $0 + $1 }
        if let q = mp.queued {
            try enqueue(imageFeatures: q.image, textFeatures: q.text, productIDs: q.ids, textHashes: q.hashes)
        } else {
            try enqueue(imageFeatures: mp.imageFeatures, textFeatures: mp.textFeatures, productIDs: x.productIDs,
                        textHashes: x.textHashes)
        }
        return out
    }
}
