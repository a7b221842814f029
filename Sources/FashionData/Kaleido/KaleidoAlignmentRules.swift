// The alignment generator's rules (spec/kaleido-bert.md §4.2, default mode), apart from the captioner that
// produces the heat maps: a generated word's region (the smallest set of cells, in descending attention, whose
// mass is ≥ 0.5), its overlap with the patches of levels 3–5 in box coordinates, and the matching of generated
// words to the raw text's WordPiece tokens. Pure functions, so every rule is tested exactly.

public enum KaleidoAlignmentRules {
    /// Levels that receive alignments.
    public static let levels = [3, 4, 5]
    /// Region mass.
    public static let regionMass: Float = 0.5

    /// Cell indices of the region: cells by descending α (ties: lower index first) until the mass reaches `mass`.
    public static func region(_ alpha: [Float], mass: Float = regionMass) -> [Int] {
        let order = alpha.indices.sorted { alpha[$0] != alpha[$1] ? alpha[$0] > alpha[$1] : $0 < $1 }
        var out: [Int] = [], sum: Float = 0
        for i in order {
            out.append(i)
            sum += alpha[i]
            if sum >= mass { break }
        }
        return out
    }

    /// overlap(p) = Σ_{c ∈ region} area(c ∩ p) · α(c) for the `level × level` patches p of the unit box, where the
    /// heat map's `grid × grid` cells tile the same box (row-major both).
    public static func overlaps(alpha: [Float], grid s: Int, region: [Int], level k: Int) -> [Float] {
        func overlap1D(_ i: Int, _ n: Int, _ j: Int, _ m: Int) -> Double {
            // [i/n, (i+1)/n] ∩ [j/m, (j+1)/m], exact in rationals scaled by n·m.
            let lo = max(i * m, j * n), hi = min((i + 1) * m, (j + 1) * n)
            return hi > lo ? Double(hi - lo) / Double(n * m) : 0
        }
        var out = [Float](repeating: 0, count: k * k)
        for c in region {
            let (cr, cc) = (c / s, c % s)
            for p in 0..<(k * k) {
                let (pr, pc) = (p / k, p % k)
                let a = overlap1D(cr, s, pr, k) * overlap1D(cc, s, pc, k)
                out[p] += Float(a * Double(alpha[c]))
            }
        }
        return out
    }

    /// The aligned patch of each level 3–5: argmax overlap (ties: lower index), strength = its share of the
    /// level's total overlap. Empty when the map has no mass.
    public static func patches(alpha: [Float], grid s: Int) -> [(level: Int, patch: Int, strength: Float)] {
        let r = region(alpha)
        var out: [(level: Int, patch: Int, strength: Float)] = []
        for k in levels {
            let o = overlaps(alpha: alpha, grid: s, region: r, level: k)
            let total = o.reduce(0, +)
            guard total > 0 else { return [] }
            var best = 0
            for p in o.indices where o[p] > o[best] { best = p }
            out.append((k, best, o[best] / total))
        }
        return out
    }

    /// Words that carry no visual content: never aligned.
    public static let stopwords: Set<String> = [
        "a", "an", "the", "and", "or", "but", "with", "without", "of", "in", "on", "for", "to", "at", "by", "from",
        "into", "onto", "over", "under", "this", "that", "these", "those", "is", "are", "was", "be", "it", "its",
        "as", "up", "out", "off", "so", "than", "very", "all", "any", "each", "some", "no", "not", "per",
    ]

    /// WordPiece pieces grouped into whole words: (word, positions of its pieces). A piece starting with "##"
    /// continues the previous word; bracketed special tokens ([CLS], [SEP], [PAD], …) belong to no word.
    public static func words(_ pieces: [String]) -> [(word: String, positions: [Int])] {
        var out: [(word: String, positions: [Int])] = []
        for (i, p) in pieces.enumerated() {
            if p.hasPrefix("[") && p.hasSuffix("]") && p.count > 2 { continue }
            if p.hasPrefix("##"), let last = out.last, last.positions.last == i - 1 {
                out[out.count - 1] = (last.word + String(p.dropFirst(2)), last.positions + [i])
            } else {
                out.append((p, [i]))
            }
        }
        return out
    }

