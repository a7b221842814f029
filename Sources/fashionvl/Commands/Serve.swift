import ArgumentParser
import FashionEval
import FashionSearch
import Foundation
import Logging
import Torch

/// `fashionvl serve`: the search service over a catalog and a dual-encoder checkpoint. All of the service is in
/// FashionSearch; this opens the engine and runs `buildApplication` until SIGTERM or SIGINT.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "HTTP search service and web page: text→image and image→image over a catalog (ITC, ITM re-rank).",
        discussion: """
        Serves --catalog (a Fashion-Gen .h5 file) with --checkpoint (a dual-encoder run folder, e.g. SyncMask). The \
        index is a `fashionvl embed` file of every catalog row (--index; default beside the catalog), built on first \
        run and checked on every later one against the checkpoint's weights and the catalog's product ids: a \
        mismatch is an error. Open http://HOST:PORT/ for the page; /openapi.json describes the API.
        """)

    @Option(help: "A dual-encoder run folder (e.g. SyncMask).") var checkpoint: String?
    @Option(help: "The catalog: a Fashion-Gen .h5 file.") var catalog: String?
    @Flag(help: "Serve the synthetic catalog with a small SyncMask trained on it, made in --demo-dir on first run.")
    var demo = false
    @Option(help: "Where --demo keeps its catalog, checkpoint and index.") var demoDir = "demo-out/search"
    @Option(help: "SyncMask pretraining steps of --demo's first run.") var demoSteps = 300
    @Option(help: "The index file (default: beside the catalog).") var index: String?
    @Option(help: "Text of a row the index embeds: title, description or concat (SyncMask reads titles unless its run chose otherwise).")
    var textField: TextField = .title
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Largest image upload, bytes.") var maxUploadBytes = 4 << 20
    @Option(help: "Requests running or queued for the model before 503.") var queueLimit = 32
    @Option(help: "libtorch threads.") var threads = 2
    @Option(help: "Seconds a request may wait for the model before 503.") var queueTimeout = 10.0
    @Option(help: "Seconds to receive a request body before 408.") var bodyTimeout = 10.0
    @Option(help: "Seconds a connection may send nothing before it is closed.") var idleTimeout = 30.0
    @Option(help: "Index rows above which search uses an HNSW graph (approximate) instead of exact search.")
    var approximateAbove = 200_000
    @Option(help: "HNSW candidate list of a query (with --approximate-above).") var efSearch = 64

    func validate() throws {
        guard demo || (checkpoint != nil && catalog != nil) else { throw ValidationError("give --checkpoint and --catalog, or --demo") }
        guard !demo || (checkpoint == nil && catalog == nil) else { throw ValidationError("--demo makes its own checkpoint and catalog") }
        guard demoSteps > 0 else { throw ValidationError("--demo-steps must be positive") }
        guard (1...65535).contains(port) else { throw ValidationError("--port must be in 1...65535") }
        guard maxUploadBytes > 0, queueLimit > 0, threads > 0, efSearch > 0 else {
            throw ValidationError("--max-upload-bytes, --queue-limit, --threads and --ef-search must be positive")
        }
        guard queueTimeout > 0, bodyTimeout > 0, idleTimeout > 0 else {
            throw ValidationError("--queue-timeout, --body-timeout and --idle-timeout must be positive seconds")
        }
    }

    func run() throws {
        Torch.setNumThreads(threads)
        let (checkpoint, catalog) = demo ? try demoFiles() : (self.checkpoint ?? "", self.catalog ?? "")
        let model = try EvalCheckpoint.open(checkpoint).dualEncoder(checkpoint: checkpoint, for: "serve search")
        let served = try Catalog(path: catalog)
        let indexPath = index ?? IndexFile.defaultPath(catalog: catalog, textField: textField)
        let opened = try IndexFile.openOrBuild(indexPath, model: model, checkpoint: checkpoint, catalog: served, textField: textField)
        var logger = Logger(label: "fashionvl.search")
        logger.logLevel = .info
        var index: any SearchIndex = opened
        if opened.count > approximateAbove {
            logger.info("building HNSW graphs over \(opened.count) rows (above --approximate-above \(approximateAbove))")
            index = try HNSWIndex(exact: opened, parameters: HNSWParameters(efSearch: efSearch))
        }
        let engine = try SearchEngine(checkpoint: model, catalog: served, index: index)
        logger.info("serving \(served.rowsOfProduct.count) products (\(opened.count) rows) of \(catalog) on http://\(host):\(port)/")
        let app = buildApplication(engine: engine, host: host, port: port,
                                   limits: SearchLimits(maxUploadBytes: maxUploadBytes, queueLimit: queueLimit,
                                                        queueTimeout: .seconds(queueTimeout), bodyTimeout: .seconds(bodyTimeout),
                                                        idleTimeout: .seconds(idleTimeout)),
                                   logger: logger,
                                   logRequests: .info)
        try blocking { try await app.runService() }
    }
}

extension Serve {
    /// --demo: `synth` and a short in-batch-ITC `pretrain` of syncmask-demo (the recipe of scripts/demo), each
    /// once, by this same binary; later runs reuse them (and the index). Returns the run folder and catalog.
    func demoFiles() throws -> (String, String) {
        let data = demoDir + "/data", run = demoDir + "/run-syncmask"
        if !FileManager.default.fileExists(atPath: data + "/train.h5") {
            try selfRun(["synth", "--out", data, "--products", "600", "--image-size", "128", "--seed", "0"])
        }
        if !FileManager.default.fileExists(atPath: run + "/last.json") {
            try selfRun(["pretrain", "--config", "syncmask-demo", "--data", data, "--out", run, "--steps", "\(demoSteps)",
                         "--batch", "32", "--lr", "1e-3", "--itc", "in-batch", "--sampler", "random",
                         "--itm-random-steps", "\(demoSteps)", "--threads", "\(threads)", "--checkpoint-every", "\(demoSteps)"])
        }
        return (run, data + "/train.h5")
    }

    private func selfRun(_ args: [String]) throws {
        FileHandle.standardError.write(Data("serve --demo: fashionvl \(args.joined(separator: " "))\n".utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = args
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw EvalError.invalidArgument("serve --demo: `fashionvl \(args[0])` failed (exit \(process.terminationStatus)); see above")
        }
    }
}

/// Runs async `work` from the synchronous command line and waits for it.
func blocking(_ work: @escaping @Sendable () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var failure: Error?
    Task {
        do { try await work() } catch { failure = error }
        done.signal()
    }
    done.wait()
    if let failure { throw failure }
}
