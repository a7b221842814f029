// Per-method sample transforms: hooks the loader runs on every sample, in order, after reading its caption
// and tokenizing it (ITM negatives, MLM masking, the MVLT grid mask, and whatever a new method needs).

/// Tokenizes one caption into `[CLS] … [SEP]` truncated to `maxLength`, unpadded (the loader pads), e.g.
/// `{ tokenizer.encode($0, maxLength: $1, addSpecialTokens: true) }`.
public typealias CaptionTokenizer = @Sendable (_ text: String, _ maxLength: Int) -> [Int32]

/// The state of one sample while transforms run.
public struct LoaderSample: Sendable {
    public let row: Int
    public let productID: Int64
    /// Caption used (a transform may swap it) and its ids, `[CLS] … [SEP]`, unpadded.
    public var caption: String
    public var inputIds: [Int32]
    /// Same length as `inputIds`: original id at corrupted positions, −100 elsewhere; nil = no MLM.
    public var mlmLabels: [Int32]?
    /// 1 = matched caption, 0 = negative.
    public var itmLabel: Int64 = 1
    /// (S·S) 1 = masked pixel; nil = no grid mask.
    public var imageMask: [Float]?

    public init(row: Int, productID: Int64, caption: String, inputIds: [Int32]) {
        self.row = row
        self.productID = productID
        self.caption = caption
        self.inputIds = inputIds
    }
}

/// What transforms may consult: the loader's columns and settings.
public struct LoaderCatalog: Sendable {
    public let captions: [String]
    public let productIDs: [Int64]
    /// Index into `subcategoryNames` of every row.
    public let subcategoryOfRow: [Int]
    public let subcategoryNames: [String]
    /// Rows eligible for sampling (the loader's split), and those of each subcategory.
    public let rows: [Int]
    public let rowsBySubcategory: [[Int]]
    public let imageSize: Int
    public let textLength: Int
    public let tokenize: CaptionTokenizer
}

public protocol SampleTransform: Sendable {
    /// Modifies `sample` using only `rng` for randomness (so batches are reproducible from the seed).
    func apply(to sample: inout LoaderSample, catalog: LoaderCatalog, rng: inout SeededRNG)
}
