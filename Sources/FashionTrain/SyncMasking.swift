// SyncMask's synchronized attentional masks, computed on the host (spec syncmask.md §2.3 and §3).
//
// The input is the momentum model's cross-attention at one fusion layer, averaged over heads: (B, L, 1+N),
// rows = text positions, column 0 = the image [CLS], columns 1…N = patches. Per sample:
//   c_t = 1 − A[t, CLS]                 (patch mass)
//   Ā[t, p] = A[t, 1+p] / Σ_q A[t, 1+q]  (patch distribution)
//   s_t = c_t · (1 − H(Ā[t]) / log N)   (compact attention on real patches scores high)
// Whole words are the units (score = max over pieces); [CLS]/[SEP]/[PAD]/[MASK]/[UNK], punctuation and
// stopwords are never chosen. k_T = max(1, round(r_T · n_eligible)) words are drawn uniformly from the top
// min(pool · k_T, n) by score; σ_p = Σ over the chosen words' pieces of Ā[t, p] picks k_I = round(r_I · N)
// patches the same way. Warm-up, random mode and degenerate samples use whole-word random masking and
// uniform patches. The chosen pieces are then corrupted 80 % [MASK] / 10 % random id / 10 % unchanged.

import FashionData
import Foundation

/// How token ids read: the vocab's strings, with the special ids marked once.
public struct SyncMaskVocab: Sendable {
    public let tokens: [String]
    /// Per id: a bracketed special token ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103, [unusedN]).
    let special: [Bool]

    public init(tokens: [String]) {
        self.tokens = tokens
        special = tokens.map { $0.count > 2 && $0.hasPrefix("[") && $0.hasSuffix("]") }
    }

    /// The embedded bert-base-uncased vocab (30,522 tokens).
    public static func bertBaseUncased() throws -> SyncMaskVocab {
        SyncMaskVocab(tokens: try WordPieceTokenizer.bertBaseUncased().vocabTokens)
    }

    public var size: Int { tokens.count }

    /// True for special tokens and for ids outside the vocab.
    public func isSpecial(_ id: Int64) -> Bool { id < 0 || id >= Int64(tokens.count) || special[Int(id)] }
}

/// One whole word of a sample: a piece and the "##" pieces after it.
public struct SyncMaskWord: Sendable, Equatable {
    /// Positions in the sequence, in order.
    public var positions: [Int]
    /// The pieces joined without "##" ("sleeveless"); a special token keeps its name ("[CLS]").
    public var text: String
    /// False for special tokens, punctuation-only words and stopwords.
    public var eligible: Bool
}

/// The positions of one sample grouped into whole words. Padding (attention mask 0) belongs to no word.
public struct SyncMaskWords: Sendable {
    public let words: [SyncMaskWord]
    public var eligible: [SyncMaskWord] { words.filter(\.eligible) }

    public init(ids: [Int64], attentionMask: [Int64]? = nil, vocab: SyncMaskVocab) {
        var words: [SyncMaskWord] = []
        var open = false  // the last word can take "##" pieces
        for (t, id) in ids.enumerated() {
            if let attentionMask, attentionMask[t] == 0 { open = false; continue }
            if vocab.isSpecial(id) {
                let name = id >= 0 && id < Int64(vocab.size) ? vocab.tokens[Int(id)] : "[\(id)]"
                words.append(SyncMaskWord(positions: [t], text: name, eligible: false))
                open = false
                continue
            }
            let piece = vocab.tokens[Int(id)]
            if open, piece.hasPrefix("##"), piece.count > 2 {
                words[words.count - 1].positions.append(t)
                words[words.count - 1].text += piece.dropFirst(2)
            } else {
                words.append(SyncMaskWord(positions: [t], text: piece, eligible: true))
                open = true
            }
        }
        for i in words.indices where words[i].eligible {
            words[i].eligible = Self.isContent(words[i].text)
        }
        self.words = words
    }

    /// A word that has a letter or digit and is not a stopword.
    static func isContent(_ text: String) -> Bool {
        let hasAlphanumeric = text.unicodeScalars.contains {
            $0.properties.isAlphabetic || $0.properties.numericType != nil
        }
        return hasAlphanumeric && !stopwords.contains(text.lowercased())
    }

