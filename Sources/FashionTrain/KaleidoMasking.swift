// Kaleido-BERT's alignment-guided masking (AGM, shared/spec/kaleido-bert.md §5) and the per-sample AKPM
// perturbation draws (§6.3–6.7), on the host, from a seeded generator (so a resumed run draws the same).
//   text    ≤ 10 tokens (≈15 % of the real pieces, at least 1), whole words, 80 % [MASK] / 10 % random / 10 % kept
//   K3      1 patch: camouflaged (its feature replaced by another product's same-slot K3 feature)
//   K4      2 patches: greyed (input = the grey crop's feature, target = the colour feature)
//   K5      3 patches: blanked (input zeroed, target = the original feature)
//   K1, K2  never masked; K1 is rotated (RR), K2's four features permuted (JPS).
import FashionData
import Foundation

/// How the masked tokens and patches are chosen.
public enum KaleidoMaskingMode: String, Codable, Sendable, CaseIterable {
    /// Pre-aligned ⟨token, patch⟩ pairs first, strongest first, one side of each pair (the paper's AGM).
    case agm
    /// Random tokens and patches within the same budgets (Table 4's ablation).
    case random
}

/// What AGM chose for one sample.
public struct KaleidoSampleMask: Sendable, Equatable {
    /// Masked text positions (whole words), ascending.
    public var tokens: [Int]
    /// Masked patch indices (within the level) of levels 3, 4, 5: 1, 2 and 3 of them.
    public var level3: [Int], level4: [Int], level5: [Int]
    /// Masks chosen through an alignment pair (token or patch side), the rest at random.
    public var fromPairs: Int

    public func patches(level k: Int) -> [Int] { k == 3 ? level3 : k == 4 ? level4 : k == 5 ? level5 : [] }
}

public enum KaleidoMasking {
    /// At most this many masked tokens per sample (`max_predictions`).
    public static let maxPredictions = 10
    /// Masked patches per level, levels 3, 4, 5 (levels 1 and 2 are never masked).
    public static let patchBudget = [3: 1, 4: 2, 5: 3]

    /// The text budget of a sample with `pieces` real (non-special) pieces: 15 %, at least 1, at most 10.
    public static func textBudget(pieces: Int) -> Int {
        pieces == 0 ? 0 : min(maxPredictions, max(1, Int((0.15 * Double(pieces)).rounded())))
    }

    /// The maskable whole words of encoded ids (special tokens and padding excluded): each word's positions.
    public static func words(ids: [Int64], attentionMask: [Int64], vocab: SyncMaskVocab) -> [[Int]] {
        SyncMaskWords(ids: ids, attentionMask: attentionMask, vocab: vocab).words
            .filter { !vocab.isSpecial(ids[$0.positions[0]]) }.map(\.positions)
    }

