// SyncMask: Synchronized Attentional Masking for Fashion-centric Vision-Language Pretraining (Song, Hwang et al.,
// CVPR 2024), on an ALBEF-family model as shared/spec/syncmask.md reconstructs it. Parameter names are ALBEF's
// (docs/SYNCMASK.md §2). Image side: SyncMaskVision.swift; text side: SyncMaskText.swift; losses:
// SyncMaskLosses.swift; ITM negatives: SyncMaskNegatives.swift; config: SyncMaskConfig.swift.
import Foundation
import Torch

/// Not final: `SyncMaskClassifier` (SyncMaskClassifier.swift) adds the category heads under the same names.
public class SyncMask: Module {
    public let config: SyncMaskConfig

    public let visual_encoder: VisualEncoder
    public let text_encoder: TextEncoder
    public let vision_proj: Linear
    public let text_proj: Linear
    /// The ITC temperature τ (scalar), clamped to [0.001, 0.5] before each training forward.
    public let temp: Tensor
    public let itm_head: Linear
    public let mim_decoder: MIMDecoder
    // Momentum (EMA) copies: no gradient, never given to the optimizer.
    public let visual_encoder_m: VisualEncoder
    public let text_encoder_m: TextEncoder
    public let vision_proj_m: Linear
    public let text_proj_m: Linear
    // ITC queues of momentum features, with the product id and text hash of each entry (−100 = empty).
    public let image_queue: Buffer
    public let text_queue: Buffer
    public let idx_queue: Buffer
    public let hash_queue: Buffer
    public let queue_ptr: Buffer

    /// Prefixes of the momentum copies in the state dict.
    public static let momentumPrefixes = ["visual_encoder_m.", "text_encoder_m.", "vision_proj_m.", "text_proj_m."]

    /// Builds the model (ViT/BERT initialisation: N(0, 0.02) truncated for linear and embedding weights, zero
    /// biases), copies it into the momentum encoders and fills the queues with random unit vectors. Draws from
    /// libtorch's default generator (seed it with `Torch.manualSeed`).
    public init(_ config: SyncMaskConfig) throws {
        try config.validate()
        self.config = config
        let c = config
        visual_encoder = try VisualEncoder(c)
        text_encoder = try TextEncoder(c)
        vision_proj = try Linear(c.visionWidth, c.embedDim)
        text_proj = try Linear(c.textWidth, c.embedDim)
        temp = try Tensor.full([], c.temp).requiresGrad(true)
        itm_head = try Linear(c.textWidth, 2)
        mim_decoder = try MIMDecoder(c)
        visual_encoder_m = try VisualEncoder(c)
        text_encoder_m = try TextEncoder(c)
        vision_proj_m = try Linear(c.visionWidth, c.embedDim)
        text_proj_m = try Linear(c.textWidth, c.embedDim)
        func unitColumns() throws -> Tensor {
            let q = try Tensor.randn([c.embedDim, c.queueSize])
            return try q / q.norm(p: 2, dims: [0], keepdim: true).clamp(min: 1e-12)
        }
        image_queue = Buffer(try unitColumns())
        text_queue = Buffer(try unitColumns())
        idx_queue = Buffer(try Tensor.full([1, c.queueSize], -100, dtype: .int64))
        hash_queue = Buffer(try Tensor.full([1, c.queueSize], -100, dtype: .int64))
        queue_ptr = Buffer(try Tensor.zeros([1], dtype: .int64))
        super.init()
        try initialiseWeights()
        try Torch.noGrad {
            for (student, momentum) in try momentumPairs() { try momentum.copy_(student) }
        }
        for (_, m) in try momentumPairs() { try m.requiresGrad(false) }
    }

    private func initialiseWeights() throws {
        func visit(_ m: Module) throws {
            if let l = m as? Linear {
                try truncNormal(l.weight)
                if let b = l.bias { try Torch.noGrad { try b.zero_() } }
            }
            if let e = m as? Embedding {
                try truncNormal(e.weight)
                if let p = e.paddingIdx { try Torch.noGrad { try e.weight.select(dim: 0, index: p).zero_() } }
            }
            for (_, child) in m.children() { try visit(child) }
        }
        for m in [visual_encoder, text_encoder, vision_proj, text_proj, itm_head, mim_decoder] as [Module] { try visit(m) }
    }

    /// (student, momentum) parameter pairs, in the same order.
    public func momentumPairs() throws -> [(Tensor, Tensor)] {
        let pairs: [(Module, Module)] = [(visual_encoder, visual_encoder_m), (text_encoder, text_encoder_m),
                                         (vision_proj, vision_proj_m), (text_proj, text_proj_m)]
        var out: [(Tensor, Tensor)] = []
        for (s, m) in pairs {
            let (a, b) = (s.namedParameters(), m.namedParameters())
            guard a.map(\.0) == b.map(\.0) else { throw ModelError.input("momentum copy does not mirror the student") }
            out += zip(a.map(\.1), b.map(\.1)).map { ($0, $1) }
        }
        return out
    }

    /// The parameters an optimizer trains (everything but the momentum copies), with their names.
    public func trainableParameters() -> [(String, Tensor)] {
        namedParameters().filter { name, _ in !SyncMask.momentumPrefixes.contains { name.hasPrefix($0) } }
    }

