import ArgumentParser
import Dispatch
import FashionModels
import FashionTrain
import Foundation
import Torch

/// `fashionvl bench allreduce`: the gradient all-reduce of one data-parallel step (what the trainer calls after
/// backward: `DataParallel.averageGradients`) for a model's real parameter list, per bucket size. Run with
/// `--nproc N` (local ranks over loopback) or as one rank of a multi-host run; rank 0 prints one JSON line.
struct BenchAllReduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Times the gradient all-reduce of a data-parallel step per bucket size (rank 0 prints one JSON line).")

    @Option(help: "MVLT, SyncMask or Kaleido-BERT registry name or JSON file whose parameters are reduced.") var config = "mvlt-tiny"
    @Option(help: "Bucket sizes to sweep, MiB, comma-separated.") var buckets = "1,4,16,64,256"
    @Option(help: "Timed all-reduces per bucket size.") var steps = 5
    @Option(help: "Untimed all-reduces per bucket size.") var warmup = 1
    @Option(help: "libtorch threads.") var threads = 1
    @Option(help: "cpu, cuda or cuda:N (cuda: --backend nccl).") var device = "cpu"
    @Option(help: "Also write the JSON line to this file (temp file + rename).") var out: String?
    @OptionGroup(title: "Distributed") var dist: DistributedOptions

    func validate() throws {
        guard steps > 0, warmup >= 0, threads > 0 else { throw ValidationError("steps and threads must be positive, warmup ≥ 0") }
        guard !bucketSizes.isEmpty, bucketSizes.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--buckets must be positive numbers of MiB, comma-separated, got '\(buckets)'")
        }
    }

    var bucketSizes: [Double] { buckets.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }

    func run() throws {
        try dist.launchIfRequested()
        Torch.setNumThreads(threads)
        guard let setup = try dist.setup(device: device) else {
            throw ValidationError("bench allreduce needs ranks: --nproc N, or --rank/--world-size/--master")
        }
        let dev = try Device(parsing: DistributedOptions.device(device, setup: setup))
        let (data, source) = try ModelRegistry.source(nameOrPath: config)
        let model: Module
        switch try ModelRegistry.family(of: data, source: source) {
        case .mvlt: model = try MVLT(MVLTConfig.load(nameOrPath: config))
        case .syncmask: model = try SyncMask(SyncMaskConfig.load(nameOrPath: config))
        case .kaleido: model = try KaleidoBERT(KaleidoConfig.load(nameOrPath: config))
        }
        try model.to(dev)
        let params = model.parameters().filter(\.requiresGrad)
        for p in params { try p.setGrad(Tensor.randn(p.shape, device: dev)) }
        let count = params.reduce(0) { $0 + $1.numel }
        let group = try ProcessGroup(rank: setup.rank, worldSize: setup.worldSize, host: setup.host, port: setup.port,
                                     backend: setup.backend, timeout: setup.timeout)
        var results: [[String: Any]] = []
        for mb in bucketSizes {
            let dp = DataParallel(group: group, bucketBytes: Int(mb * 1_048_576))
            for _ in 0..<warmup { try dp.averageGradients(params) }
            var ms: [Double] = []
            for _ in 0..<steps {
                try group.barrier()
                if case .cuda(let i) = dev { try CUDA.synchronize(i) }
                let t = DispatchTime.now().uptimeNanoseconds
                try dp.averageGradients(params)
                if case .cuda(let i) = dev { try CUDA.synchronize(i) }
                ms.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
            }
            let median = ms.sorted()[ms.count / 2]
            let bytes = Double(count * 4), n = Double(setup.worldSize)
            results.append(["bucket_mib": mb, "median_ms": round3(median), "steps_ms": ms.map(round3),
                            "buckets": Int((bytes / (mb * 1_048_576)).rounded(.up)),
                            // algorithm bandwidth (gradient bytes / time) and bus bandwidth (what a ring moves per link)
                            "algbw_gbit_s": round3(bytes * 8 / (median / 1000) / 1e9),
                            "busbw_gbit_s": round3(2 * (n - 1) / n * bytes * 8 / (median / 1000) / 1e9)])
        }
        try group.barrier()
        guard setup.rank == 0 else { return }
        var object: [String: Any] = ["bench": "allreduce", "config": config, "parameters": count, "gradient_bytes": count * 4,
                                     "world_size": setup.worldSize, "backend": setup.backend.rawValue, "device": device,
                                     "master": "\(setup.host):\(setup.port)", "threads": threads, "results": results]
        if let load = BenchSupport.loadAverage() { object["load_average_1m"] = load }
        object["best_bucket_mib"] = results.min { ($0["median_ms"] as? Double ?? 0) < ($1["median_ms"] as? Double ?? 0) }?["bucket_mib"]
        try BenchSupport.emit(object, to: out)
    }
}
