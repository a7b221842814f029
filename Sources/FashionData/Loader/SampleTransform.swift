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
    /// Masked image regions; nil = no image mask.
    public var imageMask: CellMask?

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

/// An image mask as an n × n grid of square cells (row-major, 1 = masked); n = S gives a per-pixel mask.
public struct CellMask: Sendable, Equatable {
    public var cellsPerSide: Int
    public var cells: [UInt8]

    public init(cellsPerSide: Int, cells: [UInt8]) {
        self.cellsPerSide = cellsPerSide
        self.cells = cells
    }

    /// Writes the S × S pixel mask (1 = masked, cells of S/n pixels, the last cell taking any remainder).
    public func expand(size: Int, into out: UnsafeMutablePointer<Float>) {
        let n = cellsPerSide
        guard size > 0 else { return }
        guard n > 0, cells.count == n * n else { return out.update(repeating: 0, count: size * size) }
        let cellOf = (0..<size).map { min($0 * n / size, n - 1) }
        var y = 0
        while y < size {
            let row = cellOf[y] * n
            let line = out + y * size
            for x in 0..<size { line[x] = cells[row + cellOf[x]] != 0 ? 1 : 0 }
            var next = y + 1  // the other pixel rows of this cell row are copies
            while next < size, cellOf[next] == cellOf[y] {
                (out + next * size).update(from: line, count: size)
                next += 1
            }
            y = next
        }
    }
}
