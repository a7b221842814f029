import FashionData
import Torch

/// A loader batch as tensors on the training device.
public struct DeviceBatch {
    /// (B, 3, S, S) float32 in [0, 1]
    public var images: Tensor
    /// (B, L) int64, MLM-corrupted ids
    public var inputIds: Tensor
    /// (B, L) int64, clean ids
    public var originalInputIds: Tensor
    public var attentionMask: Tensor
    /// (B, L) int64, −100 = ignore
    public var mlmLabels: Tensor
    /// (B) int64, 1 = matched caption
    public var itmLabels: Tensor
    /// (B, 1, S, S) float32, 1 = masked; nil when the loader made no image masks
    public var imageMask: Tensor?
    public var categoryLabels: Tensor
    public var subcategoryLabels: Tensor
    public var batchSize: Int

    public init(_ b: HostBatch, device: Device = .cpu) throws {
        let (n, s, l) = (b.batchSize, b.imageSize, b.textLength)
        images = try Tensor(b.images, shape: [n, 3, s, s], device: device)
        inputIds = try Tensor(b.inputIds, shape: [n, l], device: device)
        originalInputIds = try Tensor(b.originalInputIds, shape: [n, l], device: device)
        attentionMask = try Tensor(b.attentionMask, shape: [n, l], device: device)
        mlmLabels = try Tensor(b.mlmLabels, shape: [n, l], device: device)
        itmLabels = try Tensor(b.itmLabels, shape: [n], device: device)
        imageMask = try b.imageMask.map { try Tensor($0, shape: [n, 1, s, s], device: device) }
        categoryLabels = try Tensor(b.categoryLabels, shape: [n], device: device)
        subcategoryLabels = try Tensor(b.subcategoryLabels, shape: [n], device: device)
        batchSize = n
    }

    /// The images with every masked pixel set to 1e-6 (MVLT's masked input), or the clean images when the
    /// batch has no mask.
    public func maskedImages() throws -> Tensor {
        guard let m = imageMask else { return images }
        return try images.maskedFill(m.gt(0.5), 1e-6)
    }
}
