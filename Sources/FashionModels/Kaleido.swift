// Kaleido-BERT: Vision-Language Pre-training on Fashion Domain (Zhuge et al., CVPR 2021), as
// shared/spec/kaleido-bert.md reconstructs it from the paper and the released TF code
// (easytransfer/model_zoo/modeling_kaleidobert.py): one BERT encoder over [64 text tokens ; 55 kaleido patches],
// the patches entering as frozen backbone features through a per-level visual embedding (§3.2). The BERT blocks
// are SyncMaskText.swift's (Hugging Face names: bert.embeddings.*, bert.encoder.layer.N.*, cls.predictions.*).
// Heads and losses: KaleidoLosses.swift; config: KaleidoConfig.swift; the masks and perturbations are built on
// the host (FashionTrain/KaleidoMasking.swift).
import Foundation
import Torch

/// `image_embeddings`: E_k = LN(W_k · drop(f) + T[k] + P · pos5), then dropout (spec §3.2). One bias-free
/// projector per level, named after the AKPM task that level serves; P (5 → H, no bias) and the 6-row type
/// table (row 0 unused here: text is type 0 of the text embeddings; row k = level k) are shared by the levels.
public final class KaleidoImageEmbeddings: Module {
    public let rotation_projector: Linear     // K1
    public let jigsaw_projector: Linear       // K2
    public let camouflage_projector: Linear   // K3
    public let grey_projector: Linear         // K4
    public let blank_projector: Linear        // K5
    public let position_projector: Linear
    public let token_type_embeddings: Embedding
    public let layerNorm: LayerNorm
    override public var keys: [String: String] { ["layerNorm": "LayerNorm"] }
    let dropout: Double

    init(_ c: KaleidoConfig) throws {
        func projector() throws -> Linear { try Linear(c.featureDim, c.hidden, bias: false) }
        rotation_projector = try projector()
        jigsaw_projector = try projector()
        camouflage_projector = try projector()
        grey_projector = try projector()
        blank_projector = try projector()
        position_projector = try Linear(5, c.hidden, bias: false)
        token_type_embeddings = try Embedding(6, c.hidden)
        layerNorm = try LayerNorm(c.hidden, eps: 1e-12)
        dropout = c.dropout
    }

    var projectors: [Linear] { [rotation_projector, jigsaw_projector, camouflage_projector, grey_projector, blank_projector] }

    /// features (B, 55, D), positions (B, 55, 5) → (B, 55, H).
    public func callAsFunction(features: Tensor, positions: Tensor) throws -> Tensor {
        let f = try features.dropout(p: dropout, training: training && dropout > 0)
        var levels: [Tensor] = []
        for (i, projector) in projectors.enumerated() {
            let k = i + 1
            let start = KaleidoConfig.levelOffset(k), n = KaleidoConfig.levelSizes[i]
            levels.append(try projector(f.narrow(dim: 1, start: start, length: n))
                .add(token_type_embeddings.weight.select(dim: 0, index: k)))
        }
        let e = try Tensor.cat(levels, dim: 1).add(position_projector(positions))
        return try layerNorm(e).dropout(p: dropout, training: training && dropout > 0)
    }
}

/// `camouflage_contrast` (config `camouflage_head: "contrast"`, a FashionVL option; docs/KALEIDO.md): each K3
/// state projected, W h_s (W: H → min(64, H), no bias: it would cancel); its squared distance from the mean of the nine, d_s; logits
/// scale · d_s / mean_t(d_t), so the cell least like the others scores highest. A learned scale (init 1).
public final class KaleidoCamouflageContrast: Module {
    public let dense: Linear
    public let scale: Tensor
    init(_ width: Int) throws {
        dense = try Linear(width, min(64, width), bias: false)
        scale = try Tensor.full([1], 1.0).requiresGrad(true)
    }
    /// K3 states (B, 9, H) → logits (B, 9).
    public func callAsFunction(_ k3: Tensor) throws -> Tensor {
        let z = try dense(k3)
        let d = try (z - z.mean(dims: [1], keepdim: true)).square().sum(dims: [-1])
        return try d.div(d.mean(dims: [1], keepdim: true).add(1e-6)).mul(scale)
    }
}

/// `bert.pooler`: tanh(dense(h[CLS])).
public final class BertPooler: Module {
    public let dense: Linear
    init(_ width: Int) throws { dense = try Linear(width, width) }
    public func callAsFunction(_ states: Tensor) throws -> Tensor { try dense(states.select(dim: 1, index: 0)).tanh() }
}

/// `bert`: text embeddings, encoder layers, pooler.
public final class KaleidoBertBody: Module {
    public let embeddings: BertTextEmbeddings
    public let encoder: BertEncoderLayers
    public let pooler: BertPooler
    init(_ c: KaleidoConfig) throws {
        embeddings = try BertTextEmbeddings(vocab: c.vocabSize, width: c.hidden, maxPositions: c.maxPositions)
        encoder = BertEncoderLayers(layers: try (0..<c.layers).map { _ in
            try BertLayer(width: c.hidden, heads: c.heads, intermediateSize: c.intermediateSize)
        })
        pooler = try BertPooler(c.hidden)
    }
}

