import ArgumentParser
import FashionEval
import FashionSearch
import FashionTrain
import Foundation
import Logging
import Torch

/// `fashionvl bench search`: the search service under open-loop load on loopback, over an index of --rows rows
/// (the catalog's embeddings repeated with noise), for ITC text search and ITC + ITM re-rank; with --hnsw also an
/// HNSW index's recall@k against exact search, its build time and query latency, and the same load through it.
struct BenchSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Loopback load test of the search service (open loop, constant rate); one JSON line with the machine.",
        discussion: """
        Opens --checkpoint and --catalog (or --demo: `serve --demo`'s files in --demo-dir, made if absent), repeats the \
        catalog's index to --rows rows (each copy moved by Gaussian noise and re-normalised), serves it on 127.0.0.1 \
        (any free port) in this process, and sends --rate text queries a second (the catalog's titles, in turn) for \
        --seconds per mode from --connections keep-alive connections. Latency runs from each request's due time. \
        Prints one JSON line (and writes --out): per run p50/p90/p99/max ms, throughput, statuses, errors; resident \
        memory and load average sampled every second; the machine (cores, CPU model).
        """)

    @Option(help: "A dual-encoder run folder.") var checkpoint: String?
    @Option(help: "The catalog (.h5).") var catalog: String?
    @Flag(help: "Use (or make) `serve --demo`'s checkpoint and catalog in --demo-dir.") var demo = false
    @Option(help: "Where --demo keeps its files.") var demoDir = "demo-out/search"
    @Option(help: "Text field the index embeds.") var textField: TextField = .title
    @Option(help: "Rows of the load-test index (rounded up to whole copies of the catalog).") var rows = 100_000
    @Option(help: "Noise added to each copy's embeddings (std per coordinate, before re-normalising).") var noise = 0.02
    @Option(help: "Requests a second.") var rate = 200.0
    @Option(help: "Seconds of load per run.") var seconds = 60.0
    @Option(help: "Keep-alive connections of the client (the most requests in flight).") var connections = 64
    @Option(help: "Results per query.") var k = 10
    @Option(help: "ITC hits re-ranked by ITM in the rerank mode.") var rerankK = 20
    @Option(help: "Modes to run: itc, rerank (comma-separated).") var modes = "itc,rerank"
    @Flag(help: "Also build an HNSW index (image space), measure its recall@k against exact and run the modes through it.")
    var hnsw = false
    @Option(help: "HNSW links per node.") var hnswM = 16
    @Option(help: "HNSW candidate list while building.") var efConstruction = 100
    @Option(help: "HNSW candidate list of a query.") var efSearch = 64
    @Option(help: "Queries of the recall measurement (the catalog's text embeddings).") var recallQueries = 500
    @Option(help: "Requests queued for the model before 503.") var queueLimit = 256
    @Option(help: "libtorch threads.") var threads = 2
    @Option(help: "Also write the JSON line to this file (temp file + rename).") var out: String?

    func validate() throws {
        guard demo || (checkpoint != nil && catalog != nil) else { throw ValidationError("give --checkpoint and --catalog, or --demo") }
        guard rows > 0, rate > 0, seconds > 0, connections > 0, k > 0, rerankK > 0, threads > 0, queueLimit > 0, recallQueries > 0 else {
            throw ValidationError("--rows, --rate, --seconds, --connections, --k, --rerank-k, --threads, --queue-limit, --recall-queries must be positive")
        }
        guard !runModes.isEmpty, runModes.allSatisfy({ $0 == "itc" || $0 == "rerank" }) else {
            throw ValidationError("--modes is a comma-separated list of itc and rerank, got \(modes)")
        }
    }

    var runModes: [String] { modes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    func run() throws {
        Torch.setNumThreads(threads)
        let (run, catalogPath): (String, String)
        if demo {
            var serve = try Serve.parse(["--demo", "--demo-dir", demoDir, "--threads", "\(threads)"])
            serve.textField = textField
            (run, catalogPath) = try serve.demoFiles()
        } else {
            (run, catalogPath) = (checkpoint ?? "", catalog ?? "")
        }
        let model = try EvalCheckpoint.open(run).dualEncoder(checkpoint: run, for: "bench search")
        let served = try Catalog(path: catalogPath)
        let base = try IndexFile.openOrBuild(IndexFile.defaultPath(catalog: catalogPath, textField: textField), model: model,
                                             checkpoint: run, catalog: served, textField: textField)
        let times = (rows + base.count - 1) / base.count
        var exact: ExactIndex!
        let replicateMs = try SearchBenchSupport.milliseconds { exact = try base.replicated(times: times, noise: noise, seed: 0) }
        log("index: \(exact.count) rows (\(base.count) catalog rows × \(times)), E=\(exact.dimension), made in \(Int(replicateMs)) ms")

        var result: [String: Any] = [
            "bench": "search-load", "machine": SearchBenchSupport.machine(), "torch": Torch.version, "threads": threads,
            "checkpoint": run, "catalog": catalogPath, "catalog_rows": base.count, "rows": exact.count, "dim": exact.dimension,
            "noise": noise, "rate": rate, "seconds": seconds, "connections": connections, "k": k, "rerank_k": rerankK,
            "queue_limit": queueLimit, "load_avg_before": SearchBenchSupport.loadAverage(),
        ]
        var indexes: [(String, any SearchIndex)] = [("exact", exact)]
        if hnsw {
            let parameters = HNSWParameters(m: hnswM, efConstruction: efConstruction, efSearch: efSearch, seed: 1)
            log("hnsw: building over \(exact.count) image rows (M \(hnswM), efConstruction \(efConstruction))…")
            let approx = try HNSWIndex(exact: exact, spaces: [.image], parameters: parameters)
            let queries = try base.texts.narrow(dim: 0, start: 0, length: min(recallQueries, base.count))
            let r = try SearchBenchSupport.recall(exact: exact, approx: approx, queries: queries, in: .image, k: k)
            let q = SearchBenchSupport.quantile
            result["hnsw"] = [
                "m": hnswM, "ef_construction": efConstruction, "ef_search": efSearch, "build_s": round3(approx.buildSeconds[.image] ?? 0),
                "recall_at_k": round3(r.recall), "recall_queries": queries.shape[0], "space": "image (text queries)",
                "exact_query_ms": ["p50": round3(q(r.exactMs, 0.5)), "p99": round3(q(r.exactMs, 0.99))],
                "hnsw_query_ms": ["p50": round3(q(r.approxMs, 0.5)), "p99": round3(q(r.approxMs, 0.99))],
            ]
            log("hnsw: built in \(round3(approx.buildSeconds[.image] ?? 0)) s, recall@\(k) \(round3(r.recall)) over \(queries.shape[0]) text queries")
            indexes.append(("hnsw", approx))
        }
        let titles = (0..<base.count).map { served.titles[$0] }
        var runs: [[String: Any]] = []
        for (name, index) in indexes {
            let engine = try SearchEngine(checkpoint: model, catalog: served, index: index)
            for mode in runModes {
                let rerank = mode == "rerank"
                let (k, rerankK) = (self.k, self.rerankK)
                log("load: \(name) \(mode), \(rate) req/s for \(seconds) s…")
                var entry = try withServer(engine) { port in
                    let sampler = ResourceSampler()
                    let load = LoadTest.run(port: port, rate: rate, seconds: seconds, connections: connections) { i in
                        let body: [String: Any] = ["query": titles[i % titles.count], "k": k, "rerank": rerank, "rerank_k": rerankK]
                        return LoadRequest("POST", "/search/text", headers: ["Content-Type": "application/json"],
                                           body: (try? JSONSerialization.data(withJSONObject: body)) ?? Data())
                    }
                    var e = summary(load)
                    for (key, value) in sampler.stop() { e[key] = value }
                    return e
                }
                entry["index"] = name
                entry["mode"] = rerank ? "itc+itm rerank top \(rerankK)" : "itc"
                log("load: \(name) \(mode): p50 \(entry["p50_ms"] ?? "") ms, p99 \(entry["p99_ms"] ?? "") ms, errors \(entry["errors"] ?? "")")
                runs.append(entry)
            }
        }
        result["runs"] = runs
        result["load_avg_after"] = SearchBenchSupport.loadAverage()
        result["note"] = "client and server share this machine's cores (one process, loopback); load_avg counts other users"
        try BenchSupport.emit(result, to: out)
    }

    private func summary(_ load: LoadResult) -> [String: Any] {
        let q = load.percentile
        let mean = load.latenciesMs.reduce(0, +) / Double(max(1, load.latenciesMs.count))
        return ["sent": load.sent, "answered": load.latenciesMs.count, "errors": load.errors,
                "statuses": Dictionary(uniqueKeysWithValues: load.statuses.map { ("\($0.key)", $0.value) }),
                "failures": load.failures, "duration_s": round3(load.seconds),
                "throughput_rps": round3(Double(load.statuses[200] ?? 0) / load.seconds),
                "p50_ms": round3(q(0.5)), "p90_ms": round3(q(0.9)), "p99_ms": round3(q(0.99)), "max_ms": round3(q(1)),
                "mean_ms": round3(mean)]
    }

    /// Runs the service on a free loopback port in this process while `body` runs (on this thread), then stops it.
    private func withServer<T>(_ engine: SearchEngine, _ body: (Int) throws -> T) throws -> T {
        let ready = DispatchSemaphore(value: 0), stopped = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var port = 0
        var logger = Logger(label: "fashionvl.bench")
        logger.logLevel = .warning
        let app = buildApplication(engine: engine, host: "127.0.0.1", port: 0,
                                   limits: SearchLimits(queueLimit: queueLimit, queueTimeout: .seconds(30)), logger: logger) { channel in
            port = channel.localAddress?.port ?? 0
            ready.signal()
        }
        let task = Task {
            try? await app.run()
            stopped.signal()
        }
        guard ready.wait(timeout: .now() + 60) == .success, port > 0 else {
            task.cancel()
            throw BenchError.output("the search service did not start on loopback")
        }
        defer {
            task.cancel()
            _ = stopped.wait(timeout: .now() + 30)
        }
        return try body(port)
    }

    private func log(_ s: String) { FileHandle.standardError.write(Data("bench search: \(s)\n".utf8)) }
}
