// The JSON files an evaluation writes into RUN/eval/ and the report reads. Image fields name PNG files in
// RUN/eval/ (written with `RGBImage.writePNG`); the report inlines them.
import Foundation

public enum EvalFiles {
    public static let folder = "eval"
    public static let retrieval = "eval/retrieval.json"
    /// Full-catalog retrieval rows (`RetrievalFullFile`).
    public static let retrievalFull = "eval/retrieval_full.json"
    public static let mcr = "eval/mcr.json"
    public static let scr = "eval/scr.json"
    public static let mig = "eval/mig.json"
    public static let examples = "eval/examples.json"
    /// The query/candidate lists the retrieval numbers were computed on.
    public static let s100Draws = "eval/s100_draws.json"
    public static let report = "report.html"

    /// Writes `value` as RUN/`file`, creating RUN/eval/ if needed.
    public static func write<T: Encodable>(_ value: T, run: String, file: String) throws {
        let path = (run as NSString).appendingPathComponent(file)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try EvalJSON.write(value, to: path)
    }
}

// MARK: RUN/eval/retrieval.json

/// Every retrieval row of a run (e.g. ITC, then ITM re-ranking).
public struct RetrievalEvalFile: Codable, Sendable {
    public var rows: [RetrievalResult]
    public init(rows: [RetrievalResult]) { self.rows = rows }
}

/// One method's sample-100 result (protocols.md §7). Recalls are percentages; `sumR` is Kaleido's SumR
/// (R@1 + R@5 + R@10 of both directions, max 600), mean ± std over draws.
public struct RetrievalResult: Codable, Sendable {
    public var method: String
    public var dataset: String
    public var split: String
    public var checkpoint: String?
    public var protocolName: String
    /// title, description or concat.
    public var textField: String
    /// itm or itc.
    public var scorer: String
    public var seeds: [UInt64]
    public var queriesPerDraw: Int
    public var negativesPerQuery: Int
    /// Mean over draws and directions of the share of negatives filled from outside the subcategory.
    public var fillFraction: Double
    public var tieRule: String
    /// {scorer, text_field, ties, draws, k}; nil in files written before it existed.
    public var variant: RetrievalVariant?
    public var tir: DirectionSummary
    public var itr: DirectionSummary
    public var sumR: MeanStd
    public var wallSeconds: Double?
    public var device: String?
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case method, dataset, split, checkpoint, protocolName = "protocol", textField, scorer, seeds, queriesPerDraw,
             negativesPerQuery, fillFraction, tieRule, variant, tir, itr, sumR, wallSeconds, device, notes
    }

    /// Summarises ranks computed on `draws`: `ranks[i]` belongs to `draws.draws[i]` (any order of directions).
    public init(method: String, dataset: String, split: String, checkpoint: String? = nil, textField: String,
                scorer: String, draws: S100DrawSet, ranks: [QueryRanks], wallSeconds: Double? = nil,
                device: String? = nil, variant: RetrievalVariant? = nil) throws {
        guard ranks.count == draws.draws.count else {
            throw EvalError.invalidArgument("RetrievalResult: \(ranks.count) rank lists for \(draws.draws.count) draws")
        }
        for (d, r) in zip(draws.draws, ranks) where d.queries.count != r.pessimistic.count {
            throw EvalError.invalidArgument("RetrievalResult: draw seed \(d.seed) \(d.direction.rawValue) has \(d.queries.count) queries but \(r.pessimistic.count) ranks")
        }
        func metrics(_ dir: RetrievalDirection) -> [(UInt64, DirectionMetrics)] {
            zip(draws.draws, ranks).filter { $0.0.direction == dir }.map { ($0.0.seed, DirectionMetrics(ranks: $0.1)) }
        }
        let t = metrics(.tir), i = metrics(.itr)
        let itrBySeed = Dictionary(i.map { ($0.0, $0.1.sum) }, uniquingKeysWith: { a, _ in a })
        self.method = method; self.dataset = dataset; self.split = split; self.checkpoint = checkpoint
        protocolName = draws.protocolName
        self.textField = textField; self.scorer = scorer
        seeds = Array(Set(draws.draws.map(\.seed))).sorted()
        queriesPerDraw = draws.draws.map(\.queries.count).max() ?? 0
        negativesPerQuery = draws.draws.map(\.negativesPerQuery).max() ?? 0
        fillFraction = draws.draws.isEmpty ? 0 : draws.draws.map(\.fillFraction).reduce(0, +) / Double(draws.draws.count)
        tieRule = "pessimistic"
        self.variant = variant
        tir = DirectionSummary(t.map(\.1)); itr = DirectionSummary(i.map(\.1))
        sumR = MeanStd(t.compactMap { s in itrBySeed[s.0].map { s.1.sum + $0 } })
        self.wallSeconds = wallSeconds; self.device = device
        var seen = Set<String>()
        // Per-draw fill notes are summarised by `fillFraction`; the rest (fewer queries or negatives) once each.
        notes = draws.draws.flatMap(\.notes).filter { !$0.contains("were filled from outside") && seen.insert($0).inserted }
    }
}

