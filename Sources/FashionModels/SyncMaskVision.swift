// SyncMask's image side (docs/SYNCMASK.md §2–3): the visual encoder (ALBEF's ViT, a small conv stem that
// learns from scratch on a CPU, or EfficientNet-Lite0: SyncMaskEfficientNetStem.swift) and the MIM decoder. Pre-LN transformer blocks, LayerNorm eps 1e-6, exact GELU;
// parameter names as timm / ALBEF (`blocks.0.attn.qkv.weight`).
import Foundation
import Torch

/// timm `Attention`: one qkv projection, heads, output projection.
public final class FusedSelfAttention: Module {
    public let qkv: Linear, proj: Linear
    let heads: Int

    init(dim: Int, heads: Int) throws {
        qkv = try Linear(dim, 3 * dim)
        proj = try Linear(dim, dim)
        self.heads = heads
    }

    /// x (B, N, D); `keyMask` broadcastable to (B, heads, N, N), additive.
    public func callAsFunction(_ x: Tensor, keyMask: Tensor? = nil) throws -> Tensor {
        let (b, n, d) = (x.size(0), x.size(1), x.size(2))
        let parts = try qkv(x).view([b, n, 3, heads, d / heads]).permute([2, 0, 3, 1, 4]).unbind(dim: 0)
        let out = try Tensor.attention(parts[0], parts[1], parts[2], mask: keyMask)
        return try proj(out.transpose(1, 2).reshape([b, n, d]))
    }
}

/// A pre-LN ViT block: x + attn(norm1 x), then x + mlp(norm2 x).
public final class ViTBlock: Module {
    public let norm1: LayerNorm, attn: FusedSelfAttention, norm2: LayerNorm, mlp: MLP

    init(dim: Int, heads: Int, mlpRatio: Int) throws {
        norm1 = try LayerNorm(dim, eps: 1e-6)
        attn = try FusedSelfAttention(dim: dim, heads: heads)
        norm2 = try LayerNorm(dim, eps: 1e-6)
        mlp = try MLP(dim: dim, hidden: dim * mlpRatio)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h = try x + attn(norm1(x))
        return try h + mlp(norm2(h))
    }
}

/// The ViT's patch embedding (`patch_embed.proj`).
public final class PatchEmbedding: Module {
    public let proj: Conv2d
    init(width: Int, patch: Int) throws { proj = try Conv2d(3, width, kernelSize: patch, stride: patch) }
}

/// One stride-2 stage of the conv stem: conv 3×3 → GroupNorm(4) → GELU. The GELU is written out as
/// x·½(1 + erf(x/√2)): libtorch 1.13's float32 `gelu` backward is wrong (values in the thousands, sometimes NaN)
/// when the incoming gradient is not contiguous, as it is here after the tokens' transpose.
public final class ConvStage: Module {
    public let conv: Conv2d, norm: GroupNorm

    init(_ cin: Int, _ cout: Int) throws {
        conv = try Conv2d(cin, cout, kernelSize: 3, stride: 2, padding: 1)
        norm = try GroupNorm(groups: 4, channels: cout)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h = try norm(conv(x))
        return try h * h.mul(1 / 2.0.squareRoot()).erf().add(1).mul(0.5)
    }
}

/// GroupNorm with affine weight and bias (PyTorch's names), computed from its definition (mean and biased
/// variance per sample and group, eps 1e-5), so that no fused kernel sees a strided gradient (see ConvStage).
public final class GroupNorm: Module {
    public let weight: Tensor, bias: Tensor
    let groups: Int

    init(groups: Int, channels: Int) throws {
        weight = try Tensor.ones([channels]).requiresGrad(true)
        bias = try Tensor.zeros([channels]).requiresGrad(true)
        self.groups = groups
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let shape = x.shape
        let g = try x.reshape([shape[0], groups, -1])
        let mean = try g.mean(dims: [2], keepdim: true)
        let variance = try g.variance(dims: [2], unbiased: false, keepdim: true)
        let normalised = try ((g - mean) / variance.add(1e-5).sqrt()).reshape(shape)
        let affine = [1, shape[1]] + [Int](repeating: 1, count: shape.count - 2)
        return try normalised * weight.view(affine) + bias.view(affine)
    }
}

