import Foundation

/// Linear warm-up from `warmupStartLR` to `baseLR` over `warmupSteps`, then cosine decay to `minLR` at
/// `totalSteps` (nanoGPT's `get_lr`, timm's CosineLRScheduler without restarts).
public struct WarmupCosineSchedule: Codable, Sendable {
    public var baseLR: Double
    public var minLR: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var warmupStartLR: Double

    public init(baseLR: Double, minLR: Double = 0, warmupSteps: Int, totalSteps: Int, warmupStartLR: Double = 0) {
        self.baseLR = baseLR
        self.minLR = minLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.warmupStartLR = warmupStartLR
    }

    /// The learning rate for a 0-based step.
    public func lr(at step: Int) -> Double {
        if step < warmupSteps {
            return warmupStartLR + (baseLR - warmupStartLR) * Double(step + 1) / Double(warmupSteps)
        }
        if step >= totalSteps { return minLR }
        let progress = Double(step - warmupSteps) / Double(Swift.max(1, totalSteps - warmupSteps))
        return minLR + 0.5 * (baseLR - minLR) * (1 + cos(Double.pi * progress))
    }
}

/// Scales gradients in place so that their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_`; returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ params: [Tensor], maxNorm: Double) throws -> Double {
    let grads = params.compactMap(\.grad)
    guard !grads.isEmpty else { return 0 }
    return try Torch.noGrad {
        let norms = try Tensor.foreachNorm(grads, ord: 2)
        let total = try Tensor.stack(norms).norm(p: 2)
        let coef = try total.add(1e-6).reciprocal().mul(maxNorm).clamp(max: 1)
        let c = try coef.item()
        if c < 1 { try Tensor.foreachMul_(grads, c) }
        return try total.item()
    }
}
