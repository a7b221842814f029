// ResNet-50 (He et al. 2016) with torchvision's parameter names and arithmetic (`torchvision.models.resnet50`,
// "v1.5": the stride of a downsampling Bottleneck is on its 3×3 conv2, not on conv1), so that a user's torchvision
// state dict, converted to safetensors under its own names (docs/KALEIDO-PREPARE.md §2), loads as it is:
// `conv1.weight`, `bn1.running_var`, `layer3.5.conv2.weight`, `layer1.0.downsample.0.weight`,
// `layer1.0.downsample.1.bias`, `fc.weight`. Kaleido-BERT's faithful patch backbone (spec/kaleido-bert.md §2.3: the
// pooled 2048-d feature). Inference only here: `load` gives the model in evaluation mode and `folded()` the
// BN-folded form the Kaleido feature cache runs. PyTorch port: Tests/reference/resnet_port.py.
import Foundation
import Torch

/// torchvision's `Bottleneck` (expansion 4): conv1 1×1 → bn1 → ReLU → conv2 3×3 (stride s, padding 1) → bn2 → ReLU
/// → conv3 1×1 → bn3, plus the input (through `downsample` when the stride or the width changes), then ReLU.
public final class ResNetBottleneck: Module {
    /// torchvision's `downsample = nn.Sequential(conv1x1(stride), BatchNorm2d)`: keys `downsample.0`, `downsample.1`.
    public final class Downsample: Module {
        public let conv: Conv2d
        public let bn: BatchNorm2d
        override public var keys: [String: String] { ["conv": "0", "bn": "1"] }

        init(_ inChannels: Int, _ outChannels: Int, stride: Int) throws {
            conv = try Conv2d(inChannels, outChannels, kernelSize: 1, stride: stride, bias: false)
            bn = try ResNet50.batchNorm(outChannels)
        }
    }

    public let conv1: Conv2d, bn1: BatchNorm2d
    public let conv2: Conv2d, bn2: BatchNorm2d
    public let conv3: Conv2d, bn3: BatchNorm2d
    public let downsample: Downsample?

    init(inChannels: Int, planes: Int, stride: Int) throws {
        let out = planes * ResNet50.expansion
        conv1 = try Conv2d(inChannels, planes, kernelSize: 1, bias: false)
        bn1 = try ResNet50.batchNorm(planes)
        conv2 = try Conv2d(planes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn2 = try ResNet50.batchNorm(planes)
        conv3 = try Conv2d(planes, out, kernelSize: 1, bias: false)
        bn3 = try ResNet50.batchNorm(out)
        downsample = stride != 1 || inChannels != out ? try Downsample(inChannels, out, stride: stride) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        var y = try bn1(conv1(x)).relu()
        y = try bn2(conv2(y)).relu()
        y = try bn3(conv3(y))
        let identity = try downsample.map { try $0.bn($0.conv(x)) } ?? x
        return try (y + identity).relu()
    }
}

/// ResNet-50: conv1 7×7 s2 (64, no bias) → bn1 → ReLU → max pool 3×3 s2 (padding 1) → layer1…layer4 of 3, 4, 6, 3
/// Bottlenecks (widths 64, 128, 256, 512 × 4; first strides 1, 2, 2, 2) → global average pool (2048) → fc 1000.
/// BatchNorm eps 1e-5. Inputs are RGB pixels in [0, 255] (B, 3, H, W), normalised as torchvision's ImageNet
/// transforms do ((x / 255 − mean) / std, mean 0.485/0.456/0.406, std 0.229/0.224/0.225); any H, W ≥ 1 works
/// (the last grid is ⌈H/32⌉-ish, as torchvision's), 224 is the trained resolution.
public final class ResNet50: Module {
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let layer1: [ResNetBottleneck], layer2: [ResNetBottleneck], layer3: [ResNetBottleneck], layer4: [ResNetBottleneck]
    public let fc: Linear