/// The visual encoder: a stem (ViT patches, conv stages or EfficientNet-Lite0) → [CLS] + N tokens + position table
/// → blocks → norm.
public final class VisualEncoder: Module {
    public let cls_token: Tensor
    public let pos_embed: Tensor
    public let mask_token: Tensor
    public let patch_embed: PatchEmbedding?
    public let stages: [ConvStage]
    /// EfficientNet-Lite0 (image_encoder efficientnet_lite0), its BatchNorm always in evaluation mode.
    public let backbone: EfficientNetLite?
    public let proj: Linear?
    public let blocks: [ViTBlock]
    public let norm: LayerNorm
    let config: SyncMaskConfig

    static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    static let std: [Float] = [0.26862954, 0.26130258, 0.27577711]

    init(_ c: SyncMaskConfig) throws {
        config = c
        let w = c.visionWidth
        cls_token = try truncNormal(Tensor.zeros([1, 1, w]))
        pos_embed = try truncNormal(Tensor.zeros([1, 1 + c.patches, w]))
        switch c.imageEncoder {
        case .vit:
            mask_token = try truncNormal(Tensor.zeros([1, 1, w]))
            patch_embed = try PatchEmbedding(width: w, patch: c.patchSize)
            stages = []
            backbone = nil
            proj = nil
        case .cnn:
            mask_token = try Tensor.zeros([1, 3, 1, 1]).requiresGrad(true)
            patch_embed = nil
            let widths = [3] + c.cnnChannels
            stages = try (0..<c.cnnChannels.count).map { try ConvStage(widths[$0], widths[$0 + 1]) }
            backbone = nil
            proj = try Linear(c.cnnChannels.last ?? 3, w)
        case .efficientnetLite0:
            mask_token = try Tensor.zeros([1, 3, 1, 1]).requiresGrad(true)
            patch_embed = nil
            stages = []
            let net = try EfficientNetLite()
            net.eval()
            backbone = net
            proj = try Linear(EfficientNetLite.featureChannels, w)
        }
        blocks = try (0..<c.visionDepth).map { _ in try ViTBlock(dim: w, heads: c.visionHeads, mlpRatio: c.mlpRatio) }
        norm = try LayerNorm(w, eps: 1e-6)
    }

    /// images (B, 3, S, S) in [0, 1]; `patchMask` (B, N) bool, true = replaced by the mask token → (B, 1+N, W).
    public func callAsFunction(_ images: Tensor, patchMask: Tensor? = nil) throws -> Tensor {
        let b = images.size(0)
        let tokens: Tensor, cls: Tensor
        if let backbone {
            tokens = try efficientNetTokens(images, backbone: backbone, patchMask: patchMask)
            cls = try cls_token + tokens.mean(dims: [1], keepdim: true)
        } else {
            let dev = images.device
            let mean = try Tensor(VisualEncoder.mean, shape: [1, 3, 1, 1]).to(device: dev)
            let std = try Tensor(VisualEncoder.std, shape: [1, 3, 1, 1]).to(device: dev)
            var x = try (images - mean) / std
            if let patch_embed {
                var t = try patch_embed.proj(x).flatten(startDim: 2).transpose(1, 2)
                if let patchMask { t = try Tensor.where(patchMask.unsqueeze(2), mask_token.expand([b, t.size(1), t.size(2)]), t) }
                tokens = t
                cls = try cls_token.expand([b, 1, config.visionWidth])
            } else {
                if let patchMask { x = try maskPixels(x, patchMask) }
                for stage in stages { x = try stage(x) }
                guard let proj else { throw ModelError.input("conv visual encoder without a projection") }
                tokens = try proj(x.flatten(startDim: 2).transpose(1, 2))
                cls = try cls_token + tokens.mean(dims: [1], keepdim: true)
            }
        }
        var seq = try Tensor.cat([cls, tokens], dim: 1) + pos_embed
        for block in blocks { seq = try block(seq) }
        return try norm(seq)
    }

    /// Each masked token's p×p pixel patch of the (normalised) input takes the mask colour (per channel).
    func maskPixels(_ x: Tensor, _ patchMask: Tensor) throws -> Tensor {
        let b = x.size(0)
        let g = config.imageSize / config.tokenPatch, p = config.tokenPatch
        let m = try patchMask.view([b, 1, g, 1, g, 1]).expand([b, 1, g, p, g, p]).reshape([b, 1, g * p, g * p])
        return try Tensor.where(m, mask_token.expand(x.shape), x)
    }
}

