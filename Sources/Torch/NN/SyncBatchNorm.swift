// SyncBatchNorm, as PyTorch's nn.SyncBatchNorm computes it: in data-parallel training a BatchNorm normalises with
// the statistics of the global batch (every rank's samples), not of its own slice, so that N processes × batch b
// train as one process × batch N·b does.

extension BatchNorm2d {
    /// Training-mode BatchNorm over the global batch of `group`'s ranks. The per-channel sum, sum of squares and
    /// element count of this rank's input are summed over the ranks by one all-reduce that autograd differentiates
    /// (its backward all-reduces their gradients: what PyTorch's SyncBatchNorm backward does with sum_dy and
    /// sum_dy_xmu); mean = Σx/n, biased variance = Σx²/n − mean² normalise the input, and the running statistics
    /// take the global mean and the unbiased global variance (n/(n−1)), as plain BatchNorm does with its own batch.
    /// Statistics are computed in fp32 (also for a bf16 input under autocast); the output is fp32.
    func synchronized(_ input: Tensor, over group: ProcessGroup) throws -> Tensor {
        guard input.shape.count == 4 else {
            throw TorchError.invalidArgument("SyncBatchNorm: expected a (N, C, H, W) input, got shape \(input.shape)")
        }
        let x = input.dtype == .float32 ? input : try input.to(dtype: .float32)
        let c = x.size(1)
        let count = try Tensor([Float(x.numel / c)], shape: [1], device: x.device)
        let first = try group.allReduceSumWithGradient(Tensor.cat([x.sum(dims: [0, 2, 3]), count]))
        let n = try first.narrow(dim: 0, start: c, length: 1)
        let mean = try first.narrow(dim: 0, start: 0, length: c) / n
        let centred = try x - mean.view([1, c, 1, 1])
        let variance = try group.allReduceSumWithGradient((centred * centred).sum(dims: [0, 2, 3])) / n
        try Torch.noGrad {
            let unbiased = try variance * (n / (n - 1).clamp(min: 1))
            try running_mean.value.mul_(1 - momentum)
            try running_mean.value.add_(mean.detach(), alpha: momentum)
            try running_var.value.mul_(1 - momentum)
            try running_var.value.add_(unbiased.detach(), alpha: momentum)
        }
        let scale = try (variance + eps).rsqrt() * weight
        return try centred * scale.view([1, c, 1, 1]) + bias.view([1, c, 1, 1])
    }
}

extension Module {
    /// Makes every BatchNorm2d of this module and its submodules synchronize its training statistics over `group`
    /// (PyTorch's `convert_sync_batchnorm`); nil turns it back into plain BatchNorm.
    public func syncBatchNorm(over group: ProcessGroup?) {
        if let bn = self as? BatchNorm2d { bn.syncGroup = group }
        for (_, child) in children() { child.syncBatchNorm(over: group) }
    }

    /// The number of BatchNorm2d layers in this module and its submodules.
    public var batchNormCount: Int {
        (self is BatchNorm2d ? 1 : 0) + children().reduce(0) { $0 + $1.1.batchNormCount }
    }
}