    /// Blocks per layer and the layers' Bottleneck widths (before expansion).
    public static let depths = [3, 4, 6, 3], widths = [64, 128, 256, 512]
    public static let expansion = 4
    public static let featureChannels = 2048
    public static let classes = 1000
    public static let imageSize = 224
    /// torchvision's ImageNet normalisation, for pixels scaled to [0, 1].
    public static let pixelMean: [Float] = [0.485, 0.456, 0.406], pixelStd: [Float] = [0.229, 0.224, 0.225]
    static let bnEps = 1e-5

    static func batchNorm(_ c: Int) throws -> BatchNorm2d { try BatchNorm2d(c, eps: bnEps, momentum: 0.1) }

    /// A randomly initialised model (PyTorch's default conv/linear init, BN identity).
    public init(classes: Int = ResNet50.classes) throws {
        conv1 = try Conv2d(3, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        bn1 = try Self.batchNorm(64)
        var inChannels = 64
        var layers: [[ResNetBottleneck]] = []
        for (i, (depth, width)) in zip(Self.depths, Self.widths).enumerated() {
            var blocks: [ResNetBottleneck] = []
            for j in 0..<depth {
                blocks.append(try ResNetBottleneck(inChannels: inChannels, planes: width, stride: j == 0 && i > 0 ? 2 : 1))
                inChannels = width * Self.expansion
            }
            layers.append(blocks)
        }
        (layer1, layer2, layer3, layer4) = (layers[0], layers[1], layers[2], layers[3])
        fc = try Linear(Self.featureChannels, classes)
    }

    /// Loads a torchvision-named ResNet-50 state dict saved as safetensors, in evaluation mode. A file of another
    /// architecture is a `ModelError.weights` naming the file and the first missing key, else the first unexpected
    /// one, else the first tensor of the wrong shape (all sorted by name). `*.num_batches_tracked` may be absent
    /// (torchvision's original ImageNet file has none; evaluation never reads them).
    public static func load(from path: String) throws -> ResNet50 {
        let model = try ResNet50()
        let optional = Set(model.stateDict().map(\.0).filter { $0.hasSuffix(".num_batches_tracked") })
        let tensors = try BackboneWeights.read(path, for: model, label: "ResNet-50", optional: optional)
        do { try model.loadStateDict(tensors, optional: optional) } catch let e as TorchError {
            throw ModelError.badWeights(path: path, reason: "ResNet-50 weights: \(e)")
        }
        model.eval()
        return model
    }

    /// Checks (B, 3, H, W) and converts pixels in [0, 255] to the network's input, (x / 255 − mean) / std, float32.
    public static func normalize(_ pixels: Tensor) throws -> Tensor {
        let x = try PixelInput.float32(pixels, model: "ResNet50")
        let mean = try Tensor(pixelMean, shape: [1, 3, 1, 1], device: x.device)
        let std = try Tensor(pixelStd, shape: [1, 3, 1, 1], device: x.device)
        return try x.div(255).sub(mean).div(std)
    }

    /// layer4's feature grid (B, 2048, h, w).
    public func features(_ pixels: Tensor) throws -> Tensor {
        var x = try bn1(conv1(Self.normalize(pixels))).relu()
        x = try x.maxPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1])
        for layer in [layer1, layer2, layer3, layer4] { for block in layer { x = try block(x) } }
        return x
    }

    /// The globally average-pooled features (B, 2048).
    public func pooled(_ pixels: Tensor) throws -> Tensor { try features(pixels).mean(dims: [2, 3]) }

    /// ImageNet logits (B, 1000).
    public func logits(_ pixels: Tensor) throws -> Tensor { try fc(pooled(pixels)) }

    /// An inference-only copy with every BatchNorm folded into the convolution before it, from the current
    /// running statistics.
    public func folded() throws -> ResNet50Folded { try ResNet50Folded(self) }
}

/// ResNet-50 with BatchNorm folded into the convolutions (w·γ/√(σ²+ε), β − μ·γ/√(σ²+ε)): the same function as the
/// model in evaluation mode, to float rounding, run without autograd. Activations are kept channels-last ((B, H, W,
/// C) contiguous), which libtorch's CPU convolutions run faster than NCHW on small maps, and a 1×1 stride-1
/// convolution is one matrix product over the B·H·W pixels (as EfficientNetLiteFolded).
public final class ResNet50Folded {
    struct Conv {
        let weight: Tensor, bias: Tensor
        let stride: Int, padding: Int
        /// 1×1 stride-1 convolutions: the weight as a (Cin, Cout) matrix.
        let matrix: Tensor?

