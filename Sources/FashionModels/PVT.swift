// PVT-v1 building blocks as MVLT uses them (GewelsJI/MVLT libs/pvlt.py over whai362/PVT; spec §4.4–4.5):
// patch embedding, spatial-reduction attention over the joint image+text sequence, pre-norm block, drop path.
// Property names are the original state-dict names.
import Torch

/// `nn.Sequential(nn.Linear, nn.LayerNorm)`: keys `0.*` and `1.*` (text_embed{k}, *_head_embed).
public final class LinearNorm: Module {
    public let linear: Linear
    public let norm: LayerNorm
    override public var keys: [String: String] { ["linear": "0", "norm": "1"] }

    init(_ inFeatures: Int, _ outFeatures: Int, eps: Double = 1e-5) throws {
        linear = try Linear(inFeatures, outFeatures)
        norm = try LayerNorm(outFeatures, eps: eps)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try norm(linear(x)) }
}

/// Conv (kernel = stride) then LayerNorm(1e-5) over the flattened tokens: (B,C,H,W) → (B,H·W,D), H, W.
public final class PatchEmbed: Module {
    public let proj: Conv2d
    public let norm: LayerNorm

    init(_ inChannels: Int, _ dim: Int, patch: Int) throws {
        proj = try Conv2d(inChannels, dim, kernelSize: patch, stride: patch)
        norm = try LayerNorm(dim)
    }

    public func callAsFunction(_ x: Tensor) throws -> (tokens: Tensor, h: Int, w: Int) {
        let m = try proj(x)
        let (h, w) = (m.size(2), m.size(3))
        return (try norm(m.flatten(startDim: 2).transpose(1, 2)), h, w)
    }
}

/// Where the image tokens sit in the joint sequence of a stage.
struct JointLayout {
    let h: Int, w: Int, textLength: Int
    let imageFirst: Bool
    var imageTokens: Int { h * w }
    var imageStart: Int { imageFirst ? 0 : textLength }
    var textStart: Int { imageFirst ? h * w : 0 }
}

/// Spatial-reduction attention (spec §4.5): queries over all tokens; keys/values over
/// [LN(SR-conv(image part)); text part] when SR > 1, else over all tokens. kv's first D channels are k, the
/// last D are v; heads are contiguous D/heads-channel slices.
public final class SRAttention: Module {
    public let q: Linear
    public let kv: Linear
    public let proj: Linear
    public let sr: Conv2d?
    public let norm: LayerNorm?
    let heads: Int, headDim: Int, scale: Double

    init(dim: Int, heads: Int, srRatio: Int) throws {
        q = try Linear(dim, dim)
        kv = try Linear(dim, 2 * dim)
        proj = try Linear(dim, dim)
        sr = srRatio > 1 ? try Conv2d(dim, dim, kernelSize: srRatio, stride: srRatio) : nil
        norm = srRatio > 1 ? try LayerNorm(dim) : nil
        self.heads = heads
        headDim = dim / heads
        scale = 1 / Double(headDim).squareRoot()
    }

    func callAsFunction(_ u: Tensor, _ layout: JointLayout) throws -> Tensor {
        let (b, n, c) = (u.size(0), u.size(1), u.size(2))
        var source = u
        if let sr, let norm {
            let image = try u.narrow(dim: 1, start: layout.imageStart, length: layout.imageTokens)
            let text = try u.narrow(dim: 1, start: layout.textStart, length: layout.textLength)
            let map = try image.transpose(1, 2).reshape([b, c, layout.h, layout.w])
            let reduced = try norm(sr(map).flatten(startDim: 2).transpose(1, 2))
            source = try Tensor.cat(layout.imageFirst ? [reduced, text] : [text, reduced], dim: 1)
        }
        let m = source.size(1)
        let query = try q(u).view([b, n, heads, headDim]).transpose(1, 2)                    // B h N d
        let kvs = try kv(source).view([b, m, 2, heads, headDim]).permute([2, 0, 3, 1, 4])    // 2 B h M d
        let out = try Tensor.attention(query, kvs.select(dim: 0, index: 0), kvs.select(dim: 0, index: 1),
                                       scale: scale)                                           // B h N d
        return try proj(heads == 1 ? out.view([b, n, c]) : out.transpose(1, 2).reshape([b, n, c]))
    }
}

/// Linear → exact GELU → Linear.
public final class MLP: Module {
    public let fc1: Linear
    public let fc2: Linear

    init(dim: Int, hidden: Int) throws {
        fc1 = try Linear(dim, hidden)
        fc2 = try Linear(hidden, dim)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try fc2(fc1(x).gelu()) }
}

/// Per-sample stochastic depth (timm 0.3.2): in training, a sample's branch is dropped with probability p
/// and kept branches are divided by 1 − p. Draws from libtorch's default generator (checkpointed by the
/// trainer).
public final class DropPath: Module {
    public let p: Double

    init(_ p: Double) { self.p = p }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard training, p > 0 else { return x }
        let keep = 1 - p
        var shape = [Int](repeating: 1, count: x.ndim)
        shape[0] = x.size(0)
        let mask = try Tensor.rand(shape, dtype: x.dtype, device: x.device).add(keep).floor()
        return try x.div(keep).mul(mask)
    }
}

/// Pre-norm transformer block (LayerNorm eps 1e-6): z + DP(attn(LN1 z)), then z + DP(MLP(LN2 z)).
public final class PVTBlock: Module {
    public let norm1: LayerNorm
    public let attn: SRAttention
    public let drop_path: DropPath
    public let norm2: LayerNorm
    public let mlp: MLP

    init(dim: Int, heads: Int, mlpRatio: Int, srRatio: Int, dropPath: Double) throws {
        norm1 = try LayerNorm(dim, eps: 1e-6)
        attn = try SRAttention(dim: dim, heads: heads, srRatio: srRatio)
        drop_path = DropPath(dropPath)
        norm2 = try LayerNorm(dim, eps: 1e-6)
        mlp = try MLP(dim: dim, hidden: dim * mlpRatio)
    }

    func callAsFunction(_ z: Tensor, _ layout: JointLayout) throws -> Tensor {
        let z1 = try z + drop_path(attn(norm1(z), layout))
        return try z1 + drop_path(mlp(norm2(z1)))
    }
}
