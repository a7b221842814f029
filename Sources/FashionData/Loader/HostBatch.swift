// One batch assembled on the host, laid out as the models take it (row-major, batch first). The trainer turns
// each array into a tensor; nothing here depends on Torch.

public struct HostBatch: Sendable {
    public var batchSize: Int
    /// Side S of the model's square images.
    public var imageSize: Int
    /// Text length L (ids are padded with [PAD] = 0 up to L).
    public var textLength: Int
    /// Row of each sample in the file.
    public var rows: [Int]
    public var productIDs: [Int64]
    /// (B,3,S,S) RGB in [0,1], no normalisation (MVLT spec §3).
    public var images: [Float]
    /// (B,L) ids after the transforms (MLM-corrupted when MLM masking is on).
    public var inputIds: [Int64]
    /// (B,L) ids of the caption actually used (ITM negatives included), before MLM corruption.
    public var originalInputIds: [Int64]
    /// (B,L) 1 on real tokens, 0 on padding.
    public var attentionMask: [Int64]
    /// (B,L) original id at MLM-selected positions, −100 elsewhere (all −100 without MLM masking).
    public var mlmLabels: [Int64]
    /// (B) 1 = caption matches the image, 0 = another product's caption.
    public var itmLabels: [Int64]
    /// (B,1,S,S) 1 = masked pixel; nil unless a grid-mask transform ran.
    public var imageMask: [Float]?
    /// (B) indices into `FashionGenLoader.categories` / `.subcategories`.
    public var categoryLabels: [Int64]
    public var subcategoryLabels: [Int64]
}
