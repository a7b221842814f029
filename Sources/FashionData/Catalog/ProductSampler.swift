// Draws products: subcategory-aware attribute choices, narrowed or widened by `Difficulty`, plus the
// non-visual facts (brand, composition, country, season, price) correlated with the category.

public struct ProductSampler: Sendable {
    public let difficulty: Difficulty
    public let brands: [String]

    public init(difficulty: Difficulty, seed: UInt64) {
        self.difficulty = difficulty
        var rng = SeededRNG(seed: seed, stream: 0xB4A2D)
        self.brands = ProductSampler.makeBrands(count: 36, rng: &rng)
    }

    static let countries = ["Italy", "Portugal", "France", "Japan", "China", "Turkey", "India", "Vietnam", "Romania", "USA"]

    /// Brand names from syllables, e.g. "Maison Velour", "Norde Studio".
    static func makeBrands(count: Int, rng: inout SeededRNG) -> [String] {
        let a = ["Vel", "Nor", "Ald", "Mar", "Sen", "Lu", "Ker", "Tor", "Bel", "Os", "Ari", "Fen", "Ro", "Qui", "Sa", "Dal"]
        let b = ["our", "de", "ma", "ven", "ika", "lo", "ster", "ette", "ran", "is", "oni", "sen"]
        let prefix = ["", "", "", "Maison ", "Atelier ", "Casa "]
        let suffix = ["", "", "", " Studio", " Paris", " & Co", " Denim", " Supply"]
        var names: [String] = []
        while names.count < count {
            let n = rng.pick(prefix) + rng.pick(a) + rng.pick(b) + rng.pick(suffix)
            if !names.contains(n) { names.append(n) }
        }
        return names
    }

