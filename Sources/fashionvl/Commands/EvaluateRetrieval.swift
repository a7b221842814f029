import ArgumentParser
import FashionData
import FashionEval
import FashionTrain
import Foundation
import Torch

/// `fashionvl evaluate retrieval`: text→image and image→text retrieval, scored by a cross-encoder (ITM), by
/// dual-encoder embeddings (ITC), or by ITC with the top k re-ranked by ITM.
struct EvaluateRetrieval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieval",
        abstract: "TIR/ITR retrieval: sample-100 (the papers' protocol) or full ranking, by ITM, ITC or ITC+ITM.",
        discussion: """
        s100: per query 1 positive + 100 negatives from other products of the same subcategory (filled from the \
        category, then at random, when fewer exist), R@1/5/10 and SumR over --draws seeded draws; the candidate \
        lists are saved (RUN/eval/s100_draws.json) and can be reused with --lists. full: every product's query \
        against one item of every product, R@K and median rank (ITM: n² pairs per direction; ITC: one matrix \
        product). Scorers: itm (a cross-encoder on every pair; MVLT's only scorer, its default), itc (cosine of \
        dual-encoder embeddings; a dual encoder's default), itc+itm (ALBEF: ITC top --k re-ranked by ITM). \
        --ties distinct-text (the default for itc and itc+itm) never draws a negative whose text equals the \
        positive's, and in full counts a candidate with the positive's text as correct; keep (the default for itm) \
        treats such products as negatives. Every result prints its variant {scorer, text_field, ties, draws, k}. \
        Data-parallel as pretrain (--nproc N, or --rank/--world-size/--master or torchrun's environment): the \
        embeddings and the cross-encoder's queries are split across the ranks and gathered; rank 0 writes the \
        results, the same as one process (docs/DISTRIBUTED.md).
        """)

    @Option(help: "A run folder (MVLT or a registered dual-encoder family) or a weights file (original MVLT names).")
    var checkpoint: String
    @OptionGroup var data: EvaluationDataOptions
    @Option(name: .customLong("protocol"), help: "s100 or full.") var protocolName: ProtocolOption = .s100
    @Option(help: "itm, itc or itc+itm (default: itm for MVLT and Kaleido-BERT, itc for a dual encoder).") var scorer: RetrievalScorerKind?
    @Option(help: "ITC candidates re-ranked by ITM (itc+itm).") var k = 16
    @Option(help: "keep or distinct-text (default: keep for itm, distinct-text for itc and itc+itm; with --lists, the lists' rule).")
    var ties: RetrievalTies?
    @Option(help: "Queries per draw and direction (s100), or products (full); fewer when the file has fewer products.")
    var queries = 1000
    @Option(help: "Independent draws (s100); mean ± std is reported.") var draws = 5
    @Option(help: "Seed of the first draw.") var seed: UInt64 = 0
    @Option(help: "Text of a product: title, description or concat.") var textField: TextField = .title
    @Option(help: "Reuse saved candidate lists (an s100_draws.json) instead of drawing.") var lists: String?
    @Option(help: "Where eval/retrieval.json goes (default: the checkpoint's run folder).") var out: String?
    @Option(help: "Row label in the report's table (default: FashionVL MVLT, or FashionVL <family>).") var method: String?
    @Option(help: "Example queries per direction saved for the report.") var examples = 3
    @Option(help: "Images or texts per embedding pass (itc, itc+itm).") var batch = 64
    @Option(help: "Image size when --checkpoint is a weights file.") var imageSize: Int?
    @Option(help: "cpu, cuda or cuda:N.") var device = "cpu"
    @Option(help: "libtorch threads.") var threads = 2
    @OptionGroup(title: "Distributed") var dist: DistributedOptions

    enum ProtocolOption: String, ExpressibleByArgument { case s100, full }

    func validate() throws {
        guard queries > 0, draws > 0, threads > 0, examples >= 0, batch > 0, k > 0 else {
            throw ValidationError("--queries, --draws, --threads, --batch and --k must be positive")
        }
    }

    func run() throws {
        Torch.setNumThreads(threads)
        let (parallel, dev) = try dist.join(device: device)
        let opened = try EvalCheckpoint.open(checkpoint, imageSize: imageSize, device: dev)
        let data = try self.data.open(run: opened.runFolder)
        guard let run = out ?? opened.runFolder else {
            throw EvalError.invalidArgument("--out is needed when --checkpoint is a weights file")
        }
        let kind: RetrievalScorerKind
        switch opened {
        case .mvlt, .rowCrossEncoder: kind = scorer ?? .itm
        case .dualEncoder: kind = scorer ?? .itc
        }
        let retrievalScorer = try makeScorer(kind, opened: opened, file: data.file, device: dev, parallel: parallel)
        let main = parallel?.isMain ?? true
        if main { try FileManager.default.createDirectory(atPath: run + "/" + EvalFiles.folder, withIntermediateDirectories: true) }
        let labels = RetrievalEvaluation.Labels(
            method: method ?? (opened.family == "mvlt" ? "FashionVL MVLT" : "FashionVL \(opened.family)"),
            dataset: URL(fileURLWithPath: data.path).lastPathComponent, split: data.split, checkpoint: checkpoint,
            device: dev.description)
        switch protocolName {
        case .s100: try runS100(scorer: retrievalScorer, data: data, run: run, labels: labels, parallel: parallel)
        case .full: try runFull(scorer: retrievalScorer, data: data, run: run, labels: labels, parallel: parallel)
        }
        // Rank 0 hosts the rendezvous store: the others finish their last collective before it exits.
        try parallel?.barrier()
    }

    /// The scorer `kind` on the opened model; one error line naming the checkpoint when it lacks the heads. An ITC
    /// scorer splits its embeddings across the ranks of `parallel`.
    private func makeScorer(_ kind: RetrievalScorerKind, opened: EvalCheckpoint, file: FashionGenFile, device: Device,
                            parallel: DataParallel?) throws -> any RetrievalScorer
    {
        switch (kind, opened) {
        case let (.itm, .mvlt(em)):
            return try ITMScorer(model: em.model, file: file, textField: textField, device: device)
        case (.itc, .mvlt), (.itcItm, .mvlt):
            throw EvalCheckpoint.noITCHeads(checkpoint, purpose: "score retrieval by --scorer \(kind.rawValue)")
        case let (.itm, .dualEncoder(d)):
            return try ITMScorer(dualEncoder: d.model, file: file, textField: textField, device: device, checkpoint: checkpoint)
        case let (.itc, .dualEncoder(d)):
            let itc = try ITCScorer(model: d.model, file: file, textField: textField, device: device, batch: batch)
            itc.dataParallel = parallel
            return itc
        case let (.itcItm, .dualEncoder(d)):
            let itc = try ITCScorer(model: d.model, file: file, textField: textField, device: device, batch: batch)
            itc.dataParallel = parallel
            let itm = try ITMScorer(dualEncoder: d.model, batcher: itc.batcher, file: file, textField: textField, device: device,
                                    checkpoint: checkpoint)
            return try ITCITMScorer(itc: itc, itm: itm, k: k)
        case let (.itm, .rowCrossEncoder(r)):
            let model = try r.open(file)
            let batcher = try PairBatcher(file: file, imageSize: 8, textLength: model.textLength)
            return try ITMScorer(batcher: batcher, textField: textField, device: device, rowMatch: { rows, ids in
                try model.matchProbabilities(imageRows: rows, ids: ids)
            })
        case (.itc, .rowCrossEncoder), (.itcItm, .rowCrossEncoder):
            throw EvalError.invalidArgument("\(checkpoint): a \(opened.family) checkpoint has no ITC heads (no image or text embeddings), so it cannot score retrieval by --scorer \(kind.rawValue); use --scorer itm")
        }
    }

    /// Every rank draws (or loads) the same candidate lists and scores its share; rank 0 writes and prints.
    private func runS100(scorer: any RetrievalScorer, data: EvaluationData, run: String, labels: RetrievalEvaluation.Labels,
                         parallel: DataParallel?) throws {
        let set: S100DrawSet
        if let lists {
            set = try S100DrawSet.load(from: lists)
            if let ties, ties != set.tieRule {
                throw EvalError.invalidArgument("\(lists): drawn with ties \(set.tieRule.rawValue), not \(ties.rawValue) (draw anew without --lists)")
            }
            if set.tieRule == .distinctText, let field = set.textField, field != textField.rawValue {
                throw EvalError.invalidArgument("\(lists): its negatives exclude products sharing the positive's \(field), not its \(textField.rawValue) (use --text-field \(field) or draw anew)")
            }
        } else {
            let rule = ties ?? .default(for: scorer.kind)
            set = try S100Sampler(file: data.file, rows: data.rows, textField: rule == .distinctText ? textField : nil)
                .drawSet(seed: seed, draws: draws, queries: queries, negatives: 100, source: data.path, ties: rule, textField: textField)
        }
        let main = parallel?.isMain ?? true
        let probePairs = try announce(set, scorer: scorer, prints: main)
        let (result, exampleList) = try RetrievalEvaluation.s100(scorer: scorer, set: set, textField: textField, labels: labels,
                                                                 examples: examples, examplesRun: run, showProgress: main,
                                                                 parallel: parallel)
        let pairs = try parallel.map { try Int($0.sum(Double(scorer.pairsScored - probePairs)).rounded()) }
            ?? scorer.pairsScored - probePairs
        guard main else { return }
        // The candidate lists are saved with the results they produced, not before scoring: a run killed while
        // scoring leaves the previous lists and results as they were, never new lists beside old results.
        try set.save(to: run + "/" + EvalFiles.s100Draws)
        var fileRows = (try? EvalJSON.read(RetrievalEvalFile.self, from: run + "/" + EvalFiles.retrieval))?.rows ?? []
        fileRows.removeAll { $0.method == result.method && $0.scorer == result.scorer }
        fileRows.append(result)
        try EvalFiles.write(RetrievalEvalFile(rows: fileRows), run: run, file: EvalFiles.retrieval)
        if result.method == "FashionVL MVLT" || !FileManager.default.fileExists(atPath: run + "/" + EvalFiles.examples) {
            try EvalFiles.write(RetrievalExamplesFile(examples: exampleList), run: run, file: EvalFiles.examples)
        }
        func dir(_ d: DirectionSummary) -> [String: Any] {
            ["r1": d.r1.mean, "r5": d.r5.mean, "r10": d.r10.mean, "r1_std": d.r1.std]
        }
        let variant = result.variant!
        try printJSON(["protocol": "s100", "method": result.method, "variant": variant.jsonObject, "tir": dir(result.tir),
                       "itr": dir(result.itr), "sum_r": result.sumR.mean, "queries_per_draw": result.queriesPerDraw,
                       "draws": set.draws.count / 2, "fill_fraction": result.fillFraction, "pairs": pairs,
                       "embedded": scorer.embedded, "seconds": result.wallSeconds ?? 0, "file": run + "/" + EvalFiles.retrieval])
        FileHandle.standardError.write(Data("retrieval s100 (\(variant.summary)): SumR \(String(format: "%.2f", result.sumR.mean))\n".utf8))
    }

    /// Runs with more pairs than this get a time estimate before scoring (from one timed query).
    static let estimateAbove = 20_000

    /// Says what a sample-100 run costs before it starts: the pairs to score and, for a large run, the time it
    /// will take at the rate of one timed query (every rank times it: a dual encoder's embeddings are collective).
    /// Returns the pairs that timing scored.
    private func announce(_ set: S100DrawSet, scorer: any RetrievalScorer, prints: Bool) throws -> Int {
        let queries = set.draws.reduce(0) { $0 + $1.queries.count }
        let candidates = set.draws.reduce(0) { $0 + $1.queries.reduce(0) { $0 + $1.candidateProducts.count } }
        let reranked = set.draws.reduce(0) { $0 + $1.queries.reduce(0) { $0 + min(k, $1.candidateProducts.count) } }
        let pairs = scorer.kind == .itm ? candidates : scorer.kind == .itcItm ? reranked : 0
        var line = "retrieval s100: \(set.draws.count / 2) draws × 2 directions, \(queries) queries, "
            + (scorer.kind == .itc ? "\(candidates) candidates ranked by embedding similarity" : "\(pairs) image-text pairs to score")
        var probePairs = 0
        if pairs > Self.estimateAbove, var probe = set.draws.first, let query = probe.queries.first {
            probe.queries = [query]
            let before = scorer.pairsScored, start = Date()
            var ignored = 0
            _ = try scorer.scores(probe, progress: nil, done: &ignored)
            probePairs = scorer.pairsScored - before
            let rate = Double(probePairs) / max(Date().timeIntervalSince(start), 1e-6)
            line += "; about \(ProgressLine.format(Double(pairs) / rate)) at \(Int(rate.rounded())) pairs/s "
                + "(timed on one query; --draws and --queries make it smaller)"
        }
        if prints { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        return probePairs
    }

    private func runFull(scorer: any RetrievalScorer, data: EvaluationData, run: String, labels: RetrievalEvaluation.Labels,
                         parallel: DataParallel?) throws {
        let products = RetrievalEvaluation.fullProducts(productIDs: try data.file.productIDs, rows: data.rows, limit: queries)
        let n = products.count
        try data.require(n, atLeast: 2, "products", for: "full-catalog retrieval")
        let rule = ties ?? .default(for: scorer.kind)
        let work: String
        switch scorer.kind {
        case .itm: work = "\(2 * n * n) pairs to score"
        case .itc: work = "\(2 * n) images and texts to embed, two matrix products (\(n), E) × (E, \(n))"
        case .itcItm: work = "ITC as one matrix product, then \(2 * n * min(k, n)) pairs to re-rank"
        }
        let main = parallel?.isMain ?? true
        if main { FileHandle.standardError.write(Data("retrieval full: \(n) products, \(work)\n".utf8)) }
        let result = try RetrievalEvaluation.full(scorer: scorer, products: products, textField: textField, ties: rule, labels: labels,
                                                  showProgress: main, parallel: parallel)
        guard main else { return }
        let path = run + "/" + EvalFiles.retrievalFull
        var fileRows = (try? EvalJSON.read(RetrievalFullFile.self, from: path))?.rows ?? []
        fileRows.removeAll { $0.method == result.method && $0.variant.scorer == result.variant.scorer }
        fileRows.append(result)
        try EvalFiles.write(RetrievalFullFile(rows: fileRows), run: run, file: EvalFiles.retrievalFull)
        func dir(_ m: DirectionMetrics) -> [String: Double] {
            ["r1": m.r1, "r5": m.r5, "r10": m.r10, "median_rank": m.medianRank, "mean_rank": m.meanRank]
        }
        try printJSON(["protocol": "full", "method": result.method, "variant": result.variant.jsonObject, "products": n,
                       "pairs": result.pairs, "embedded": result.embedded, "split": data.split, "tir": dir(result.tir),
                       "itr": dir(result.itr), "seconds": result.wallSeconds ?? 0, "file": path])
        FileHandle.standardError.write(Data("retrieval full (\(result.variant.summary))\n".utf8))
    }
}

func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

extension TextField: ExpressibleByArgument {}
extension RetrievalScorerKind: ExpressibleByArgument {}
extension RetrievalTies: ExpressibleByArgument {}