// MARK: - MIM decoder

/// Cross-attention with separate projections (queries from the image width, keys/values from the text width).
public final class SeparateCrossAttention: Module {
    public let query: Linear, key: Linear, value: Linear, proj: Linear
    let heads: Int

    init(dim: Int, contextDim: Int, heads: Int) throws {
        query = try Linear(dim, dim)
        key = try Linear(contextDim, dim)
        value = try Linear(contextDim, dim)
        proj = try Linear(dim, dim)
        self.heads = heads
    }

    public func callAsFunction(_ x: Tensor, context: Tensor, keyMask: Tensor?) throws -> Tensor {
        let (b, n, d) = (x.size(0), x.size(1), x.size(2))
        func split(_ t: Tensor) throws -> Tensor { try t.view([b, t.size(1), heads, d / heads]).transpose(1, 2) }
        let out = try Tensor.attention(split(query(x)), split(key(context)), split(value(context)), mask: keyMask)
        return try proj(out.transpose(1, 2).reshape([b, n, d]))
    }
}

/// A MIM decoder block: self-attention over the image tokens, cross-attention to the text, FFN (pre-LN).
public final class MIMDecoderBlock: Module {
    public let norm1: LayerNorm, attn: FusedSelfAttention
    public let norm_cross: LayerNorm, cross_attn: SeparateCrossAttention
    public let norm2: LayerNorm, mlp: MLP

    init(_ c: SyncMaskConfig) throws {
        let w = c.visionWidth
        norm1 = try LayerNorm(w, eps: 1e-6)
        attn = try FusedSelfAttention(dim: w, heads: c.visionHeads)
        norm_cross = try LayerNorm(w, eps: 1e-6)
        cross_attn = try SeparateCrossAttention(dim: w, contextDim: c.textWidth, heads: c.visionHeads)
        norm2 = try LayerNorm(w, eps: 1e-6)
        mlp = try MLP(dim: w, hidden: w * c.mlpRatio)
    }

    public func callAsFunction(_ x: Tensor, text: Tensor, textKeyMask: Tensor) throws -> Tensor {
        var h = try x + attn(norm1(x))
        h = try h + cross_attn(norm_cross(h), context: text, keyMask: textKeyMask)
        return try h + mlp(norm2(h))
    }
}

/// Predicts the normalised pixels of every patch from the (masked) image tokens and the unmasked text.
public final class MIMDecoder: Module {
    public let blocks: [MIMDecoderBlock]
    public let norm: LayerNorm
    public let head: Linear

    init(_ c: SyncMaskConfig) throws {
        blocks = try (0..<c.mimDecoderLayers).map { _ in try MIMDecoderBlock(c) }
        norm = try LayerNorm(c.visionWidth, eps: 1e-6)
        head = try Linear(c.visionWidth, 3 * c.tokenPatch * c.tokenPatch)
    }

    /// image tokens (B, 1+N, Wv), text (B, L, Wt), additive key mask (B, 1, 1, L) → (B, N, 3p²).
    public func callAsFunction(_ image: Tensor, text: Tensor, textKeyMask: Tensor) throws -> Tensor {
        var x = image
        for block in blocks { x = try block(x, text: text, textKeyMask: textKeyMask) }
        return try head(norm(x)).narrow(dim: 1, start: 1, length: image.size(1) - 1)
    }

    /// The MIM target: (B, 3, S, S) → (B, N, 3p²), pixels ordered (row, column, channel) within a patch, each
    /// patch normalised by its mean and (biased) variance, eps 1e-6.
    public static func target(_ images: Tensor, patch p: Int) throws -> Tensor {
        let (b, s) = (images.size(0), images.size(2))
        let g = s / p
        let x = try images.reshape([b, 3, g, p, g, p]).permute([0, 2, 4, 3, 5, 1]).reshape([b, g * g, p * p * 3])
        let mean = try x.mean(dims: [2], keepdim: true)
        let variance = try x.variance(dims: [2], unbiased: false, keepdim: true)
        return try (x - mean) / variance.add(1e-6).sqrt()
    }
}