        init(_ c: Conv2d, _ bn: BatchNorm2d) throws {
            (weight, bias) = try Torch.noGrad {
                let scale = try bn.weight.div(bn.running_var.value.add(bn.eps).sqrt())
                let w = try c.weight.mul(scale.view([-1, 1, 1, 1])).contiguous().detach()
                return (w, try bn.bias.sub(bn.running_mean.value.mul(scale)).detach())
            }
            (stride, padding) = (c.stride[0], c.padding[0])
            let (cout, cin, k) = (weight.size(0), weight.size(1), weight.size(3))
            matrix = k == 1 && stride == 1 ? try weight.view([cout, cin]).transpose(0, 1).contiguous() : nil
        }

        /// (B, H, W, Cin) contiguous → (B, H', W', Cout) contiguous.
        func callAsFunction(_ x: Tensor) throws -> Tensor {
            let (n, h, w, c) = (x.size(0), x.size(1), x.size(2), x.size(3))
            if let matrix {
                return try bias.addmm(x.view([n * h * w, c]), matrix).view([n, h, w, matrix.size(1)])
            }
            return try x.permute([0, 3, 1, 2]).conv2d(weight: weight, bias: bias, stride: [stride, stride],
                                                      padding: [padding, padding]).permute([0, 2, 3, 1]).contiguous()
        }
    }

    struct Block {
        let conv1: Conv, conv2: Conv, conv3: Conv, downsample: Conv?
    }

    let stem: Conv
    let blocks: [Block]
    let fcWeight: Tensor, fcBias: Tensor?

    init(_ m: ResNet50) throws {
        stem = try Conv(m.conv1, m.bn1)
        blocks = try (m.layer1 + m.layer2 + m.layer3 + m.layer4).map { b in
            Block(conv1: try Conv(b.conv1, b.bn1), conv2: try Conv(b.conv2, b.bn2), conv3: try Conv(b.conv3, b.bn3),
                  downsample: try b.downsample.map { try Conv($0.conv, $0.bn) })
        }
        fcWeight = try m.fc.weight.detach()
        fcBias = try m.fc.bias?.detach()
    }

    /// layer4's grid channels-last, (B, h, w, 2048) contiguous.
    func featuresChannelsLast(_ pixels: Tensor) throws -> Tensor {
        try Torch.noGrad {
            let s = try stem(ResNet50.normalize(pixels).permute([0, 2, 3, 1]).contiguous())
            try s.clamp_(min: 0)
            var h = try s.permute([0, 3, 1, 2]).maxPool2d(kernel: [3, 3], stride: [2, 2], padding: [1, 1])
                .permute([0, 2, 3, 1]).contiguous()
            for b in blocks {
                var y = try b.conv1(h)
                try y.clamp_(min: 0)
                y = try b.conv2(y)
                try y.clamp_(min: 0)
                y = try b.conv3(y)
                try y.add_(b.downsample.map { try $0(h) } ?? h)
                try y.clamp_(min: 0)
                h = y
            }
            return h
        }
    }

    /// As `ResNet50.features` in evaluation mode: (B, 2048, h, w), contiguous.
    public func features(_ pixels: Tensor) throws -> Tensor {
        try featuresChannelsLast(pixels).permute([0, 3, 1, 2]).contiguous()
    }

    /// The globally average-pooled features (B, 2048).
    public func pooled(_ pixels: Tensor) throws -> Tensor {
        try Torch.noGrad { try featuresChannelsLast(pixels).mean(dims: [1, 2]) }
    }

    /// ImageNet logits (B, 1000).
    public func logits(_ pixels: Tensor) throws -> Tensor {
        try Torch.noGrad { try pooled(pixels).linear(weight: fcWeight, bias: fcBias) }
    }
}
