// Titles and descriptions of synthetic products: varied templates, synonyms and sentence order, naming
// the visual attributes (colour, pattern, sleeves, neckline, closures, pockets, logo, trim, texture, fit,
// pose-only details) and non-visual facts (brand, composition, country, season).

import Foundation

public enum CatalogText {
    /// The title, e.g. "navy striped long-sleeve shirt": the main colour always appears.
    public static func title(_ p: Product, rng: inout SeededRNG) -> String {
        var words: [String] = []
        if p.fit != .regular, p.category != .shoes, p.category != .bags, rng.chance(0.5) { words.append(p.fit.rawValue) }
        words.append(p.colour.name)
        if let adj = p.pattern.adjective { words.append(adj) }
        if p.category == .tops || p.category == .shirts || p.category == .dresses, p.sleeve != .none || rng.chance(0.5) {
            if p.sleeve != .none || p.subcategory != .tankTop { words.append(p.sleeve.rawValue) }
        }
        if p.texture != .smooth, rng.chance(0.5) { words.append(p.texture == .quilted ? "quilted" : p.texture.rawValue) }
        words.append(p.subcategory.nouns[0])
        return words.joined(separator: " ")
    }

    /// 2–5 sentences.
    public static func description(_ p: Product, rng: inout SeededRNG) -> String {
        let noun = rng.pick(p.subcategory.nouns)
        let colour = p.colour.name, second = p.secondaryColour.name
        var opening = rng.pick([
            "\(cap(colour)) \(noun) in \(p.texture.material).",
            "\(p.brand) \(noun) crafted from \(p.texture.material) in \(colour).",
            "A \(p.fit.rawValue)-fit \(noun) in \(colour) \(p.texture.material).",
            "\(cap(p.texture.material)) \(noun) in a \(colour) tone.",
        ])
        if p.category == .shoes || p.category == .bags { opening = opening.replacingOccurrences(of: "A \(p.fit.rawValue)-fit", with: "A") }

        var visual: [String] = []
        if let adj = p.pattern.adjective {
            visual.append(rng.pick(["\(cap(p.pattern.rawValue)) in \(second) throughout.",
                                    "Features an all-over \(adj) pattern in \(colour) and \(second).",
                                    "\(cap(adj)) motif in \(second)."]))
        }
        if p.category == .tops || p.category == .shirts || p.category == .jackets || p.category == .dresses {
            let neck = p.neckline == .none ? "" : p.neckline.rawValue
            switch p.sleeve {
            case .none: visual.append(rng.pick(["Sleeveless, with a \(neck).", "\(cap(neck)); sleeveless."]))
            case .short: visual.append(rng.pick(["Short sleeves and a \(neck).", "Cut with a \(neck) and short sleeves."]))
            case .long: visual.append(rng.pick(["Long sleeves and a \(neck).", "\(cap(neck)) and long sleeves."]))
            }
        }
        switch p.closure {
        case .buttons where p.subcategory != .shiftDress:
            let n = numberWord(p.buttons)
            visual.append(rng.pick(["\(cap(n))-button fastening at front.", "Fastens with \(n) button\(p.buttons == 1 ? "" : "s")."]))
        case .zip where p.subcategory == .shiftDress: visual.append("Concealed zip at back.")
        case .zip: visual.append(rng.pick(["Zip closure at front.", "Zip fastening."]))
        case .laces: visual.append(rng.pick(["Lace-up front.", "Tonal lace-up closure."]))
        case .flap: visual.append(rng.pick(["Foldover flap with press-stud.", "Flap closure."]))
        default: break
        }
        if p.pockets != .none { visual.append(rng.pick(["\(cap(p.pockets.rawValue)).", "Features \(article(p.pockets.rawValue)) \(p.pockets.rawValue)."])) }
        switch p.logo {
        case .chestLogo: visual.append(p.category == .bags ? "Logo plaque at front." : rng.pick(["Logo at chest in \(second).", "Embroidered logo in \(second)."]))
        case .graphic: visual.append(rng.pick(["Graphic printed in \(second) at front.", "Printed \(second) graphic at front."]))
        case .none: break
        }
        if let t = p.trimColour { visual.append(rng.pick(["Contrast trim in \(t.name).", "\(cap(t.name)) trim at edges."])) }
        if p.backPrint { visual.append(rng.pick(["Graphic print at back in \(second).", "Large \(second) print at back."])) }
        if p.sidePocket { visual.append(rng.pick(["Discreet pocket at side seam.", "Side pocket."])) }
        if let s = p.soleColour { visual.append(rng.pick(["Rubber sole in \(s.name).", "\(cap(s.name)) outsole."])) }
        rng.shuffle(&visual)

        let facts = [rng.pick(["Made in \(p.country).", "Made in \(p.country). \(cap(p.composition))."]),
                     rng.pick(["\(cap(p.composition)).", "Composition: \(p.composition)."]),
                     rng.pick(["From the \(p.season) collection.", "Part of the \(p.brand) \(p.season) season."])]
        let total = rng.int(2...5)
        var sentences = [opening]
        sentences += visual.prefix(max(0, total - 2))
        sentences.append(rng.pick(facts))
        // Place a fact sentence anywhere after the opening for variety.
        if sentences.count > 2, rng.chance(0.3) { sentences.swapAt(sentences.count - 1, rng.int(1...(sentences.count - 2))) }
        return sentences.prefix(5).joined(separator: " ")
    }

    static func cap(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }
    static func article(_ s: String) -> String { s.hasSuffix("s") ? "two" : (["a", "e", "i", "o", "u"].contains(s.prefix(1)) ? "an" : "a") }
    static func numberWord(_ n: Int) -> String {
        let words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight"]
        return n >= 0 && n < words.count ? words[n] : String(n)
    }
}
