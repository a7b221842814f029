// Ranks and recall from a score matrix (protocols.md §2.3): pessimistic ties,
// rank = 1 + #{negatives with score ≥ positive score}; the optimistic rank (1 + #{negatives with score >
// positive}) is kept beside it, since a gap between the two signals degenerate scores.
import Foundation

/// The rank of each query's positive, both tie rules.
public struct QueryRanks: Codable, Equatable, Sendable {
    public var pessimistic: [Int]
    public var optimistic: [Int]
}

/// Recall in percent (0–100) and rank statistics of one draw in one direction.
public struct DirectionMetrics: Codable, Equatable, Sendable {
    public var queries: Int
    public var r1: Double, r5: Double, r10: Double
    /// R@1 + R@5 + R@10 (percent) for this direction.
    public var sum: Double
    public var medianRank: Double
    public var meanRank: Double
    /// The same recalls with optimistic ties.
    public var optimisticR1: Double, optimisticR5: Double, optimisticR10: Double

    public init(ranks: QueryRanks) {
        let p = ranks.pessimistic
        queries = p.count
        r1 = Retrieval.recall(p, at: 1); r5 = Retrieval.recall(p, at: 5); r10 = Retrieval.recall(p, at: 10)
        sum = r1 + r5 + r10
        medianRank = Retrieval.median(p.map(Double.init))
        meanRank = p.isEmpty ? .nan : Double(p.reduce(0, +)) / Double(p.count)
        optimisticR1 = Retrieval.recall(ranks.optimistic, at: 1)
        optimisticR5 = Retrieval.recall(ranks.optimistic, at: 5)
        optimisticR10 = Retrieval.recall(ranks.optimistic, at: 10)
    }
}

/// Mean and population standard deviation (numpy's default, ddof = 0) over draws.
public struct MeanStd: Codable, Equatable, Sendable {
    public var mean: Double
    public var std: Double
    public var n: Int

    public init(mean: Double, std: Double, n: Int) { self.mean = mean; self.std = std; self.n = n }

    public init(_ values: [Double]) {
        n = values.count
        guard !values.isEmpty else { mean = .nan; std = .nan; return }
        mean = values.reduce(0, +) / Double(values.count)
        let m = mean
        std = (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count)).squareRoot()
    }
}

/// One direction summarised over draws.
public struct DirectionSummary: Codable, Equatable, Sendable {
    public var r1: MeanStd, r5: MeanStd, r10: MeanStd
    public var sum: MeanStd
    public var medianRank: MeanStd
    public var optimisticR1: MeanStd
    public var perDraw: [DirectionMetrics]

    public init(_ draws: [DirectionMetrics]) {
        perDraw = draws
        r1 = MeanStd(draws.map(\.r1)); r5 = MeanStd(draws.map(\.r5)); r10 = MeanStd(draws.map(\.r10))
        sum = MeanStd(draws.map(\.sum))
        medianRank = MeanStd(draws.map(\.medianRank))
        optimisticR1 = MeanStd(draws.map(\.optimisticR1))
    }
}

public enum Retrieval {
    /// Ranks of the positives in a queries × candidates score matrix. A NaN score never beats anything in the
    /// optimistic count and always does in the pessimistic one, so NaNs show up as a gap between the two.
    public static func ranks(scores: [[Double]], positives: [Int]) throws -> QueryRanks {
        guard scores.count == positives.count else {
            throw EvalError.invalidArgument("Retrieval.ranks: \(scores.count) score rows but \(positives.count) positive indices")
        }
        var pess: [Int] = [], opt: [Int] = []
        pess.reserveCapacity(scores.count); opt.reserveCapacity(scores.count)
        for (q, (row, pos)) in zip(scores, positives).enumerated() {
            guard row.indices.contains(pos) else {
                throw EvalError.invalidArgument("Retrieval.ranks: query \(q) has \(row.count) candidates; positive index \(pos) is out of range")
            }
            let s = row[pos]
            var atLeast = 0, above = 0
            for (j, v) in row.enumerated() where j != pos {
                if !(v < s) { atLeast += 1 }  // v ≥ s, or either is NaN
                if v > s { above += 1 }
            }
            pess.append(1 + atLeast)
            opt.append(1 + above)
        }
        return QueryRanks(pessimistic: pess, optimistic: opt)
    }

    /// Float scores (what a model returns).
    public static func ranks(scores: [[Float]], positives: [Int]) throws -> QueryRanks {
        try ranks(scores: scores.map { $0.map(Double.init) }, positives: positives)
    }

    /// Percentage of ranks ≤ k.
    public static func recall(_ ranks: [Int], at k: Int) -> Double {
        guard !ranks.isEmpty else { return .nan }
        return 100 * Double(ranks.filter { $0 <= k }.count) / Double(ranks.count)
    }

    static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return .nan }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