    /// The product with this id, drawn from its own stream of `rng`.
    public func sample(id: Int64, rng: inout SeededRNG) -> Product {
        let sub = rng.pick(Subcategory.allCases)
        let palette = NamedColour.palette(for: difficulty)
        let colour = rng.pick(palette)
        var secondary = rng.pick(palette)
        while secondary == colour { secondary = rng.pick(palette) }
        let hard = difficulty == .hard, easy = difficulty == .easy
        let detailRate = easy ? 0.3 : (hard ? 0.6 : 0.45)

        var p = Product(
            productID: id, subcategory: sub, category: sub.category, colour: colour, secondaryColour: secondary,
            pattern: .solid, sleeve: .none, neckline: .none, length: .regular, closure: .none, buttons: 0,
            pockets: .none, logo: .none, trimColour: nil, texture: .smooth, fit: .regular, backPrint: false,
            sidePocket: false, soleColour: nil, poses: [.front], brand: rng.pick(brands), composition: "",
            country: rng.pick(Self.countries), season: "", department: "", gender: "", priceUSD: 0,
            renderSeed: rng.next())

        let patterns = Pattern.allowed(for: difficulty)
        let patternWeights = patterns.map { $0 == .solid ? Double(patterns.count) * 0.8 : 1.0 }
        func drawPattern() -> Pattern { rng.pick(patterns, weights: patternWeights) }
        func maybeTrim() -> NamedColour? { rng.chance(detailRate * 0.7) ? secondary : nil }
        let fits: [Fit] = easy ? [.regular, .oversized] : [.slim, .regular, .oversized]

        switch sub.category {
        case .tops, .shirts, .jackets, .dresses:
            p.pattern = drawPattern()
            p.fit = rng.pick(fits)
            p.trimColour = maybeTrim()
            p.length = rng.pick([.cropped, .regular, .regular, .long])
            p.backPrint = sub.category != .dresses && rng.chance(detailRate * 0.5)
            p.sidePocket = rng.chance(detailRate * 0.4)
            p.logo = rng.chance(detailRate) ? rng.pick([.chestLogo, .graphic]) : .none
            switch sub {
            case .tshirt:
                p.sleeve = rng.pick([.short, .short, .long]); p.neckline = rng.pick([.crew, .vNeck, .scoop])
                p.pockets = rng.chance(detailRate * 0.5) ? .chest : .none
            case .tankTop:
                p.sleeve = .none; p.neckline = rng.pick([.scoop, .crew]); p.logo = p.logo == .none ? .none : .graphic
            case .sweater:
                p.sleeve = .long; p.neckline = rng.pick([.crew, .vNeck, .turtle]); p.texture = rng.chance(0.75) ? .knit : .smooth
                p.logo = p.logo == .graphic ? .chestLogo : p.logo
            case .hoodie:
                p.sleeve = .long; p.neckline = .hood; p.pockets = rng.chance(0.8) ? .kangaroo : .none
                p.closure = rng.chance(0.35) ? .zip : .none
                if p.closure == .zip, p.pockets == .kangaroo { p.pockets = .patch }
            case .buttonDown:
                p.sleeve = rng.pick([.short, .long, .long]); p.neckline = .collar; p.closure = .buttons
                p.buttons = rng.int(5...7); p.pockets = rng.chance(detailRate) ? .chest : .none
                p.logo = p.logo == .graphic ? .chestLogo : p.logo
            case .polo:
                p.sleeve = .short; p.neckline = .collar; p.closure = .buttons; p.buttons = rng.int(2...3)
                p.logo = p.logo == .graphic ? .chestLogo : p.logo
            case .blazer:
                p.sleeve = .long; p.neckline = .lapel; p.closure = .buttons; p.buttons = rng.int(1...2)
                p.pockets = rng.chance(0.7) ? .flap : .none; p.logo = .none
                p.texture = rng.chance(0.2) ? .knit : .smooth
            case .parka:
                p.sleeve = .long; p.neckline = .hood; p.closure = rng.chance(0.6) ? .zip : .buttons
                p.buttons = p.closure == .buttons ? rng.int(4...6) : 0; p.pockets = rng.pick([.flap, .patch])
                p.length = .long; p.texture = rng.chance(0.6) ? .quilted : .smooth
            case .bomber:
                p.sleeve = .long; p.neckline = .crew; p.closure = .zip; p.pockets = rng.chance(0.6) ? .flap : .none
                p.trimColour = rng.chance(0.6) ? secondary : nil; p.texture = rng.pick([.smooth, .quilted, .leather])
                p.length = rng.pick([.cropped, .regular])
            case .shiftDress:
                p.sleeve = rng.pick([.none, .short, .long]); p.neckline = rng.pick([.crew, .scoop, .vNeck])
                p.closure = .zip  // back zip: visible in the back pose only
            case .wrapDress:
                p.sleeve = rng.pick([.short, .long, .none]); p.neckline = .vNeck
            case .maxiDress:
                p.sleeve = rng.pick([.none, .none, .short]); p.neckline = p.sleeve == .none ? .strap : .scoop
                p.length = .long
            default: break
            }
            if p.texture == .smooth, sub != .blazer, sub != .parka, rng.chance(easy ? 0 : 0.12) { p.texture = .knit }
        case .skirts:
            p.pattern = drawPattern(); p.fit = rng.pick(fits); p.trimColour = maybeTrim()
            p.length = sub == .miniSkirt ? .cropped : (sub == .midiSkirt ? .long : rng.pick([.cropped, .regular, .long]))
            p.closure = rng.chance(detailRate * 0.6) ? .buttons : .none
            p.buttons = p.closure == .buttons ? rng.int(3...5) : 0
            p.sidePocket = rng.chance(detailRate * 0.5)
            p.texture = rng.chance(0.2) ? (rng.chance(0.5) ? .denim : .leather) : .smooth
        case .pants:
            p.pattern = sub == .jeans ? .solid : (rng.chance(0.5) ? .solid : drawPattern())
            p.fit = rng.pick(fits); p.texture = sub == .jeans ? .denim : (sub == .joggers ? .knit : .smooth)
            p.length = sub == .shorts ? .cropped : rng.pick([.cropped, .regular, .regular])
            p.closure = sub == .joggers ? .none : .buttons; p.buttons = p.closure == .buttons ? 1 : 0
            p.pockets = sub == .jeans ? .patch : (rng.chance(detailRate) ? .flap : .none)
            p.trimColour = sub == .joggers ? maybeTrim() : nil
            p.sidePocket = rng.chance(detailRate * 0.6)
            p.backPrint = false
        case .shoes:
            p.pattern = rng.chance(0.25) ? .colourBlock : .solid
            p.texture = sub == .sneakers ? rng.pick([.smooth, .knit, .leather]) : .leather
            p.closure = sub == .sneakers || (sub == .boots && rng.chance(0.5)) ? .laces : (sub == .boots ? .zip : .none)
            p.soleColour = rng.pick(palette)
            p.trimColour = maybeTrim()
            p.logo = sub == .sneakers && rng.chance(detailRate) ? .chestLogo : .none
        case .bags:
            p.pattern = rng.chance(0.7) ? .solid : rng.pick(patterns.filter { $0 != .floral })
            p.texture = rng.pick([.leather, .leather, .smooth, .quilted])
            p.closure = sub == .clutch || sub == .crossbody ? rng.pick([.flap, .zip]) : (sub == .tote ? .none : .zip)
            p.pockets = sub == .backpack || rng.chance(detailRate * 0.5) ? .patch : .none
            p.logo = rng.chance(detailRate * 0.6) ? .chestLogo : .none
            p.trimColour = maybeTrim()
            p.sidePocket = rng.chance(detailRate * 0.4)
        }

        // Poses: front always, then 0–3 of back, side, detail in that order.
        let poseCount = rng.pick([1, 2, 2, 3, 3, 4])
        var extra: [PoseKind] = [.back, .side, .detail]
        rng.shuffle(&extra)
        let chosen = Set(extra.prefix(poseCount - 1).map { $0.rawValue })
        p.poses = [.front] + [PoseKind.back, .side, .detail].filter { chosen.contains($0.rawValue) }

        fillFacts(&p, rng: &rng)
        return p
    }

