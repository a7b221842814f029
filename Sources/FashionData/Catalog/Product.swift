// One synthetic product: its ground-truth attributes (what the renderer draws and the text names) and the
// non-visual facts of a catalog entry. Written to attributes.jsonl as-is.

public struct Product: Sendable, Equatable, Codable {
    public var productID: Int64
    public var subcategory: Subcategory
    public var category: GarmentCategory
    public var colour: NamedColour
    public var secondaryColour: NamedColour
    public var pattern: Pattern
    public var sleeve: SleeveLength
    public var neckline: Neckline
    public var length: GarmentLength
    public var closure: Closure
    /// Number of visible buttons when `closure == .buttons`, else 0.
    public var buttons: Int
    public var pockets: Pockets
    public var logo: Logo
    /// Hem/cuff/collar trim colour, nil when the trim is in the main colour.
    public var trimColour: NamedColour?
    public var texture: Texture
    public var fit: Fit
    /// Visible in the back pose only.
    public var backPrint: Bool
    /// Visible in the side pose only.
    public var sidePocket: Bool
    /// Shoes: outsole colour, visible in the detail (sole) pose only.
    public var soleColour: NamedColour?
    public var poses: [PoseKind]
    public var brand: String
    public var composition: String
    public var country: String
    public var season: String
    public var department: String
    public var gender: String
    public var priceUSD: Double
    /// Seed of this product's rendering jitter.
    public var renderSeed: UInt64
}