/// Not final: `KaleidoClassifier` (FashionTrain) adds the category heads under the same names.
/// Kaleido-BERT with its pretraining heads (spec §6): AMLM (`cls.predictions`, decoder tied to the word table),
/// ITM (`itm_head`, H → 2 on the pooled [CLS]), and the five AKPM heads: rotation (H → 4 on K1), jigsaw (4H → 24 on
/// the concatenated K2 outputs), camouflage (9H → 9 on K3, or `camouflage_contrast`), grey-to-colour and blank-to-colour (H → D, no bias).
open class KaleidoBERT: Module {
    public let config: KaleidoConfig
    public let bert: KaleidoBertBody
    public let image_embeddings: KaleidoImageEmbeddings
    public let cls: BertMLMHead
    public let itm_head: Linear
    public let rotation_head: Linear
    public let jigsaw_head: Linear
    /// The spec's camouflage head, or the contrast head: exactly one of the two exists (config `camouflage_head`).
    public let camouflage_head: Linear?
    public let camouflage_contrast: KaleidoCamouflageContrast?
    public let grey_head: Linear
    public let blank_head: Linear

    /// Builds the model: every linear and embedding weight N(0, initializer_range) truncated at ±2, zero biases,
    /// LayerNorms 1/0 (BERT). Draws from libtorch's default generator (seed it with `Torch.manualSeed`).
    public init(_ config: KaleidoConfig) throws {
        try config.validate()
        self.config = config
        let (h, d) = (config.hidden, config.featureDim)
        bert = try KaleidoBertBody(config)
        image_embeddings = try KaleidoImageEmbeddings(config)
        cls = try BertMLMHead(width: h, wordTable: bert.embeddings.word_embeddings.weight)
        itm_head = try Linear(h, 2)
        rotation_head = try Linear(h, 4)
        jigsaw_head = try Linear(4 * h, 24)
        camouflage_head = config.camouflageHead == .linear ? try Linear(9 * h, 9) : nil
        camouflage_contrast = config.camouflageHead == .contrast ? try KaleidoCamouflageContrast(h) : nil
        grey_head = try Linear(h, d, bias: false)
        blank_head = try Linear(h, d, bias: false)
        super.init()
        try initialiseWeights(self)
    }

    private func initialiseWeights(_ m: Module) throws {
        if let l = m as? Linear {
            try truncNormal(l.weight, std: config.initializerRange)
            if let b = l.bias { try Torch.noGrad { try b.zero_() } }
        }
        if let e = m as? Embedding {
            try truncNormal(e.weight, std: config.initializerRange)
            if let p = e.paddingIdx { try Torch.noGrad { try e.weight.select(dim: 0, index: p).zero_() } }
        }
        for (_, child) in m.children() { try initialiseWeights(child) }
    }

    /// The encoder's output (B, L + 55, H): text ids (B, L) with their attention mask (B, L; 1 = token), patch
    /// features (B, 55, D) and positions (B, 55, 5). Every patch is visible (spec §3.3).
    public func encode(ids: Tensor, attentionMask: Tensor, features: Tensor, positions: Tensor) throws -> Tensor {
        let (b, l) = (ids.size(0), ids.size(1))
        guard l == config.textLength, features.ndim == 3, features.size(0) == b, features.size(1) == KaleidoConfig.patches,
              features.size(2) == config.featureDim, positions.shape == [b, KaleidoConfig.patches, 5] else {
            throw ModelError.input("Kaleido-BERT inputs: expected ids (B, \(config.textLength)), features (B, 55, \(config.featureDim)) and positions (B, 55, 5); got ids \(ids.shape), features \(features.shape), positions \(positions.shape)")
        }
        let dropout = config.dropout
        let text = try bert.embeddings(ids).dropout(p: dropout, training: training && dropout > 0)
        let patches = try image_embeddings(features: features, positions: positions)
        var h = try Tensor.cat([text, patches], dim: 1)
        let visible = try Tensor.ones([b, KaleidoConfig.patches], dtype: attentionMask.dtype, device: attentionMask.device)
        let keyMask = try TextEncoder.keyMask(Tensor.cat([attentionMask, visible], dim: 1))
        for layer in bert.encoder.layer {
            h = try layer(h, keyMask: keyMask, image: nil, crossProbabilities: false).0
        }
        return h
    }

    /// ITM logits (B, 2) of the pooled [CLS] state.
    public func itmLogits(_ states: Tensor) throws -> Tensor { try itm_head(bert.pooler(states)) }

    /// P(match) of B clean (image, text) pairs (no perturbation: spec §9), no gradient.
    public func matchProbabilities(ids: Tensor, attentionMask: Tensor, features: Tensor, positions: Tensor) throws -> Tensor {
        try Torch.noGrad {
            try itmLogits(encode(ids: ids, attentionMask: attentionMask, features: features, positions: positions))
                .softmax(dim: 1).select(dim: 1, index: 1)
        }
    }

    /// Camouflage logits (B, 9) over the K3 slots, by the configured head.
    public func camouflageLogits(_ states: Tensor) throws -> Tensor {
        let k3 = try level(3, of: states)
        if let camouflage_contrast { return try camouflage_contrast(k3) }
        guard let camouflage_head else { throw ModelError.input("Kaleido-BERT has no camouflage head") }
        return try camouflage_head(k3.reshape([k3.size(0), 9 * config.hidden]))
    }

    /// The states of level k's patches (B, n_k, H).
    public func level(_ k: Int, of states: Tensor) throws -> Tensor {
        try states.narrow(dim: 1, start: config.textLength + KaleidoConfig.levelOffset(k), length: KaleidoConfig.levelSizes[k - 1])
    }
}

extension KaleidoBERT {
    /// A trained model from a run's model config (JSON) and a checkpoint file (optimizer tensors skipped), on
    /// `device`, in eval mode.
    public static func open(config: Data, weights path: String, device: Device) throws -> KaleidoBERT {
        let c = try KaleidoConfig.decode(config, source: path)
        let model = try KaleidoBERT(c)
        try model.loadForEvaluation(try SafeTensors.load(path).tensors, path: path, device: device)
        return model
    }
}