    /// Composition, season, department, gender and price, correlated with category and texture.
    func fillFacts(_ p: inout Product, rng: inout SeededRNG) {
        switch p.texture {
        case .smooth: p.composition = rng.pick(["100% cotton", "95% cotton, 5% elastane", "100% viscose", "100% polyester"])
        case .knit: p.composition = rng.pick(["100% merino wool", "80% wool, 20% polyamide", "100% cotton", "70% cashmere, 30% silk"])
        case .denim: p.composition = rng.pick(["100% cotton", "98% cotton, 2% elastane"])
        case .leather: p.composition = rng.pick(["100% calfskin leather", "lambskin leather", "leather upper, rubber sole"])
        case .quilted: p.composition = rng.pick(["100% nylon, down filling", "100% polyester, polyester wadding"])
        }
        let womenOnly: Set<String> = [Subcategory.shiftDress, .wrapDress, .maxiDress, .miniSkirt, .midiSkirt,
                                      .pleatedSkirt, .heels, .clutch].reduce(into: []) { $0.insert($1.rawValue) }
        p.gender = womenOnly.contains(p.subcategory.rawValue) ? "WOMEN" : rng.pick(["WOMEN", "MEN"])
        p.department = p.category == .shoes ? "FOOTWEAR" : (p.category == .bags ? "ACCESSORIES" : "CLOTHING")
        let year = rng.int(19...24)
        let winter = p.subcategory == .parka || p.texture == .knit || p.texture == .quilted || p.subcategory == .boots
        let summer = p.subcategory == .shorts || p.subcategory == .sandals || p.subcategory == .tankTop
        let half = winter ? "FW" : (summer ? "SS" : rng.pick(["SS", "FW"]))
        p.season = "\(half)\(year)"
        let base: Double
        switch p.category {
        case .tops: base = 90
        case .shirts: base = 160
        case .jackets: base = p.subcategory == .parka ? 700 : 450
        case .dresses: base = 320
        case .skirts: base = 210
        case .pants: base = 220
        case .shoes: base = 380
        case .bags: base = 650
        }
        let luxury = p.texture == .leather ? 1.6 : 1.0
        p.priceUSD = (base * luxury * rng.uniform(0.6, 1.8)).rounded()
    }
}