    /// θ′ ← m·θ′ + (1 − m)·θ for every momentum parameter (ALBEF's `_momentum_update`).
    public func momentumUpdate() throws {
        // The pair lists are found by reflection once: parameters keep their identity (`to(_:)` and
        // `loadStateDict` write into them), and walking both trees every step cost as much as the update itself.
        if momentumLists == nil {
            let pairs = try momentumPairs()
            momentumLists = (pairs.map(\.0), pairs.map(\.1))
        }
        let (student, momentum) = momentumLists!
        let m = config.momentum
        try Torch.noGrad {
            try Tensor.foreachMul_(momentum, m)
            try Tensor.foreachAdd_(momentum, student, alpha: 1 - m)
        }
    }
    private var momentumLists: (student: [Tensor], momentum: [Tensor])?

    /// Writes B momentum features with their ids and hashes at the queue pointer (wrapping) and advances it.
    public func enqueue(imageFeatures: Tensor, textFeatures: Tensor, productIDs: Tensor, textHashes: Tensor) throws {
        try Torch.noGrad {
            let b = imageFeatures.size(0), k = config.queueSize
            let ptr = try queue_ptr.value.itemInt()
            let slots = try Tensor((0..<b).map { Int64((ptr + $0) % k) }, device: imageFeatures.device)
            // Index the K dimension through transposed views (K, E) and (K, 1), which write into the queues.
            try image_queue.value.transpose(0, 1).indexPut_(slots, imageFeatures)
            try text_queue.value.transpose(0, 1).indexPut_(slots, textFeatures)
            try idx_queue.value.transpose(0, 1).indexPut_(slots, productIDs.view([b, 1]))
            try hash_queue.value.transpose(0, 1).indexPut_(slots, textHashes.view([b, 1]))
            try queue_ptr.value.fill_(Double((ptr + b) % k))
        }
    }

    // MARK: - Features

    /// L2 normalisation along the last dimension (F.normalize, eps 1e-12).
    static func normalize(_ x: Tensor) throws -> Tensor {
        try x / x.norm(p: 2, dims: [-1], keepdim: true).clamp(min: 1e-12)
    }

    /// ITC image features from image tokens (student or momentum projection).
    public func imageFeatures(_ tokens: Tensor, momentum: Bool = false) throws -> Tensor {
        try SyncMask.normalize((momentum ? vision_proj_m : vision_proj)(tokens.select(dim: 1, index: 0)))
    }

    /// ITC text features from text-mode states: the [CLS] state (ALBEF), or with `text_pool = mean` the mean of
    /// the real tokens' states (what learns from random weights in a short run, docs/SYNCMASK.md).
    public func textFeatures(_ states: Tensor, attentionMask: Tensor, momentum: Bool = false) throws -> Tensor {
        let pooled: Tensor
        switch config.textPool {
        case .cls: pooled = try states.select(dim: 1, index: 0)
        case .mean:
            let m = try attentionMask.to(dtype: states.dtype).unsqueeze(2)
            pooled = try states.mul(m).sum(dims: [1]) / m.sum(dims: [1]).clamp(min: 1)
        }
        return try SyncMask.normalize((momentum ? text_proj_m : text_proj)(pooled))
    }

    /// ITM logits (B, 2) of text-mode states and image tokens, pairwise.
    public func itmLogits(text: Tensor, keyMask: Tensor, image: Tensor) throws -> Tensor {
        try itm_head(text_encoder.fusion(text, keyMask: keyMask, image: image).0.select(dim: 1, index: 0))
    }
}

extension SyncMask: DualEncoder {
    public var imageSize: Int { config.imageSize }
    public var textLength: Int { config.textLength }
    public var embeddingDim: Int { config.embedDim }

    public func imageEmbeddings(_ images: Tensor) throws -> Tensor {
        try Torch.noGrad { try imageFeatures(visual_encoder(images)) }
    }

    public func textEmbeddings(ids: Tensor, attentionMask: Tensor) throws -> Tensor {
        try Torch.noGrad {
            try textFeatures(text_encoder.text(ids, keyMask: TextEncoder.keyMask(attentionMask)), attentionMask: attentionMask)
        }
    }

    public func matchProbabilities(images: Tensor, ids: Tensor, attentionMask: Tensor) throws -> Tensor? {
        try Torch.noGrad {
            let keyMask = try TextEncoder.keyMask(attentionMask)
            let logits = try itmLogits(text: text_encoder.text(ids, keyMask: keyMask), keyMask: keyMask,
                                       image: visual_encoder(images))
            return try logits.softmax(dim: 1).select(dim: 1, index: 1)
        }
    }
}

extension SyncMask {
    /// A trained SyncMask from a run's model config (JSON) and a checkpoint file (optimizer tensors skipped), on
    /// `device`, in eval mode. Weights that do not fit the config are an error naming the file and the tensors.
    public static func open(config: Data, weights path: String, device: Device) throws -> SyncMask {
        let c = try SyncMaskConfig.decode(config, source: path)
        let model = try SyncMask(c)
        try model.loadForEvaluation(try SafeTensors.load(path).tensors, path: path, device: device)
        return model
    }
}

extension Module {
    /// Loads a checkpoint's model tensors by name (its `optimizer.` tensors skipped; a mismatch is an error naming
    /// the file and the tensors), moves the module to `device` and switches it to eval mode.
    public func loadForEvaluation(_ tensors: [String: Tensor], path: String, device: Device) throws {
        do {
            try loadStateDict(tensors.filter { !$0.key.hasPrefix("optimizer.") })
        } catch let TorchError.stateDict(missing, unexpected, mismatched) {
            throw ModelError.weights(path: path, missing: missing, unexpected: unexpected, mismatched: mismatched)
        }
        try to(device)
        eval()
    }
}
