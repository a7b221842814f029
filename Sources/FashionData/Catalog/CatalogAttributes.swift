// The attribute vocabulary of the synthetic catalog (DATA.md §3): categories, subcategories, named colours
// and the visual attributes the renderer draws and the text names. Raw values are the words used in text
// and in attributes.jsonl.

public enum Difficulty: String, Sendable, CaseIterable, Codable {
    /// 8 well-separated colours, 4 patterns, few optional details.
    case easy
    /// 16 colours including near-duplicates (navy/blue, cream/white), all patterns.
    case medium
    /// All 22 colours, all patterns, more details and stronger jitter.
    case hard
}

public enum GarmentCategory: String, Sendable, CaseIterable, Codable {
    case tops = "TOPS", shirts = "SHIRTS", jackets = "JACKETS & COATS", dresses = "DRESSES"
    case skirts = "SKIRTS", pants = "PANTS", shoes = "SHOES", bags = "BAGS"
}

public enum Subcategory: String, Sendable, CaseIterable, Codable {
    case tshirt = "T-SHIRTS", tankTop = "TANK TOPS", sweater = "SWEATERS", hoodie = "HOODIES"
    case buttonDown = "BUTTON-DOWN SHIRTS", polo = "POLOS"
    case blazer = "BLAZERS", parka = "PARKAS", bomber = "BOMBERS"
    case shiftDress = "SHIFT DRESSES", wrapDress = "WRAP DRESSES", maxiDress = "MAXI DRESSES"
    case miniSkirt = "MINI SKIRTS", midiSkirt = "MIDI SKIRTS", pleatedSkirt = "PLEATED SKIRTS"
    case jeans = "JEANS", trousers = "TROUSERS", shorts = "SHORTS", joggers = "JOGGERS"
    case sneakers = "SNEAKERS", boots = "BOOTS", heels = "HEELS", sandals = "SANDALS"
    case tote = "TOTE BAGS", backpack = "BACKPACKS", clutch = "CLUTCHES", crossbody = "CROSSBODY BAGS"

    public var category: GarmentCategory {
        switch self {
        case .tshirt, .tankTop, .sweater, .hoodie: return .tops
        case .buttonDown, .polo: return .shirts
        case .blazer, .parka, .bomber: return .jackets
        case .shiftDress, .wrapDress, .maxiDress: return .dresses
        case .miniSkirt, .midiSkirt, .pleatedSkirt: return .skirts
        case .jeans, .trousers, .shorts, .joggers: return .pants
        case .sneakers, .boots, .heels, .sandals: return .shoes
        case .tote, .backpack, .clutch, .crossbody: return .bags
        }
    }

    /// Nouns used in titles and descriptions (the first is the canonical one).
    public var nouns: [String] {
        switch self {
        case .tshirt: return ["t-shirt", "tee"]
        case .tankTop: return ["tank top", "vest top"]
        case .sweater: return ["sweater", "jumper", "pullover"]
        case .hoodie: return ["hoodie", "hooded sweatshirt"]
        case .buttonDown: return ["shirt", "button-down shirt"]
        case .polo: return ["polo shirt", "polo"]
        case .blazer: return ["blazer", "tailored jacket"]
        case .parka: return ["parka", "hooded coat"]
        case .bomber: return ["bomber jacket", "bomber"]
        case .shiftDress: return ["shift dress", "dress"]
        case .wrapDress: return ["wrap dress", "dress"]
        case .maxiDress: return ["maxi dress", "long dress"]
        case .miniSkirt: return ["mini skirt", "skirt"]
        case .midiSkirt: return ["midi skirt", "skirt"]
        case .pleatedSkirt: return ["pleated skirt", "skirt"]
        case .jeans: return ["jeans", "denim trousers"]
        case .trousers: return ["trousers", "pants"]
        case .shorts: return ["shorts"]
        case .joggers: return ["joggers", "track pants"]
        case .sneakers: return ["sneakers", "trainers"]
        case .boots: return ["boots", "ankle boots"]
        case .heels: return ["heels", "pumps"]
        case .sandals: return ["sandals"]
        case .tote: return ["tote bag", "tote"]
        case .backpack: return ["backpack", "rucksack"]
        case .clutch: return ["clutch", "clutch bag"]
        case .crossbody: return ["crossbody bag", "shoulder bag"]
        }
    }
}