    /// NLTK's English stopwords (the apostrophe forms dropped: BERT splits them into "don", "'", "t", which
    /// are listed) and thirty-odd more function words: 189 in all.
    public static let stopwords: Set<String> = [
        "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself",
        "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself",
        "they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that",
        "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had",
        "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as",
        "until", "while", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through",
        "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off",
        "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how",
        "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not",
        "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "should",
        "now", "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren", "couldn", "didn", "doesn", "hadn",
        "hasn", "haven", "isn", "ma", "mightn", "mustn", "needn", "shan", "shouldn", "wasn", "weren", "won",
        "wouldn",
        "also", "would", "could", "may", "might", "must", "shall", "us", "upon", "yet", "within", "without",
        "across", "along", "among", "around", "onto", "toward", "towards", "via", "per", "whose", "every",
        "either", "neither", "whether", "though", "although", "unless", "since", "thus", "etc", "ever",
        "even", "much", "many",
    ]
}

public enum SyncMaskMode: String, Sendable, CaseIterable {
    /// Attention-chosen words and patches (after the warm-up).
    case sync
    /// Whole-word random masking and uniform patches throughout (the ablation).
    case random
}

/// A word chosen for MLM in one sample.
public struct SyncMaskChosenWord: Sendable, Equatable {
    public var positions: [Int]
    public var text: String
    /// The word's co-occurrence score (max s_t over its pieces); nil when no attention was given.
    public var score: Float?
}

/// The masks of one batch. Text and image outputs are separate: `maskedIds`/`labels` feed MLM (with the clean
/// image), `patchMask` feeds MIM (with the clean text).
public struct SyncMaskBatch: Sendable {
    public var batchSize: Int, length: Int, patchCount: Int
    /// (B·L) ids after the 80/10/10 corruption of the chosen pieces.
    public var maskedIds: [Int64]
    /// (B·L) the original id at chosen pieces, −100 elsewhere.
    public var labels: [Int64]
    /// (B·N) true = patch masked for MIM; exactly k_I per sample.
    public var patchMask: [Bool]
    /// (B·N) σ_p of sync samples (the chosen words' attention on each patch); 0 for random samples.
    public var patchScores: [Float]
    /// (B) whether the sample's masks came from the attention.
    public var usedSync: [Bool]
    /// (B) the chosen words, in sequence order.
    public var chosenWords: [[SyncMaskChosenWord]]
    /// Samples that drew sync but fell back to random (no eligible word, or no word with s_t > 0).
    public var fallbackCount: Int

    public var syncCount: Int { usedSync.filter { $0 }.count }
    public var maskedTokenCount: Int { labels.filter { $0 != -100 }.count }
    /// The patch mask as 0/1 int64, for a bool tensor made on the device.
    public var patchMaskInt64: [Int64] { patchMask.map { $0 ? 1 : 0 } }
    /// The text of every chosen word of the batch.
    public var chosenWordTexts: [String] { chosenWords.flatMap { $0.map(\.text) } }

    /// The share of the chosen words (over the batch) that are in `visible`; 0 when none was chosen.
    public func visibleShare(in visible: Set<String>) -> Double {
        Self.visibleShare(of: chosenWordTexts, in: visible)
    }

    /// The share of `words` that are in `visible` (compared lower-cased); 0 for no words.
    public static func visibleShare(of words: [String], in visible: Set<String>) -> Double {
        guard !words.isEmpty else { return 0 }
        let set = Set(visible.map { $0.lowercased() })
        return Double(words.filter { set.contains($0.lowercased()) }.count) / Double(words.count)
    }
}

/// Chooses the MLM words and MIM patches of a batch (spec §3). Deterministic given the RNG state.
public struct SyncMaskSelector: Sendable {
    public var vocab: SyncMaskVocab
    /// r_T: share of the eligible words masked (at least one word when any is eligible).
    public var textRatio: Double = 0.15
    /// r_I: share of the patches masked.
    public var imageRatio: Double = 0.25
    /// The pool of pool-then-sample holds poolFactor · k items (1 = plain top-k).
    public var poolFactor: Int = 2
    public var mode: SyncMaskMode = .sync
    /// p_sync = min(1, step / (warmupFraction · totalSteps)); 0 = sync from the first step.
    public var warmupFraction: Double = 0.1
    public var maskID: Int64 = 103
    /// Random replacement ids are drawn from [randomTokenLow, vocab.size): 999 is "!", the first real token.
    public var randomTokenLow: Int64 = 999