// MARK: RUN/eval/retrieval_full.json

/// Every full-catalog retrieval row of a run.
public struct RetrievalFullFile: Codable, Sendable {
    public var rows: [RetrievalFullResult]
    public init(rows: [RetrievalFullResult]) { self.rows = rows }
}

/// One method's full-catalog result (protocols.md §3): every product's text against one image of every product
/// (TIR) and one image per product against every product text (ITR); recalls in percent, pessimistic ties.
public struct RetrievalFullResult: Codable, Sendable {
    public var method: String
    public var dataset: String
    public var split: String
    public var checkpoint: String?
    public var protocolName: String = "full"
    public var variant: RetrievalVariant
    /// Gallery size n (= queries per direction).
    public var products: Int
    /// Cross-encoder pairs scored (both directions).
    public var pairs: Int
    /// Images and distinct texts embedded (ITC).
    public var embedded: Int
    public var tieRule: String = "pessimistic"
    public var tir: DirectionMetrics
    public var itr: DirectionMetrics
    public var wallSeconds: Double?
    public var device: String?
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case method, dataset, split, checkpoint, protocolName = "protocol", variant, products, pairs, embedded, tieRule,
             tir, itr, wallSeconds, device, notes
    }

    public init(method: String, dataset: String, split: String, checkpoint: String?, variant: RetrievalVariant, products: Int,
                pairs: Int, embedded: Int, tir: DirectionMetrics, itr: DirectionMetrics, wallSeconds: Double?, device: String?,
                notes: [String] = []) {
        self.method = method; self.dataset = dataset; self.split = split; self.checkpoint = checkpoint
        self.variant = variant; self.products = products; self.pairs = pairs; self.embedded = embedded
        self.tir = tir; self.itr = itr; self.wallSeconds = wallSeconds; self.device = device; self.notes = notes
    }
}

// MARK: RUN/eval/mcr.json, RUN/eval/scr.json

public struct CategoryResult: Codable, Sendable {
    /// "M-CR" (48 categories) or "S-CR" (subcategories).
    public var task: String
    public var method: String
    public var dataset: String
    public var split: String
    public var checkpoint: String?
    /// Name of each label index (include "unknown" when the truth can hold unseen classes).
    public var classNames: [String]
    public var metrics: ClassificationMetrics
    /// A PNG in RUN/eval/; when nil the report draws the heatmap from `metrics.confusion`.
    public var confusionImage: String?
    public var notes: [String]

    public init(task: String, method: String, dataset: String, split: String, checkpoint: String? = nil,
                classNames: [String], metrics: ClassificationMetrics, confusionImage: String? = nil, notes: [String] = []) {
        self.task = task; self.method = method; self.dataset = dataset; self.split = split
        self.checkpoint = checkpoint; self.classNames = classNames; self.metrics = metrics
        self.confusionImage = confusionImage; self.notes = notes
    }
}

// MARK: RUN/eval/mig.json

public struct MIGResult: Codable, Sendable {
    public struct Grid: Codable, Sendable {
        /// A PNG in RUN/eval/ (from `ImageGrid.render`): original | masked | reconstruction.
        public var image: String
        public var caption: String
        public init(image: String, caption: String) { self.image = image; self.caption = caption }
    }
    public var grids: [Grid]
    /// MVLT's "PSNR" on [0,1] data (inflated by 48 dB, mvlt.md §7), when computed.
    public var psnr: Double?
    public var notes: [String]
    public init(grids: [Grid], psnr: Double? = nil, notes: [String] = []) {
        self.grids = grids; self.psnr = psnr; self.notes = notes
    }
}

// MARK: RUN/eval/examples.json

public struct RetrievalExamplesFile: Codable, Sendable {
    public var examples: [RetrievalExample]
    public init(examples: [RetrievalExample]) { self.examples = examples }
}

/// One query and its top candidates in rank order.
public struct RetrievalExample: Codable, Sendable {
    public struct Candidate: Codable, Sendable {
        public var product: Int64
        public var score: Double
        public var correct: Bool
        /// ITR candidates: the product text.
        public var text: String?
        /// TIR candidates: a PNG in RUN/eval/.
        public var image: String?
        public init(product: Int64, score: Double, correct: Bool, text: String? = nil, image: String? = nil) {
            self.product = product; self.score = score; self.correct = correct; self.text = text; self.image = image
        }
    }
    public var direction: RetrievalDirection
    public var queryProduct: Int64
    /// TIR: the query text.
    public var queryText: String?
    /// ITR: a PNG in RUN/eval/.
    public var queryImage: String?
    /// Pessimistic rank of the positive among all candidates.
    public var positiveRank: Int
    public var top: [Candidate]

    public init(direction: RetrievalDirection, queryProduct: Int64, queryText: String? = nil, queryImage: String? = nil,
                positiveRank: Int, top: [Candidate]) {
        self.direction = direction; self.queryProduct = queryProduct; self.queryText = queryText
        self.queryImage = queryImage; self.positiveRank = positiveRank; self.top = top
    }
}
