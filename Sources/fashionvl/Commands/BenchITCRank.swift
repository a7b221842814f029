import ArgumentParser
import Foundation
import Torch

/// `fashionvl bench itc-rank`: the full-gallery ITC ranking cost: n text queries against n images, E-dim
/// L2-normalised random embeddings, top-k per query by one (c, E) × (E, n) matrix product and a topk per chunk of
/// c queries; one JSON line with the total wall time.
struct BenchITCRank: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "itc-rank",
        abstract: "Times top-k ITC ranking of n × n random unit embeddings in query chunks; one JSON line.")

    @Option(help: "Queries and gallery items.") var n = 100_000
    @Option(help: "Embedding dimension E.") var dim = 128
    @Option(help: "Results kept per query.") var k = 10
    @Option(help: "Queries per matrix product (the score block is chunk × n floats).") var chunk = 1024
    @Option(help: "libtorch threads.") var threads = 2
    @Option(help: "Seed of the embeddings.") var seed = 0
    @Option(help: "Also write the JSON line to this file (temp file + rename).") var out: String?

    func validate() throws {
        guard n > 0, dim > 0, k > 0, k <= n, chunk > 0, threads > 0 else {
            throw ValidationError("n, dim, k, chunk and threads must be positive, k ≤ n")
        }
    }

    func run() throws {
        Torch.setNumThreads(threads)
        let g = try Generator(seed: UInt64(seed))
        func unitRows() throws -> Tensor {
            let x = try Tensor.randn([n, dim], generator: g)
            return try x / x.norm(p: 2, dims: [-1], keepdim: true).clamp(min: 1e-12)
        }
        let (queries, gallery) = (try unitRows(), try unitRows())
        var top: [Tensor] = [], matmulMs = 0.0, topkMs = 0.0
        let total = try Torch.noGrad {
            try BenchSupport.milliseconds {
                let galleryT = try gallery.transpose(0, 1).contiguous()       // (E, n)
                for start in stride(from: 0, to: n, by: chunk) {
                    let q = try queries.narrow(dim: 0, start: start, length: min(chunk, n - start))
                    var scores: Tensor!
                    matmulMs += try BenchSupport.milliseconds { scores = try q.matmul(galleryT) }
                    topkMs += try BenchSupport.milliseconds { top.append(try scores.topk(k, dim: 1).1) }
                }
            }
        }
        let indices = try Tensor.cat(top)                                   // (n, k)
        // With unit rows, query i's best match is itself when the gallery is the queries: not the case here, so
        // the check is only shape and range.
        guard indices.shape == [n, k], try indices.min().itemInt() >= 0, try indices.max().itemInt() < n else {
            throw TorchError.invalidArgument("itc-rank produced indices of shape \(indices.shape)")
        }
        let flop = 2.0 * Double(n) * Double(n) * Double(dim)
        try BenchSupport.emit([
            "n": n, "dim": dim, "k": k, "chunk": chunk, "threads": threads, "torch": Torch.version,
            "seconds": round3(total / 1000), "matmul_s": round3(matmulMs / 1000), "topk_s": round3(topkMs / 1000),
            "matmul_gflops": round3(flop / (matmulMs / 1000) / 1e9),
            "load_avg_1m": BenchSupport.loadAverage() as Any,
        ], to: out)
    }
}
