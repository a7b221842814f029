// MVLT's masked-image-reconstruction decoder `t2i_head` (class ITGHead in GewelsJI/MVLT libs/vl_heads.py;
// spec §4.7), exactly as coded: a cascaded partial decoder over stages 2–4, Conv3×3+BN without activations,
// bilinear ×2 upsampling with align_corners, a 1×1 score conv and a final bilinear ×8.
import Torch

/// "CB": Conv3×3 (padding 1, no bias) + BatchNorm2d, keys `0.*` and `1.*`.
public final class ConvBN: Module {
    public let conv: Conv2d
    public let bn: BatchNorm2d
    override public var keys: [String: String] { ["conv": "0", "bn": "1"] }

    init(_ inChannels: Int, _ outChannels: Int) throws {
        conv = try Conv2d(inChannels, outChannels, kernelSize: 3, padding: 1, bias: false)
        bn = try BatchNorm2d(outChannels)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try bn(conv(x)) }
}

/// `score = nn.Sequential(Conv2d(3c, 3, 1), Upsample(×8, bilinear, align_corners))`: key `score.0.*`.
public final class ScoreHead: Module {
    public let conv: Conv2d
    override public var keys: [String: String] { ["conv": "0"] }

    init(_ inChannels: Int) throws { conv = try Conv2d(inChannels, 3, kernelSize: 1) }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try upsample(conv(x), by: 8) }
}

func upsample(_ x: Tensor, by factor: Int) throws -> Tensor {
    try x.upsampleBilinear(size: [x.size(2) * factor, x.size(3) * factor], alignCorners: true)
}

public final class MIRDecoder: Module {
    public let reduction1: ConvBN, reduction2: ConvBN, reduction3: ConvBN
    public let conv_upsample1: ConvBN, conv_upsample2: ConvBN, conv_upsample3: ConvBN, conv_upsample4: ConvBN
    public let conv_upsample5: ConvBN
    public let conv_concat2: ConvBN, conv_concat3: ConvBN
    public let conv4: ConvBN
    public let score: ScoreHead

    /// `dims`: widths of stages 2, 3, 4; `c`: decoder width (64).
    init(dims: [Int], c: Int) throws {
        reduction1 = try ConvBN(dims[0], c)
        reduction2 = try ConvBN(dims[1], c)
        reduction3 = try ConvBN(dims[2], c)
        conv_upsample1 = try ConvBN(c, c)
        conv_upsample2 = try ConvBN(c, c)
        conv_upsample3 = try ConvBN(c, c)
        conv_upsample4 = try ConvBN(c, c)
        conv_upsample5 = try ConvBN(2 * c, 2 * c)
        conv_concat2 = try ConvBN(2 * c, 2 * c)
        conv_concat3 = try ConvBN(3 * c, 3 * c)
        conv4 = try ConvBN(3 * c, 3 * c)
        score = try ScoreHead(3 * c)
    }

    /// f2, f3, f4: stage 2/3/4 image maps (B, D_k, S/8, …), (…, S/16), (…, S/32) → image (B, 3, S, S).
    public func callAsFunction(_ f2: Tensor, _ f3: Tensor, _ f4: Tensor) throws -> Tensor {
        let lo = try reduction1(f2), mid = try reduction2(f3), hi = try reduction3(f4)
        let upHi = try upsample(hi, by: 2)
        let a = try conv_upsample1(upHi) * mid
        let b = try conv_upsample2(upsample(mid, by: 2)) * conv_upsample3(upsample(a, by: 2)) * lo
        let a2 = try conv_concat2(Tensor.cat([a, conv_upsample4(upHi)], dim: 1))
        let b2 = try conv_concat3(Tensor.cat([b, conv_upsample5(upsample(a2, by: 2))], dim: 1))
        return try score(conv4(b2))
    }
}
