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
    /// Host copies: the file row and product id of each sample.
    public var rows: [Int]
    public var productIDs: [Int64]

    public init(_ b: HostBatch, device: Device = .cpu) throws {
        let (n, s, l) = (b.batchSize, b.imageSize, b.textLength)
        // On CUDA: page-locked staging and asynchronous copies, which overlap the previous step's kernels.
        func upload<T: TensorElement>(_ values: [T], _ shape: [Int]) throws -> Tensor {
            let host = try Tensor(values, shape: shape)
            guard case .cuda = device else { return host }
            return try host.pinned().to(device: device, nonBlocking: true)
        }
        images = try upload(b.images, [n, 3, s, s])
        inputIds = try upload(b.inputIds, [n, l])
        originalInputIds = try upload(b.originalInputIds, [n, l])
        attentionMask = try upload(b.attentionMask, [n, l])
        mlmLabels = try upload(b.mlmLabels, [n, l])
        itmLabels = try upload(b.itmLabels, [n])
        imageMask = try b.imageMask.map { try upload($0, [n, 1, s, s]) }
        categoryLabels = try upload(b.categoryLabels, [n])
        subcategoryLabels = try upload(b.subcategoryLabels, [n])
        batchSize = n
        rows = b.rows
        productIDs = b.productIDs
    }

    /// The images with every masked pixel set to 1e-6 (MVLT's masked input), or the clean images when the
    /// batch has no mask.
    public func maskedImages() throws -> Tensor {
        guard let m = imageMask else { return images }
        return try images.maskedFill(m.gt(0.5), 1e-6)
    }
}
