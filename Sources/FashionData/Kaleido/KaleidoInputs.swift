import Foundation

/// Kaleido-BERT's precomputed visual inputs for one product (spec/kaleido-bert.md §2): the 55 kaleido patches of
/// the locked foreground box (levels K1…K5 = 1×1…5×5 cells, row-major within a level, levels in order), each as one
/// frozen backbone feature, plus the perturbed crops the AKPM tasks need (§2.3): K1 rotated by 90°/180°/270° and
/// the 16 K4 cells in greyscale. Built once per catalog file and cached (the feature cache).
public struct KaleidoPatchSet: Sendable, Equatable {
    /// Patches per level, K1…K5.
    public static let levelSizes = [1, 4, 9, 16, 25]
    /// Patches of all levels: 55.
    public static let patchCount = 55
    /// Index of level `k`'s (1…5) first patch in the 55: 0, 1, 5, 14, 30.
    public static func offset(level k: Int) -> Int { levelSizes.prefix(k - 1).reduce(0, +) }

    /// Feature width D (1280 for EfficientNet-Lite0, 2048 for ResNet-50).
    public var dim: Int
    /// 55 × D colour features, in patch order.
    public var colour: [Float]
    /// 3 × D features of the K1 crop rotated by 90°, 180°, 270° (rotation recognition's inputs for labels 1…3).
    public var rotated: [Float]
    /// 16 × D features of the greyscale K4 crops (luma replicated to 3 channels), in K4 order.
    public var grey: [Float]
    /// 55 × 5 position features [x1, x2, y1, y2, (x2−x1)(y2−y1)], normalised by the image size, full-image space.
    public var positions: [Float]

    public init(dim: Int, colour: [Float], rotated: [Float], grey: [Float], positions: [Float]) {
        self.dim = dim
        self.colour = colour
        self.rotated = rotated
        self.grey = grey
        self.positions = positions
    }
}

/// One ⟨token, patch⟩ pre-alignment from the alignment generator (AAG, spec §4): the WordPiece token at `token`
/// (its position in the product's encoded text `[CLS] pieces [SEP]`, so ≥ 1, for the text field and length the
/// source names) lies on patch `patch` (0-based within the level) of level `level` (3…5), with `strength` in (0, 1].
public struct KaleidoAlignment: Sendable, Equatable, Codable {
    public var token: Int
    public var level: Int
    public var patch: Int
    public var strength: Float

    public init(token: Int, level: Int, patch: Int, strength: Float) {
        self.token = token
        self.level = level
        self.patch = patch
        self.strength = strength
    }
}

/// Where pretraining and evaluation read Kaleido-BERT's per-product inputs, by row of one catalog file.
public protocol KaleidoInputSource: Sendable {
    /// Feature width D.
    var featureDim: Int { get }
    /// The text field ("title" or "description") and encoded length the alignments' token positions refer to.
    var alignedTextField: String { get }
    var alignedTextLength: Int { get }
    /// The patch set of the product at `row` of the catalog file this source was opened for.
    func patches(row: Int) throws -> KaleidoPatchSet
    /// Its pre-alignments, strongest first (empty when none: AGM then masks at random).
    func alignments(row: Int) throws -> [KaleidoAlignment]
}