    /// Whether a (lower-cased) word may be aligned: not a stopword, and holding a letter.
    public static func isContentWord(_ w: String) -> Bool {
        !stopwords.contains(w) && w.unicodeScalars.contains { $0.properties.isAlphabetic }
    }

    /// The `teacher` mode's threshold (spec §4.2): a raw token is kept when the captioner gives it at least this
    /// probability at its step.
    public static let teacherThreshold: Float = 0.1

    /// The `teacher` mode (spec §4.2): the raw text's words the captioner "would have generated". `raw`: the encoded
    /// raw text ([CLS] pieces [SEP]); `probabilities[i]` and `heat[i]`: the captioner's probability of piece raw[i + 1]
    /// at its teacher-forced step and that step's attention map (fewer than the pieces when the caption was
    /// truncated). A content word is kept when every one of its pieces has a probability ≥ `threshold`; the result
    /// is (pieces, heat maps, their positions in `raw`) of the kept words in order, to be aligned like a greedy
    /// caption (`align`).
    public static func teacherKept(raw: [String], probabilities: [Float], heat: [[Float]],
                                   threshold: Float = teacherThreshold) -> (pieces: [String], heat: [[Float]], positions: [Int]) {
        var pieces: [String] = [], maps: [[Float]] = [], kept: [Int] = []
        for w in words(raw) where isContentWord(w.word.lowercased()) {
            let steps = w.positions.map { $0 - 1 }
            guard steps.allSatisfy({ $0 >= 0 && $0 < probabilities.count && $0 < heat.count && probabilities[$0] >= threshold }) else { continue }
            for (p, step) in zip(w.positions, steps) { pieces.append(raw[p]); maps.append(heat[step]); kept.append(p) }
        }
        return (pieces, maps, kept)
    }

    /// Pairs from a greedy caption. `generated`: the caption's pieces, one heat map (`grid`², sums to 1) per
    /// piece in `heat`; `raw`: the pieces of the encoded raw text ([CLS] pieces [SEP], so token positions start
    /// at 1). Each generated content word that equals raw words (lower-cased; pieces matched through their whole
    /// word) takes the mean of its pieces' maps; every piece of every raw occurrence gets one pair per level 3–5.
    /// A raw token is aligned by the first generated occurrence of its word only. Strongest first (ties: token,
    /// then level order).
    public static func align(generated: [String], heat: [[Float]], grid: Int, raw: [String]) -> [KaleidoAlignment] {
        var rawByWord: [String: [[Int]]] = [:]
        for w in words(raw) { rawByWord[w.word.lowercased(), default: []].append(w.positions) }
        var done = Set<String>()
        var out: [KaleidoAlignment] = []
        for g in words(generated) {
            let word = g.word.lowercased()
            guard isContentWord(word), !done.contains(word), let occurrences = rawByWord[word] else { continue }
            done.insert(word)
            var alpha = [Float](repeating: 0, count: grid * grid)
            for p in g.positions where p < heat.count && heat[p].count == alpha.count {
                for c in alpha.indices { alpha[c] += heat[p][c] / Float(g.positions.count) }
            }
            let chosen = patches(alpha: alpha, grid: grid)
            for positions in occurrences {
                for t in positions {
                    for c in chosen { out.append(KaleidoAlignment(token: t, level: c.level, patch: c.patch, strength: c.strength)) }
                }
            }
        }
        return out.enumerated().sorted { a, b in
            a.element.strength != b.element.strength ? a.element.strength > b.element.strength : a.offset < b.offset
        }.map(\.element)
    }
}