/// A named colour and its sRGB value.
public struct NamedColour: Sendable, Equatable, Codable {
    public let name: String
    public let rgb: [UInt8]

    /// In order of admission: the first 8 are the easy set, the first 16 the medium set.
    public static let all: [NamedColour] = [
        .init(name: "black", rgb: [28, 28, 30]), .init(name: "white", rgb: [250, 250, 248]),
        .init(name: "red", rgb: [200, 32, 40]), .init(name: "blue", rgb: [40, 92, 196]),
        .init(name: "green", rgb: [36, 140, 64]), .init(name: "yellow", rgb: [246, 210, 48]),
        .init(name: "pink", rgb: [240, 150, 182]), .init(name: "brown", rgb: [118, 76, 46]),
        .init(name: "navy", rgb: [28, 38, 88]), .init(name: "cream", rgb: [238, 228, 200]),
        .init(name: "grey", rgb: [150, 150, 156]), .init(name: "burgundy", rgb: [118, 22, 46]),
        .init(name: "orange", rgb: [238, 128, 36]), .init(name: "olive", rgb: [108, 114, 48]),
        .init(name: "purple", rgb: [108, 50, 150]), .init(name: "beige", rgb: [214, 194, 158]),
        .init(name: "charcoal", rgb: [66, 68, 74]), .init(name: "light blue", rgb: [150, 190, 232]),
        .init(name: "teal", rgb: [20, 128, 128]), .init(name: "mustard", rgb: [204, 158, 36]),
        .init(name: "lavender", rgb: [184, 160, 220]), .init(name: "khaki", rgb: [186, 168, 116]),
    ]

    public static func palette(for d: Difficulty) -> [NamedColour] {
        switch d {
        case .easy: return Array(all.prefix(8))
        case .medium: return Array(all.prefix(16))
        case .hard: return all
        }
    }
}

public enum Pattern: String, Sendable, CaseIterable, Codable {
    case solid, horizontalStripes = "horizontal stripes", verticalStripes = "vertical stripes"
    case polkaDots = "polka dots", check, chevron, colourBlock = "colour-block", floral, camouflage

    /// The adjective used in titles ("striped", "check") or nil for solid.
    public var adjective: String? {
        switch self {
        case .solid: return nil
        case .horizontalStripes: return "striped"
        case .verticalStripes: return "pinstriped"
        case .polkaDots: return "polka-dot"
        case .check: return "check"
        case .chevron: return "chevron"
        case .colourBlock: return "colour-block"
        case .floral: return "floral"
        case .camouflage: return "camouflage"
        }
    }

    public static func allowed(for d: Difficulty) -> [Pattern] {
        d == .easy ? [.solid, .horizontalStripes, .polkaDots, .check] : allCases
    }
}

public enum SleeveLength: String, Sendable, Codable { case none = "sleeveless", short = "short-sleeve", long = "long-sleeve" }

public enum Neckline: String, Sendable, Codable {
    case crew = "crew neck", vNeck = "v-neck", scoop = "scoop neck", collar = "point collar"
    case hood, lapel = "notch lapels", turtle = "turtleneck", strap = "thin straps", none
}

public enum GarmentLength: String, Sendable, Codable { case cropped, regular, long }

public enum Closure: String, Sendable, Codable { case none, buttons, zip, laces, flap }

public enum Pockets: String, Sendable, Codable {
    case none, chest = "chest pocket", patch = "patch pockets", flap = "flap pockets", kangaroo = "kangaroo pocket"
}

public enum Logo: String, Sendable, Codable { case none, chestLogo = "chest logo", graphic = "front graphic" }

public enum Texture: String, Sendable, Codable {
    case smooth, knit, denim, leather, quilted
    /// The material word used in text.
    public var material: String {
        switch self {
        case .smooth: return "cotton jersey"
        case .knit: return "rib knit"
        case .denim: return "denim"
        case .leather: return "leather"
        case .quilted: return "quilted nylon"
        }
    }
}

public enum Fit: String, Sendable, Codable {
    case slim, regular, oversized
    /// Width multiplier of the silhouette.
    public var widthRatio: Float { self == .slim ? 0.86 : (self == .regular ? 1.0 : 1.17) }
}

public enum PoseKind: String, Sendable, Codable { case front, back, side, detail }
