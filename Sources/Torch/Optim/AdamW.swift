import Foundation

/// A set of parameters sharing optimizer settings (PyTorch's param_groups). `lrScale` multiplies the
/// optimizer's learning rate for this group.
public struct ParamGroup {
    public var params: [Tensor]
    public var weightDecay: Double
    public var lrScale: Double

    public init(params: [Tensor], weightDecay: Double, lrScale: Double = 1) {
        self.params = params
        self.weightDecay = weightDecay
        self.lrScale = lrScale
    }

    /// The two groups of timm's `create_optimizer` / nanoGPT: no decay on biases and other 1-D tensors.
    public static func decayAndNoDecay(_ named: [(String, Tensor)], weightDecay: Double,
                                       noDecayNames: Set<String> = []) -> [ParamGroup] {
        var decay: [Tensor] = [], noDecay: [Tensor] = []
        for (name, p) in named {
            if p.ndim <= 1 || name.hasSuffix(".bias") || noDecayNames.contains(name) { noDecay.append(p) } else { decay.append(p) }
        }
        return [ParamGroup(params: decay, weightDecay: weightDecay), ParamGroup(params: noDecay, weightDecay: 0)]
    }
}

/// AdamW with decoupled weight decay, numerically the same as `torch.optim.AdamW` (amsgrad off): each
/// step runs PyTorch's update in the same order, over all parameters of a group at once (foreach ops).
public final class AdamW {
    public var lr: Double
    public let beta1: Double, beta2: Double, eps: Double
    public private(set) var groups: [ParamGroup]
    /// Per parameter (group-major order): step count, first and second moments (created at the first step).
    public private(set) var steps: [[Int]]
    public private(set) var expAvg: [[Tensor?]]
    public private(set) var expAvgSq: [[Tensor?]]

    public init(_ groups: [ParamGroup], lr: Double, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8) {
        self.groups = groups
        self.lr = lr
        (beta1, beta2) = betas
        self.eps = eps
        steps = groups.map { [Int](repeating: 0, count: $0.params.count) }
        expAvg = groups.map { [Tensor?](repeating: nil, count: $0.params.count) }
        expAvgSq = groups.map { [Tensor?](repeating: nil, count: $0.params.count) }
    }

    /// Applies one update to every parameter that has a gradient.
    public func step() throws {
        try Torch.noGrad {
            for gi in groups.indices { try stepGroup(gi) }
        }
    }

    private func stepGroup(_ gi: Int) throws {
        let group = groups[gi]
        // Parameters with a gradient, bucketed by their step count (all equal in ordinary training).
        var buckets: [Int: [Int]] = [:]
        var grads: [Int: Tensor] = [:]
        for (i, p) in group.params.enumerated() {
            guard let g = p.grad else { continue }
            grads[i] = g
            if expAvg[gi][i] == nil {
                expAvg[gi][i] = try p.zerosLike()
                expAvgSq[gi][i] = try p.zerosLike()
            }
            steps[gi][i] += 1
            buckets[steps[gi][i], default: []].append(i)
        }
        let lr = self.lr * group.lrScale
        for (step, idx) in buckets.sorted(by: { $0.key < $1.key }) {
            let params = idx.map { group.params[$0] }
            let g = idx.map { grads[$0]! }
            let m = idx.map { expAvg[gi][$0]! }
            let v = idx.map { expAvgSq[gi][$0]! }
            if group.weightDecay != 0 { try Tensor.foreachMul_(params, 1 - lr * group.weightDecay) }
            try Tensor.foreachMul_(m, beta1)
            try Tensor.foreachAdd_(m, g, alpha: 1 - beta1)
            try Tensor.foreachMul_(v, beta2)
            try Tensor.foreachAddcmul_(v, g, g, value: 1 - beta2)
            let bc1 = 1 - Foundation.pow(beta1, Double(step))
            let bc2 = 1 - Foundation.pow(beta2, Double(step))
            let denom = try Tensor.foreachSqrt(v)
            try Tensor.foreachDiv_(denom, bc2.squareRoot())
            try Tensor.foreachAdd_(denom, eps)
            try Tensor.foreachAddcdiv_(params, m, denom, value: -(lr / bc1))
        }
    }

    /// Clears every parameter's gradient (set to none).
    public func zeroGrad() throws {
        for g in groups { for p in g.params { try p.setGrad(nil) } }
    }

    /// Optimizer state for checkpoints: `exp_avg.G.I` / `exp_avg_sq.G.I` tensors and the step counts.
    public func stateTensors() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for gi in groups.indices {
            for i in groups[gi].params.indices {
                if let m = expAvg[gi][i], let v = expAvgSq[gi][i] {
                    out.append(("exp_avg.\(gi).\(i)", m))
                    out.append(("exp_avg_sq.\(gi).\(i)", v))
                }
            }
        }
        return out
    }

    /// Restores state saved by `stateTensors()` and `steps`; shapes are checked against the parameters.
    public func loadState(tensors: [String: Tensor], steps saved: [[Int]]) throws {
        guard saved.count == groups.count, zip(saved, groups).allSatisfy({ $0.count == $1.params.count }) else {
            throw TorchError.invalidArgument("AdamW state: group layout does not match the optimizer's parameters")
        }
        for gi in groups.indices {
            for (i, p) in groups[gi].params.enumerated() {
                guard let m = tensors["exp_avg.\(gi).\(i)"], let v = tensors["exp_avg_sq.\(gi).\(i)"] else {
                    expAvg[gi][i] = nil; expAvgSq[gi][i] = nil; continue
                }
                guard m.shape == p.shape, v.shape == p.shape else {
                    throw TorchError.shapeMismatch(op: "AdamW state exp_avg.\(gi).\(i)", expected: p.shape, actual: m.shape)
                }
                expAvg[gi][i] = try m.to(device: p.device).clone()
                expAvgSq[gi][i] = try v.to(device: p.device).clone()
            }
        }
        steps = saved
    }
}
