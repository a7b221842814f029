// The retrieval protocols, once, for every scorer: sample-100 (score each draw, rank, summarise) and full
// (chunks of queries against the whole gallery, ranked block by block). What a scorer is, and how shared texts
// are treated, comes in as a `RetrievalScorer` and a `RetrievalTies`.
import FashionData
import FashionTrain
import Foundation
import Torch

public enum RetrievalEvaluation {
    /// What a result is labelled with.
    public struct Labels {
        public var method: String
        public var dataset: String
        public var split: String
        public var checkpoint: String?
        public var device: String?
        public init(method: String, dataset: String, split: String, checkpoint: String? = nil, device: String? = nil) {
            self.method = method; self.dataset = dataset; self.split = split; self.checkpoint = checkpoint; self.device = device
        }
    }

    // MARK: sample-100

    /// Scores every draw of `set`, ranks the positives and summarises; examples (the first `examples` queries of
    /// the first draw of each direction, PNGs in `examplesRun`/eval/) when `examplesRun` is given.
    public static func s100(scorer: any RetrievalScorer, set: S100DrawSet, textField: TextField, labels: Labels,
                            examples: Int = 0, examplesRun: String? = nil, showProgress: Bool = true) throws
        -> (result: RetrievalResult, examples: [RetrievalExample])
    {
        let start = Date()
        let total = set.draws.reduce(0) { $0 + $1.queries.count }
        let progress = showProgress ? ProgressLine(total: total, label: "retrieval s100 \(scorer.kind.rawValue)") : nil
        try scorer.prepare(set)
        var done = 0
        var ranks: [QueryRanks] = []
        var exampleList: [RetrievalExample] = []
        for (i, draw) in set.draws.enumerated() {
            let scores = try scorer.scores(draw, progress: progress, done: &done)
            let r = try Retrieval.ranks(scores: scores, positives: draw.queries.map(\.positiveIndex))
            ranks.append(r)
            if let examplesRun, examples > 0, set.draws.firstIndex(where: { $0.direction == draw.direction }) == i {
                exampleList += try RetrievalExamples.make(draw: draw, scores: scores, ranks: r, scorer: scorer,
                                                          count: examples, run: examplesRun)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let variant = RetrievalVariant(scorer: scorer.kind, textField: textField, ties: set.tieRule,
                                       draws: set.draws.count / max(1, RetrievalDirection.allCases.count), k: scorer.k)
        var result = try RetrievalResult(method: labels.method, dataset: labels.dataset, split: labels.split,
                                         checkpoint: labels.checkpoint, textField: textField.rawValue,
                                         scorer: scorer.kind.rawValue, draws: set, ranks: ranks, wallSeconds: seconds,
                                         device: labels.device, variant: variant)
        result.notes.append(workNote(scorer, seconds: seconds))
        return (result, exampleList)
    }

    /// "1,234 image-text pairs scored in 5 s" (ITM), "… images and texts embedded …" (ITC), both for itc+itm.
    static func workNote(_ scorer: any RetrievalScorer, seconds: Double) -> String {
        var parts: [String] = []
        if scorer.kind != .itm { parts.append("\(scorer.embedded) images and distinct texts embedded") }
        if scorer.kind != .itc { parts.append("\(scorer.pairsScored) image-text pairs scored") }
        if let k = scorer.k { parts.append("ITC top \(k) re-ranked by ITM") }
        return parts.joined(separator: ", ") + " in \(Int(seconds)) s"
    }

    // MARK: full

    /// One (product, row) per product of the scored rows: the product's first row, sorted by product id, the
    /// first `limit`.
    public static func fullProducts(productIDs: [Int64], rows: [Int]?, limit: Int? = nil) -> [(product: Int64, row: Int)] {
        var firstRow: [Int64: Int] = [:]
        for row in rows ?? Array(productIDs.indices) where firstRow[productIDs[row]] == nil { firstRow[productIDs[row]] = row }
        var products = firstRow.map { (product: $0.key, row: $0.value) }.sorted { $0.product < $1.product }
        if let limit, products.count > limit { products = Array(products.prefix(limit)) }
        return products
    }

    /// Ranks every product's query against the whole gallery of `products`, both directions, block by block
    /// (`scorer.fullQueryChunk` queries at a time). Under `.distinctText` a candidate whose product text equals
    /// the query product's counts as correct.
    public static func fullRanks(scorer: any RetrievalScorer, products: [(product: Int64, row: Int)], ties: RetrievalTies,
                                 showProgress: Bool = true) throws -> [RetrievalDirection: QueryRanks]
    {
        let n = products.count
        guard n >= 2 else { throw EvalError.invalidArgument("full retrieval: need at least 2 products, got \(n)") }
        let hashes: [Int64]? = ties == .distinctText ? products.map { TextHash.of(scorer.texts[$0.row]) } : nil
        let progress = showProgress ? ProgressLine(total: 2 * n, label: "retrieval full \(scorer.kind.rawValue)") : nil
        var done = 0
        var out: [RetrievalDirection: QueryRanks] = [:]
        for direction in RetrievalDirection.allCases {
            var ranks = QueryRanks(pessimistic: [], optimistic: [])
            var start = 0
            while start < n {
                let c = max(1, min(scorer.fullQueryChunk(gallery: n), n - start))
                let block = try scorer.fullScores(direction, queries: start..<(start + c), products: products)
                var correct: Tensor?
                if let hashes {
                    let gallery = try Tensor(hashes, device: block.device).unsqueeze(0)
                    let query = try Tensor(Array(hashes[start..<(start + c)]), shape: [c, 1], device: block.device)
                    correct = try query.eq(gallery)
                }
                let r = try Retrieval.ranks(block: block, positives: Array(start..<(start + c)), correct: correct)
                ranks.pessimistic += r.pessimistic
                ranks.optimistic += r.optimistic
                start += c
                done += c
                progress?.update(done, items: scorer.kind == .itc ? done : scorer.pairsScored)
            }
            out[direction] = ranks
        }
        return out
    }

    /// `fullRanks` summarised as a result row.
    public static func full(scorer: any RetrievalScorer, products: [(product: Int64, row: Int)], textField: TextField,
                            ties: RetrievalTies, labels: Labels, showProgress: Bool = true) throws -> RetrievalFullResult {
        let start = Date()
        let ranks = try fullRanks(scorer: scorer, products: products, ties: ties, showProgress: showProgress)
        let seconds = Date().timeIntervalSince(start)
        var notes = [workNote(scorer, seconds: seconds)]
        if ties == .distinctText {
            let groups = Dictionary(grouping: products.map { TextHash.of(scorer.texts[$0.row]) }, by: { $0 }).values
            let shared = groups.filter { $0.count > 1 }.reduce(0) { $0 + $1.count }
            notes.append("\(shared) of \(products.count) products share their text with another product; such a candidate counts as correct")
        }
        return RetrievalFullResult(
            method: labels.method, dataset: labels.dataset, split: labels.split, checkpoint: labels.checkpoint,
            variant: RetrievalVariant(scorer: scorer.kind, textField: textField, ties: ties, draws: 1, k: scorer.k),
            products: products.count, pairs: scorer.pairsScored, embedded: scorer.embedded,
            tir: DirectionMetrics(ranks: ranks[.tir]!), itr: DirectionMetrics(ranks: ranks[.itr]!),
            wallSeconds: seconds, device: labels.device, notes: notes)
    }
}