    public init(vocab: SyncMaskVocab, textRatio: Double = 0.15, imageRatio: Double = 0.25, poolFactor: Int = 2,
                mode: SyncMaskMode = .sync, warmupFraction: Double = 0.1) {
        self.vocab = vocab
        self.textRatio = textRatio
        self.imageRatio = imageRatio
        self.poolFactor = poolFactor
        self.mode = mode
        self.warmupFraction = warmupFraction
    }

    /// p_sync at `step` of `totalSteps` (0 in random mode).
    public func syncProbability(step: Int, totalSteps: Int) -> Double {
        guard mode == .sync else { return 0 }
        let warm = warmupFraction * Double(totalSteps)
        return warm <= 0 ? 1 : min(1, max(0, Double(step) / warm))
    }

    /// k_I = round(r_I · N).
    public func patchCount(of n: Int) -> Int { min(n, max(0, Int((imageRatio * Double(n)).rounded()))) }

    /// k_T = max(1, round(r_T · n)) for n eligible words, 0 for none.
    public func wordCount(of n: Int) -> Int { n == 0 ? 0 : min(n, max(1, Int((textRatio * Double(n)).rounded()))) }

    /// The masks of a batch. `attention`: (B, L, 1+N) head-averaged cross-attention probabilities, row-major
    /// (may be empty in random mode); `ids`, `attentionMask`: (B, L).
    public func select(attention: [Float], ids: [Int64], attentionMask: [Int64], batchSize: Int, patches: Int,
                       step: Int, totalSteps: Int, rng: inout SeededRNG) throws -> SyncMaskBatch {
        let b = batchSize, n = patches
        guard b > 0, n > 0, ids.count % b == 0, attentionMask.count == ids.count else {
            throw TrainError.badArgument("SyncMaskSelector: need B > 0, N > 0 and ids/attention mask of B·L values; "
                + "got B = \(b), N = \(n), \(ids.count) ids, \(attentionMask.count) mask values")
        }
        let l = ids.count / b
        guard attention.isEmpty ? mode == .random : attention.count == b * l * (1 + n) else {
            throw TrainError.badArgument("SyncMaskSelector: attention must hold B·L·(1+N) = \(b * l * (1 + n)) values"
                + " (empty only in random mode), got \(attention.count)")
        }
        guard poolFactor >= 1, randomTokenLow >= 0, randomTokenLow < Int64(vocab.size) else {
            throw TrainError.badArgument("SyncMaskSelector: poolFactor must be ≥ 1 and randomTokenLow in [0, \(vocab.size))")
        }
        let pSync = syncProbability(step: step, totalSteps: totalSteps)
        let kI = patchCount(of: n)
        var out = SyncMaskBatch(batchSize: b, length: l, patchCount: n, maskedIds: ids,
                                labels: [Int64](repeating: -100, count: b * l),
                                patchMask: [Bool](repeating: false, count: b * n),
                                patchScores: [Float](repeating: 0, count: b * n),
                                usedSync: [Bool](repeating: false, count: b), chosenWords: [], fallbackCount: 0)
        for i in 0..<b {
            let row = i * l
            let words = SyncMaskWords(ids: Array(ids[row..<row + l]), attentionMask: Array(attentionMask[row..<row + l]),
                                      vocab: vocab).eligible
            let kT = wordCount(of: words.count)
            // Scores of every eligible piece (when attention is given) and of each word.
            var distributions: [Int: [Float]] = [:]
            var wordScores: [Float]? = nil
            if !attention.isEmpty {
                wordScores = words.map { word in
                    word.positions.map { t -> Float in
                        let base = (row + t) * (1 + n)
                        let s = Self.tokenScore(row: attention[base..<base + 1 + n])
                        distributions[t] = s.distribution
                        return s.score
                    }.max() ?? 0
                }
            }
            let wantsSync = mode == .sync && rng.chance(pSync)
            let canSync = (wordScores ?? []).contains { $0 > 0 }
            var chosen: [Int], patchSet: [Int]
            if wantsSync && canSync, let scores = wordScores {
                chosen = Self.poolThenSample(scores: scores, k: kT, poolFactor: poolFactor, rng: &rng)
                var sigma = [Float](repeating: 0, count: n)
                for w in chosen { for t in words[w].positions { for p in 0..<n { sigma[p] += distributions[t]![p] } } }
                patchSet = Self.poolThenSample(scores: sigma, k: kI, poolFactor: poolFactor, rng: &rng)
                out.patchScores.replaceSubrange(i * n..<(i + 1) * n, with: sigma)
                out.usedSync[i] = true
            } else {
                if wantsSync { out.fallbackCount += 1 }
                chosen = Self.uniformSample(count: words.count, k: kT, rng: &rng)
                patchSet = Self.uniformSample(count: n, k: kI, rng: &rng)
            }
            for p in patchSet { out.patchMask[i * n + p] = true }
            out.chosenWords.append(chosen.map {
                SyncMaskChosenWord(positions: words[$0].positions, text: words[$0].text, score: wordScores?[$0])
            })
            // 80 % [MASK], 10 % a random id, 10 % unchanged, per piece.
            for w in chosen {
                for t in words[w].positions {
                    out.labels[row + t] = ids[row + t]
                    let u = rng.unit()
                    if u < 0.8 {
                        out.maskedIds[row + t] = maskID
                    } else if u < 0.9 {
                        out.maskedIds[row + t] = Int64(rng.int(Int(randomTokenLow)...(vocab.size - 1)))
                    }
                }
            }
        }
        return out
    }