    /// AGM (§5): sort the pairs by strength (ties shuffled); for each pair whose word is unmasked and whose patch
    /// is unused, a fair coin picks the token side or the patch side (the other when that one's budget is spent,
    /// none when both are); the other side of the pair stays visible. Budgets left are then filled at random
    /// with words and patches no pair touched. `.random` mode, and a sample without pairs, only fill at random.
    /// A masked side makes the other side of *every* pair it belongs to untouchable (a masked word's aligned
    /// patches, a masked patch's aligned words), including pairs skipped later because that side is already
    /// masked: so no pre-aligned pair ever ends up masked on both sides, whether by another pair or by the fill.
    public static func choose(words: [[Int]], alignments: [KaleidoAlignment], mode: KaleidoMaskingMode,
                              rng: inout SeededRNG) -> KaleidoSampleMask {
        let pieces = words.reduce(0) { $0 + $1.count }
        var textLeft = textBudget(pieces: pieces)
        var patchLeft = patchBudget
        var wordOf: [Int: Int] = [:]
        for (w, positions) in words.enumerated() { for p in positions { wordOf[p] = w } }
        var maskedWords = Set<Int>(), touchedWords = Set<Int>()
        var maskedPatches: [Int: Set<Int>] = [3: [], 4: [], 5: []], touchedPatches: [Int: Set<Int>] = [3: [], 4: [], 5: []]
        var fromPairs = 0

        if mode == .agm {
            let usable = alignments.filter { a in
                (3...5).contains(a.level) && a.patch >= 0 && a.patch < KaleidoConfigSizes.level(a.level) && wordOf[a.token] != nil
            }
            // Ties in a random order: a random key breaks them.
            let keyed = usable.map { ($0, rng.next()) }.sorted { $0.0.strength != $1.0.strength ? $0.0.strength > $1.0.strength : $0.1 < $1.1 }
            // Each word's aligned patches and each patch's aligned words (over the usable pairs).
            var patchesOfWord: [Int: [(level: Int, patch: Int)]] = [:], wordsOfPatch: [Int: Set<Int>] = [:]
            for a in usable {
                let w = wordOf[a.token]!
                patchesOfWord[w, default: []].append((a.level, a.patch))
                wordsOfPatch[a.level * 1000 + a.patch, default: []].insert(w)
            }
            for (a, _) in keyed {
                let w = wordOf[a.token]!
                guard !maskedWords.contains(w), !touchedWords.contains(w), !maskedPatches[a.level]!.contains(a.patch),
                      !touchedPatches[a.level]!.contains(a.patch) else { continue }
                let tokenOK = words[w].count <= textLeft, patchOK = patchLeft[a.level]! > 0
                guard tokenOK || patchOK else { continue }
                let tokenSide = tokenOK && patchOK ? rng.next() & 1 == 0 : tokenOK
                if tokenSide {
                    maskedWords.insert(w); textLeft -= words[w].count
                    for (level, patch) in patchesOfWord[w] ?? [] where !maskedPatches[level]!.contains(patch) {
                        touchedPatches[level]!.insert(patch)
                    }
                } else {
                    maskedPatches[a.level]!.insert(a.patch); patchLeft[a.level]! -= 1
                    touchedWords.formUnion((wordsOfPatch[a.level * 1000 + a.patch] ?? []).subtracting(maskedWords))
                }
                fromPairs += 1
            }
        }
        // Random fill, words and patches independently, among those no pair touched.
        for w in Array(words.indices).shuffled(using: &rng) where textLeft > 0 {
            guard !maskedWords.contains(w), !touchedWords.contains(w), words[w].count <= textLeft else { continue }
            maskedWords.insert(w); textLeft -= words[w].count
        }
        var partial: [Int] = []
        if maskedWords.isEmpty, textLeft > 0, let w = words.indices.first(where: { !touchedWords.contains($0) }) {
            // Every free word is longer than the budget: mask the first pieces of one.
            partial = Array(words[w].prefix(textLeft))
        }
        for level in 3...5 {
            let free = (0..<KaleidoConfigSizes.level(level)).filter { !maskedPatches[level]!.contains($0) && !touchedPatches[level]!.contains($0) }
            for p in free.shuffled(using: &rng).prefix(patchLeft[level]!) { maskedPatches[level]!.insert(p) }
        }
        let tokens = (maskedWords.flatMap { words[$0] } + partial).sorted().prefix(maxPredictions)
        return KaleidoSampleMask(tokens: Array(tokens), level3: maskedPatches[3]!.sorted(), level4: maskedPatches[4]!.sorted(),
                                 level5: maskedPatches[5]!.sorted(), fromPairs: fromPairs)
    }

    /// Token corruption of the masked positions: 80 % [MASK] (103), 10 % a random id, 10 % unchanged.
    public static func corrupt(_ ids: inout [Int64], positions: [Int], vocabularySize: Int, rng: inout SeededRNG) {
        for p in positions {
            let u = rng.unit()
            if u < 0.8 { ids[p] = 103 } else if u < 0.9 { ids[p] = Int64(rng.int(0...(vocabularySize - 1))) }
        }
    }

    // MARK: AKPM draws

    /// The 24 permutations of (0, 1, 2, 3) in lexicographic order: JPS label i ↔ `permutations[i]`.
    public static let permutations: [[Int]] = {
        var out: [[Int]] = []
        func extend(_ prefix: [Int]) {
            if prefix.count == 4 { out.append(prefix); return }
            for v in 0..<4 where !prefix.contains(v) { extend(prefix + [v]) }
        }
        extend([])
        return out
    }()

    /// The jigsaw label of a permutation (its lexicographic index), nil when it is not one of (0, 1, 2, 3).
    public static func jigsawLabel(_ permutation: [Int]) -> Int? { permutations.firstIndex(of: permutation) }
}

/// Level sizes as FashionTrain sees them (the model's KaleidoConfig holds the same numbers).
enum KaleidoConfigSizes {
    static func level(_ k: Int) -> Int { KaleidoPatchSet.levelSizes[k - 1] }
}
