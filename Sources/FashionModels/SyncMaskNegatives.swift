// The ITM negative of each anchor (shared/spec/syncmask.md §2.2; docs/SYNCMASK.md §4): chosen from the detached
// in-batch ITC similarities, never with the anchor's product id or text hash.
import Foundation

public enum ITMNegativeRule: String, Codable, Sendable, CaseIterable {
    /// The most similar candidate that scores below the positive (GRIT's top-1 inside the semi-hard set).
    case semihardTop1 = "semihard_top1"
    /// A candidate of the semi-hard set drawn with p ∝ exp(s).
    case semihardSample = "semihard_sample"
    /// Any candidate drawn with p ∝ exp(s) (ALBEF's rule, with the same-product / same-text exclusion).
    case albef
    /// A uniformly random candidate: what lets ITM leave chance from scratch (docs/SYNCMASK.md, "ITM schedule").
    case random
}

public struct ITMNegativeChoice: Equatable {
    /// The chosen in-batch index for each anchor.
    public var index: [Int]
    /// Per anchor: true when the rule's set was empty and a fallback chose.
    public var fallback: [Bool]
    /// Anchors with no valid candidate at all (every other sample shares the product or the text).
    public var relaxed: Int
}

public enum ITMNegatives {
    /// `similarity`: (B, B) row-major, row i = anchor i against the batch (s[i][i] = the positive).
    public static func choose<R: RandomNumberGenerator>(similarity s: [Float], batch b: Int, productIDs: [Int64],
                                                        textHashes: [Int64], rule: ITMNegativeRule,
                                                        margin: Float = .infinity,
                                                        rng: inout R) -> ITMNegativeChoice {
        var index = [Int](repeating: 0, count: b), fallback = [Bool](repeating: false, count: b), relaxed = 0
        for i in 0..<b {
            let row = Array(s[(i * b)..<(i * b + b)])
            let positive = row[i]
            let candidates = (0..<b).filter { j in
                j != i && productIDs[j] != productIDs[i] && textHashes[j] != textHashes[i]
            }
            guard !candidates.isEmpty else {
                relaxed += 1
                fallback[i] = true
                let others = (0..<b).filter { $0 != i }
                index[i] = others.randomElement(using: &rng) ?? i
                continue
            }
            let semihard = candidates.filter { row[$0] < positive && row[$0] >= positive - margin }
            switch rule {
            case .semihardTop1 where !semihard.isEmpty:
                // argmax with the lowest index on ties
                var best = semihard[0]
                for j in semihard.dropFirst() where row[j] > row[best] { best = j }
                index[i] = best
            case .semihardSample where !semihard.isEmpty:
                index[i] = sample(semihard, row, &rng)
            case .albef:
                index[i] = sample(candidates, row, &rng)
            case .random:
                index[i] = candidates.randomElement(using: &rng) ?? candidates[0]
            default:
                fallback[i] = true
                index[i] = sample(candidates, row, &rng)
            }
        }
        return ITMNegativeChoice(index: index, fallback: fallback, relaxed: relaxed)
    }

    /// Draws one of `set` with probability ∝ exp(row[j]) (shifted by the maximum for stability).
    static func sample<R: RandomNumberGenerator>(_ set: [Int], _ row: [Float], _ rng: inout R) -> Int {
        let top = set.map { Double(row[$0]) }.max() ?? 0
        let weights = set.map { Foundation.exp(Double(row[$0]) - top) }
        var u = Double.random(in: 0..<weights.reduce(0, +), using: &rng)
        for (j, w) in zip(set, weights) {
            if u < w { return j }
            u -= w
        }
        return set[set.count - 1]
    }
}
