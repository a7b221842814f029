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
    /// `parallel`: a data-parallel group whose ranks all call this with the same arguments. A dual encoder's
    /// embeddings are then split across the ranks (`ITCScorer.dataParallel`); with a cross-encoder (itm, itc+itm)
    /// each rank scores a contiguous share of every draw's queries and the scores are all-gathered. Every rank
    /// returns the result of one process; only rank 0 writes the examples.
    public static func s100(scorer: any RetrievalScorer, set: S100DrawSet, textField: TextField, labels: Labels,
                            examples: Int = 0, examplesRun: String? = nil, showProgress: Bool = true,
                            parallel: DataParallel? = nil) throws
        -> (result: RetrievalResult, examples: [RetrievalExample])
    {
        let start = Date()
        // ITC's scores are dot products of embeddings every rank holds: only cross-encoder scores are split.
        let split = Sharding.splits(parallel) && scorer.kind != .itc
        let total = set.draws.reduce(0) { $0 + (split ? parallel!.share(of: $1.queries.count).count : $1.queries.count) }
        let progress = showProgress ? ProgressLine(total: total, label: "retrieval s100 \(scorer.kind.rawValue)") : nil
        let pairsBefore = scorer.pairsScored
        try scorer.prepare(set)
        var done = 0
        var ranks: [QueryRanks] = []
        var exampleList: [RetrievalExample] = []
        let writesExamples = parallel?.isMain ?? true
        for (i, draw) in set.draws.enumerated() {
            let scores = split ? try sharedScores(draw, scorer: scorer, over: parallel!, progress: progress, done: &done)
                : try scorer.scores(draw, progress: progress, done: &done)
            let r = try Retrieval.ranks(scores: scores, positives: draw.queries.map(\.positiveIndex))
            ranks.append(r)
            if let examplesRun, writesExamples, examples > 0, set.draws.firstIndex(where: { $0.direction == draw.direction }) == i {
                exampleList += try RetrievalExamples.make(draw: draw, scores: scores, ranks: r, scorer: scorer,
                                                          count: examples, run: examplesRun)
            }
        }
        let pairs = try Sharding.total(scorer.pairsScored - pairsBefore, over: parallel)
        let seconds = Date().timeIntervalSince(start)
        let variant = RetrievalVariant(scorer: scorer.kind, textField: textField, ties: set.tieRule,
                                       draws: set.draws.count / max(1, RetrievalDirection.allCases.count), k: scorer.k)
        var result = try RetrievalResult(method: labels.method, dataset: labels.dataset, split: labels.split,
                                         checkpoint: labels.checkpoint, textField: textField.rawValue,
                                         scorer: scorer.kind.rawValue, draws: set, ranks: ranks, wallSeconds: seconds,
                                         device: labels.device, variant: variant)
        result.notes.append(workNote(scorer, pairs: pairs, seconds: seconds))
        return (result, exampleList)
    }

    /// The scores of `draw`'s queries, each rank scoring a contiguous share of them: the shares' scores, flattened,
    /// are all-gathered and cut back into one list per query (every rank knows each query's candidate count).
    static func sharedScores(_ draw: S100Draw, scorer: any RetrievalScorer, over group: DataParallel, progress: ProgressLine?,
                             done: inout Int) throws -> [[Float]] {
        var mine = draw
        mine.queries = Array(draw.queries[group.share(of: draw.queries.count)])
        let local = mine.queries.isEmpty ? [] : try scorer.scores(mine, progress: progress, done: &done).flatMap { $0 }
        let flat = try group.allGatherRows(local.isEmpty ? Tensor.zeros([0]) : Tensor(local))
        let values = try flat.toArray(Float.self)
        var out: [[Float]] = []
        out.reserveCapacity(draw.queries.count)
        var start = 0
        for q in draw.queries {
            let end = start + q.candidateRows.count
            guard end <= values.count else { break }
            out.append(Array(values[start..<end]))
            start = end
        }
        guard out.count == draw.queries.count, start == values.count else {
            throw EvalError.invalidArgument("distributed s100: gathered \(values.count) scores for \(draw.queries.count) queries of \(draw.queries.reduce(0) { $0 + $1.candidateRows.count }) candidates")
        }
        return out
    }

    /// "1,234 image-text pairs scored in 5 s" (ITM), "… images and texts embedded …" (ITC), both for itc+itm.
    static func workNote(_ scorer: any RetrievalScorer, pairs: Int, seconds: Double) -> String {
        var parts: [String] = []
        if scorer.kind != .itm { parts.append("\(scorer.embedded) images and distinct texts embedded") }
        if scorer.kind != .itc { parts.append("\(pairs) image-text pairs scored") }
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
    /// the query product's counts as correct. `parallel`: a data-parallel group whose ranks all call this with the
    /// same arguments; the galleries' embeddings are split across the ranks, each rank ranks a contiguous share of
    /// the blocks (the blocks one process computes) and the ranks are all-gathered, so every rank returns them all.
    public static func fullRanks(scorer: any RetrievalScorer, products: [(product: Int64, row: Int)], ties: RetrievalTies,
                                 showProgress: Bool = true, parallel: DataParallel? = nil) throws
        -> [RetrievalDirection: QueryRanks]
    {
        let n = products.count
        guard n >= 2 else { throw EvalError.invalidArgument("full retrieval: need at least 2 products, got \(n)") }
        let hashes: [Int64]? = ties == .distinctText ? products.map { TextHash.of(scorer.texts[$0.row]) } : nil
        try scorer.prepareFull(products)
        let chunk = max(1, min(scorer.fullQueryChunk(gallery: n), n))
        let split = Sharding.splits(parallel)
        let mine = split ? parallel!.share(of: n, unit: chunk) : 0..<n
        let progress = showProgress ? ProgressLine(total: 2 * mine.count, label: "retrieval full \(scorer.kind.rawValue)") : nil
        var done = 0
        var out: [RetrievalDirection: QueryRanks] = [:]
        for direction in RetrievalDirection.allCases {
            var ranks = QueryRanks(pessimistic: [], optimistic: [])
            var start = mine.lowerBound
            while start < mine.upperBound {
                let c = min(chunk, mine.upperBound - start)
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
            out[direction] = split ? try gathered(ranks, over: parallel!, count: n) : ranks
        }
        return out
    }

    /// Every rank's ranks of its share of the queries, in rank order (= query order).
    static func gathered(_ ranks: QueryRanks, over group: DataParallel, count n: Int) throws -> QueryRanks {
        let pairs = zip(ranks.pessimistic, ranks.optimistic).flatMap { [Int64($0), Int64($1)] }
        let mine = try pairs.isEmpty ? Tensor.zeros([0, 2], dtype: .int64) : Tensor(pairs, shape: [ranks.pessimistic.count, 2])
        let all = try group.allGatherRows(mine).toArray(Int64.self).map { Int($0) }
        guard all.count == 2 * n else {
            throw EvalError.invalidArgument("distributed full retrieval: gathered the ranks of \(all.count / 2) queries of \(n)")
        }
        return QueryRanks(pessimistic: stride(from: 0, to: all.count, by: 2).map { all[$0] },
                          optimistic: stride(from: 1, to: all.count, by: 2).map { all[$0] })
    }

    /// `fullRanks` summarised as a result row (every rank of `parallel` returns it).
    public static func full(scorer: any RetrievalScorer, products: [(product: Int64, row: Int)], textField: TextField,
                            ties: RetrievalTies, labels: Labels, showProgress: Bool = true, parallel: DataParallel? = nil) throws
        -> RetrievalFullResult
    {
        let start = Date()
        let pairsBefore = scorer.pairsScored
        let ranks = try fullRanks(scorer: scorer, products: products, ties: ties, showProgress: showProgress, parallel: parallel)
        let pairs = try Sharding.total(scorer.pairsScored - pairsBefore, over: parallel)
        let seconds = Date().timeIntervalSince(start)
        var notes = [workNote(scorer, pairs: pairs, seconds: seconds)]
        if ties == .distinctText {
            let groups = Dictionary(grouping: products.map { TextHash.of(scorer.texts[$0.row]) }, by: { $0 }).values
            let shared = groups.filter { $0.count > 1 }.reduce(0) { $0 + $1.count }
            notes.append("\(shared) of \(products.count) products share their text with another product; such a candidate counts as correct")
        }
        return RetrievalFullResult(
            method: labels.method, dataset: labels.dataset, split: labels.split, checkpoint: labels.checkpoint,
            variant: RetrievalVariant(scorer: scorer.kind, textField: textField, ties: ties, draws: 1, k: scorer.k),
            products: products.count, pairs: pairs, embedded: scorer.embedded,
            tir: DirectionMetrics(ranks: ranks[.tir]!), itr: DirectionMetrics(ranks: ranks[.itr]!),
            wallSeconds: seconds, device: labels.device, notes: notes)
    }
}