    /// One attention row [CLS, p_1 … p_N] → c_t, Ā[t, ·] and s_t = c_t · (1 − H(Ā) / log N), in [0, 1].
    /// A row with no mass on the patches scores 0 (its distribution is all zeros).
    public static func tokenScore<C: Collection>(row: C) -> (patchMass: Float, distribution: [Float], score: Float)
    where C.Element == Float {
        let values = Array(row)
        guard values.count >= 2 else { return (0, [], 0) }
        let n = values.count - 1
        let mass = Double(max(0, min(1, 1 - values[0])))
        let patches = values.dropFirst().map { Double(max(0, $0.isFinite ? $0 : 0)) }
        let total = patches.reduce(0, +)
        guard total > 0 else { return (Float(mass), [Float](repeating: 0, count: n), 0) }
        let dist = patches.map { $0 / total }
        let entropy = dist.reduce(0) { $1 > 0 ? $0 - $1 * Foundation.log($1) : $0 }
        let normalised = n > 1 ? entropy / Foundation.log(Double(n)) : 0
        let score = max(0, min(1, mass * (1 - normalised)))
        return (Float(mass), dist.map(Float.init), Float(score))
    }

    /// Pool-then-sample: the top min(poolFactor · k, n) indices by score (ties in random order), then k of them
    /// uniformly without replacement; returned sorted.
    public static func poolThenSample(scores: [Float], k: Int, poolFactor: Int, rng: inout SeededRNG) -> [Int] {
        let count = scores.count, k = min(k, count)
        guard k > 0 else { return [] }
        let key = scores.map { $0.isNaN ? -Float.infinity : $0 }
        let tiebreak = (0..<count).map { _ in rng.next() }
        let order = (0..<count).sorted { key[$0] != key[$1] ? key[$0] > key[$1] : tiebreak[$0] < tiebreak[$1] }
        var pool = Array(order.prefix(min(max(1, poolFactor) * k, count)))
        rng.shuffle(&pool)
        return pool.prefix(k).sorted()
    }

    /// k of 0..<count uniformly without replacement, sorted.
    static func uniformSample(count: Int, k: Int, rng: inout SeededRNG) -> [Int] {
        var all = Array(0..<count)
        rng.shuffle(&all)
        return all.prefix(min(k, count)).sorted()
    }
}
