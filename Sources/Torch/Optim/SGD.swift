/// SGD with momentum and (coupled) weight decay, as `torch.optim.SGD` (dampening 0, no Nesterov).
public final class SGD {
    public var lr: Double
    public let momentum: Double
    public private(set) var groups: [ParamGroup]
    private var buffers: [[Tensor?]]

    public init(_ groups: [ParamGroup], lr: Double, momentum: Double = 0) {
        self.groups = groups
        self.lr = lr
        self.momentum = momentum
        buffers = groups.map { [Tensor?](repeating: nil, count: $0.params.count) }
    }

    public func step() throws {
        try Torch.noGrad {
            for (gi, group) in groups.enumerated() {
                for (i, p) in group.params.enumerated() {
                    guard var g = p.grad else { continue }
                    if group.weightDecay != 0 { g = try g.add(p, alpha: group.weightDecay) }
                    if momentum != 0 {
                        if let buf = buffers[gi][i] {
                            try buf.mul_(momentum)
                            try buf.add_(g)
                        } else {
                            buffers[gi][i] = try g.clone()
                        }
                        g = buffers[gi][i]!
                    }
                    try p.add_(g, alpha: -lr * group.lrScale)
                }
            }
        }
    }

    public func zeroGrad() throws {
        for g in groups { for p in g.params { try p.setGrad(nil) } }
    }
}
