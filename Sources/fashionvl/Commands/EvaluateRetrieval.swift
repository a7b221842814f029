import ArgumentParser
import FashionData
import FashionEval
import FashionTrain
import Foundation
import Torch

/// `fashionvl evaluate retrieval`: text→image and image→text retrieval scored by the model's ITM head.
struct EvaluateRetrieval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieval",
        abstract: "TIR/ITR retrieval: sample-100 (the papers' protocol) or full ranking.",
        discussion: """
        s100: per query 1 positive + 100 negatives from other products of the same subcategory (filled from the \
        category, then at random, when fewer exist), R@1/5/10 and SumR over --draws seeded draws; the candidate \
        lists are saved (RUN/eval/s100_draws.json) and can be reused with --lists. full: every query against one \
        item of every product, R@K and median rank, n² pairs per direction.
        """)

    @Option(help: "A run folder or a weights file (original MVLT names).") var checkpoint: String
    @OptionGroup var data: EvaluationDataOptions
    @Option(name: .customLong("protocol"), help: "s100 or full.") var protocolName: ProtocolOption = .s100
    @Option(help: "Queries per draw and direction (s100; fewer when the file has fewer products).") var queries = 1000
    @Option(help: "Independent draws (s100); mean ± std is reported.") var draws = 5
    @Option(help: "Seed of the first draw.") var seed: UInt64 = 0
    @Option(help: "Text of a product: title, description or concat.") var textField: TextField = .title
    @Option(help: "Reuse saved candidate lists (an s100_draws.json) instead of drawing.") var lists: String?
    @Option(help: "Where eval/retrieval.json goes (default: the checkpoint's run folder).") var out: String?
    @Option(help: "Row label in the report's table.") var method = "FashionVL MVLT"
    @Option(help: "Example queries per direction saved for the report.") var examples = 3
    @Option(help: "Image size when --checkpoint is a weights file.") var imageSize: Int?
    @Option(help: "cpu, cuda or cuda:N.") var device = "cpu"
    @Option(help: "libtorch threads.") var threads = 2

    enum ProtocolOption: String, ExpressibleByArgument { case s100, full }

    func validate() throws {
        guard queries > 0, draws > 0, threads > 0, examples >= 0 else {
            throw ValidationError("--queries, --draws and --threads must be positive")
        }
    }

    func run() throws {
        Torch.setNumThreads(threads)
        let dev = try Device(parsing: device)
        let em = try EvalModel.open(checkpoint, imageSize: imageSize, device: dev)
        let data = try self.data.open(run: em.runFolder)
        guard let run = out ?? em.runFolder else {
            throw EvalError.invalidArgument("--out is needed when --checkpoint is a weights file")
        }
        try FileManager.default.createDirectory(atPath: run + "/" + EvalFiles.folder, withIntermediateDirectories: true)
        let scorer = try RetrievalScorer(model: em.model, file: data.file, textField: textField, device: dev)
        let start = Date()
        switch protocolName {
        case .s100: try runS100(scorer: scorer, data: data, run: run, start: start, device: dev)
        case .full: try runFull(scorer: scorer, data: data, run: run, start: start)
        }
    }

    private func runS100(scorer: RetrievalScorer, data: EvaluationData, run: String, start: Date, device: Device) throws {
        let set: S100DrawSet
        if let lists {
            set = try S100DrawSet.load(from: lists)
        } else {
            set = try S100Sampler(file: data.file, rows: data.rows)
                .drawSet(seed: seed, draws: draws, queries: queries, negatives: 100, source: data.path)
        }
        try set.save(to: run + "/" + EvalFiles.s100Draws)
        let total = set.draws.reduce(0) { $0 + $1.queries.count }
        let progress = ProgressLine(total: total, label: "retrieval s100")
        var done = 0
        var ranks: [QueryRanks] = []
        var exampleList: [RetrievalExample] = []
        for (i, draw) in set.draws.enumerated() {
            let scores = try scorer.score(draw, progress: progress, done: &done)
            let r = try Retrieval.ranks(scores: scores, positives: draw.queries.map(\.positiveIndex))
            ranks.append(r)
            if set.draws.firstIndex(where: { $0.direction == draw.direction }) == i {
                exampleList += try RetrievalExamples.make(draw: draw, scores: scores, ranks: r, scorer: scorer,
                                                          count: examples, run: run)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        var result = try RetrievalResult(method: method, dataset: URL(fileURLWithPath: data.path).lastPathComponent,
                                         split: data.split, checkpoint: checkpoint, textField: textField.rawValue,
                                         scorer: "itm", draws: set, ranks: ranks, wallSeconds: seconds,
                                         device: device.description)
        result.notes.append("\(scorer.pairsScored) image-text pairs scored in \(Int(seconds)) s")
        var fileRows = (try? EvalJSON.read(RetrievalEvalFile.self, from: run + "/" + EvalFiles.retrieval))?.rows ?? []
        fileRows.removeAll { $0.method == method }
        fileRows.append(result)
        try EvalFiles.write(RetrievalEvalFile(rows: fileRows), run: run, file: EvalFiles.retrieval)
        if method == "FashionVL MVLT" || !FileManager.default.fileExists(atPath: run + "/" + EvalFiles.examples) {
            try EvalFiles.write(RetrievalExamplesFile(examples: exampleList), run: run, file: EvalFiles.examples)
        }
        func dir(_ d: DirectionSummary) -> [String: Any] {
            ["r1": d.r1.mean, "r5": d.r5.mean, "r10": d.r10.mean, "r1_std": d.r1.std]
        }
        try printJSON(["protocol": "s100", "method": method, "tir": dir(result.tir), "itr": dir(result.itr),
                       "sum_r": result.sumR.mean, "queries_per_draw": result.queriesPerDraw, "draws": set.draws.count / 2,
                       "fill_fraction": result.fillFraction, "pairs": scorer.pairsScored, "seconds": seconds,
                       "file": run + "/" + EvalFiles.retrieval])
    }

    private func runFull(scorer: RetrievalScorer, data: EvaluationData, run: String, start: Date) throws {
        let ids = try data.file.productIDs
        var firstRow: [Int64: Int] = [:]
        for row in data.rows ?? Array(ids.indices) where firstRow[ids[row]] == nil { firstRow[ids[row]] = row }
        var products = firstRow.map { (product: $0.key, row: $0.value) }.sorted { $0.product < $1.product }
        if products.count > queries { products = Array(products.prefix(queries)) }
        let n = products.count
        FileHandle.standardError.write(Data("retrieval full: \(n) products, \(2 * n * n) pairs to score\n".utf8))
        let progress = ProgressLine(total: 2 * n, label: "retrieval full")
        var done = 0
        var out: [String: Any] = ["protocol": "full", "products": n, "pairs": 2 * n * n, "split": data.split]
        var summary: [String: [String: Double]] = [:]
        for direction in RetrievalDirection.allCases {
            let r = try scorer.fullRanks(direction: direction, products: products, progress: progress, done: &done)
            let m = DirectionMetrics(ranks: r)
            summary[direction.rawValue] = ["r1": m.r1, "r5": m.r5, "r10": m.r10, "median_rank": m.medianRank, "mean_rank": m.meanRank]
        }
        out["tir"] = summary["tir"]
        out["itr"] = summary["itr"]
        out["seconds"] = Date().timeIntervalSince(start)
        let json = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys, .prettyPrinted])
        try writeAtomically(json, to: run + "/eval/retrieval_full.json")
        try printJSON(out)
    }
}

func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

extension TextField: ExpressibleByArgument {}
