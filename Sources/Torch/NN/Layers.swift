import Foundation

// The standard layers, with PyTorch's parameter names, shapes and default initialisation
// (kaiming-uniform with a = √5 for Linear/Conv weights, which is U(−1/√fan_in, 1/√fan_in), same for biases).
// Initialisation draws from libtorch's default generator: seed it with `Torch.manualSeed` for repeatable models.

enum Init {
    static func uniform(_ shape: [Int], bound: Double) throws -> Tensor {
        let t = try Tensor.empty(shape)
        try t.uniform_(from: -bound, to: bound)
        return try t.requiresGrad(true)
    }

    static func constant(_ shape: [Int], _ value: Double) throws -> Tensor {
        try Tensor.full(shape, value).requiresGrad(true)
    }
}

public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) throws {
        let bound = 1 / Foundation.sqrt(Double(inFeatures))
        weight = try Init.uniform([outFeatures, inFeatures], bound: bound)
        self.bias = bias ? try Init.uniform([outFeatures], bound: bound) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.linear(weight: weight, bias: bias) }
}

public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: [Int], padding: [Int], dilation: [Int], groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true) throws {
        guard inChannels % groups == 0, outChannels % groups == 0 else {
            throw TorchError.invalidArgument("Conv2d: channels \(inChannels)→\(outChannels) not divisible by groups \(groups)")
        }
        let fanIn = inChannels / groups * kernelSize * kernelSize
        let bound = 1 / Foundation.sqrt(Double(fanIn))
        weight = try Init.uniform([outChannels, inChannels / groups, kernelSize, kernelSize], bound: bound)
        self.bias = bias ? try Init.uniform([outChannels], bound: bound) : nil
        self.stride = [stride, stride]
        self.padding = [padding, padding]
        self.dilation = [dilation, dilation]
        self.groups = groups
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

public final class ConvTranspose2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: [Int], padding: [Int], outputPadding: [Int]

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, bias: Bool = true) throws {
        // PyTorch computes fan_in from weight.size(1) * k * k, i.e. out_channels for transposed convs.
        let bound = 1 / Foundation.sqrt(Double(outChannels * kernelSize * kernelSize))
        weight = try Init.uniform([inChannels, outChannels, kernelSize, kernelSize], bound: bound)
        self.bias = bias ? try Init.uniform([outChannels], bound: bound) : nil
        self.stride = [stride, stride]
        self.padding = [padding, padding]
        self.outputPadding = [outputPadding, outputPadding]
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.convTranspose2d(weight: weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding)
    }
}

public final class LayerNorm: Module {
    public let weight: Tensor?
    public let bias: Tensor?
    public let normalizedShape: [Int]
    public let eps: Double

    public init(_ dim: Int, eps: Double = 1e-5, affine: Bool = true) throws {
        normalizedShape = [dim]
        self.eps = eps
        weight = affine ? try Init.constant([dim], 1) : nil
        bias = affine ? try Init.constant([dim], 0) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try x.layerNorm(shape: normalizedShape, weight: weight, bias: bias, eps: eps)
    }
}

public final class BatchNorm2d: Module {
    public let weight: Tensor
    public let bias: Tensor
    public let running_mean: Buffer
    public let running_var: Buffer
    public let num_batches_tracked: Buffer
    public let eps: Double, momentum: Double
    /// Set (by `Module.syncBatchNorm(over:)`) in data-parallel training: in training mode the batch statistics are
    /// those of the global batch over the group's ranks (SyncBatchNorm); nil, a group of one, or evaluation mode:
    /// plain BatchNorm.
    public var syncGroup: ProcessGroup?

    public init(_ channels: Int, eps: Double = 1e-5, momentum: Double = 0.1) throws {
        weight = try Init.constant([channels], 1)
        bias = try Init.constant([channels], 0)
        running_mean = Buffer(try Tensor.zeros([channels]))
        running_var = Buffer(try Tensor.ones([channels]))
        num_batches_tracked = Buffer(try Tensor.zeros([], dtype: .int64))
        self.eps = eps
        self.momentum = momentum
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if training {
            try Torch.noGrad { try num_batches_tracked.value.add_(1) }
            if let group = syncGroup, group.worldSize > 1 { return try synchronized(x, over: group) }
        }
        return try x.batchNorm(weight: weight, bias: bias, runningMean: running_mean.value,
                               runningVar: running_var.value, training: training, momentum: momentum, eps: eps)
    }
}

public final class Embedding: Module {
    public let weight: Tensor
    public let paddingIdx: Int?

    public init(_ count: Int, _ dim: Int, paddingIdx: Int? = nil) throws {
        let w = try Tensor.randn([count, dim])
        if let p = paddingIdx { try w.select(dim: 0, index: p).zero_() }
        weight = try w.requiresGrad(true)
        self.paddingIdx = paddingIdx
    }

    public func callAsFunction(_ ids: Tensor) throws -> Tensor {
        try Tensor.embedding(weight, ids, paddingIdx: paddingIdx ?? -1)
    }
}

public final class Dropout: Module {
    public let p: Double

    public init(_ p: Double) { self.p = p }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        (training && p > 0) ? try x.dropout(p: p, training: true) : x
    }
}

/// Multi-head self/cross attention as in `nn.MultiheadAttention`-style blocks of ViTs: q/k/v projections with
/// heads of `dim / heads` channels, scaled dot-product attention (SDPA on libtorch 2.x), output projection.
public final class MultiHeadAttention: Module {
    public let q: Linear, k: Linear, v: Linear, proj: Linear
    public let heads: Int

    public init(dim: Int, heads: Int, bias: Bool = true) throws {
        guard dim % heads == 0 else { throw TorchError.invalidArgument("MultiHeadAttention: dim \(dim) not divisible by \(heads) heads") }
        q = try Linear(dim, dim, bias: bias)
        k = try Linear(dim, dim, bias: bias)
        v = try Linear(dim, dim, bias: bias)
        proj = try Linear(dim, dim, bias: bias)
        self.heads = heads
    }

    /// x: (B, N, D) queries; context: (B, M, D) keys/values (x itself when nil); mask broadcastable to
    /// (B, heads, N, M), boolean (true = attend) or additive.
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil, mask: Tensor? = nil) throws -> Tensor {
        let c = context ?? x
        let (b, n, d) = (x.size(0), x.size(1), x.size(2))
        func split(_ t: Tensor) throws -> Tensor {
            try t.view([b, t.size(1), heads, d / heads]).transpose(1, 2)
        }
        let out = try Tensor.attention(split(q(x)), split(k(c)), split(v(c)), mask: mask)
        return try proj(out.transpose(1, 2).reshape([b, n, d]))
    }
}
