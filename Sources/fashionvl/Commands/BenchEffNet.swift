import ArgumentParser
import FashionModels
import FashionTrain
import Foundation
import Torch

/// `fashionvl bench effnet`: the EfficientNet-Lite0 inference forward (features, pooled, logits; no autograd) in
/// Swift and in the PyTorch port (Tests/reference/effnet_lite_port.py, a persistent python3 on the same libtorch
/// and thread count), in alternating rounds, on the same weights and batch; one JSON line (images/s, ratio).
struct BenchEffNet: ParsableCommand {
    enum Clock: String, ExpressibleByArgument { case wall, cpu }

    static let configuration = CommandConfiguration(
        commandName: "effnet",
        abstract: "Times EfficientNet-Lite0 forwards in Swift and in the PyTorch port (same libtorch, same threads); one JSON line.")

    @Option(help: "Converted weights (default: $FASHIONVL_WEIGHTS or ~/.cache/fashionvl/weights, efficientnet-lite0.safetensors; made by scripts/convert-efficientnet-lite0).")
    var weights: String?
    @Option(help: "Images per forward.") var batch = 8
    @Option(help: "Image side in pixels.") var size = 224
    @Option(help: "libtorch threads for both sides.") var threads = 1
    @Option(help: "Timed forwards per round and side.") var steps = 1
    @Option(help: "Alternating rounds (Swift, then PyTorch).") var rounds = 5
    @Option(help: "Untimed warm-up forwards per side.") var warmup = 1
    @Option(help: "wall: elapsed time; cpu: each process's CPU time (steadier when other jobs share the cores; with --threads 1 the forward runs on the calling thread).")
    var clock: Clock = .wall
    @Flag(help: "Time the Swift BN-folded path (EfficientNetLite.folded()) instead of the BatchNorm one.") var folded = false
    @Flag(help: "Before timing, malloc and free 24 MiB in the Swift process, which raises glibc's dynamic mmap/trim thresholds as reading the weights file does in the python3 worker; without it a small batch's tensors are returned to the OS and page-faulted back every forward (see swift_minor_faults_per_step and docs/EFFICIENTNET.md §4).")
    var raiseMallocThreshold = false
    @Flag(help: "Time the Swift side only (python3 still writes the batch).") var swiftOnly = false
    @Option(help: "Also write the JSON line to this file (temp file + rename).") var out: String?

    func validate() throws {
        guard batch > 0, size > 0, threads > 0, steps > 0, rounds > 0, warmup >= 0 else {
            throw ValidationError("batch, size, threads, steps and rounds must be positive, warmup ≥ 0")
        }
    }

    func run() throws { try BenchSupport.reportingErrors(bench) }

    static var defaultWeights: String {
        let dir = ProcessInfo.processInfo.environment["FASHIONVL_WEIGHTS"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/fashionvl/weights").path
        return dir + "/efficientnet-lite0.safetensors"
    }

    func bench() throws {
        let path = weights ?? Self.defaultWeights
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError.badWeights(path: path, reason: "no such file; run scripts/convert-efficientnet-lite0 (or pass --weights)")
        }
        Torch.setNumThreads(threads)
        let model = try EfficientNetLite.load(from: path)
        let fast = folded ? try model.folded() : nil
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("fashionvl-bench-effnet-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ref = try BenchSupport.referenceDir(holding: "effnet_parity.py")
        let python = try PythonWorker(source: BenchSyncMask.pythonSource, arguments: [
            ref + "/effnet_parity.py", "worker", "--weights", path, "--out", dir.path, "--batch", String(batch),
            "--size", String(size), "--threads", String(threads), "--clock", clock.rawValue])
        _ = try python.stepTimes(0)                                   // the batch is written
        guard let pixels = try SafeTensors.load(dir.appendingPathComponent("input.safetensors").path).tensors["pixels"] else {
            throw BenchError.pythonFailed("input.safetensors has no 'pixels'")
        }
        if raiseMallocThreshold, let block = malloc(24 << 20) {
            memset(block, 1, 24 << 20)
            free(block)
        }
        var top1: [Int] = []
        var faults = 0, faultedSteps = 0
        let step: () throws -> Double = {
            let before = Self.minorFaults()
            defer { faults += Self.minorFaults() - before; faultedSteps += 1 }
            var logits: Tensor!
            let body = { logits = try fast?.logits(pixels) ?? Torch.noGrad { try model.forward(pixels).logits } }
            let ms = clock == .cpu ? try Self.cpuMilliseconds(body) : try BenchSupport.milliseconds(body)
            top1 = try logits.argmax(dim: 1).toArray(Int64.self).map(Int.init)
            return ms
        }
        let times = try BenchSupport.interleave(rounds: rounds, steps: steps, warmup: warmup,
                                                python: swiftOnly ? nil : python, swiftStep: step)
        let s = times.swiftMedian, p = times.pytorchMedian
        var result: [String: Any] = [
            "model": "efficientnet-lite0", "batch": batch, "size": size, "threads": threads, "rounds": rounds,
            "steps": steps, "warmup": warmup, "device": "cpu", "torch": Torch.version,
            "swift_path": folded ? "bn-folded" : "batchnorm", "clock": clock.rawValue, "parameters": model.parameterCount,
            "swift_ms": round3(s), "swift_steps_ms": times.swiftMs.map(round3),
            "images_per_s": round3(Double(batch) * 1000 / s), "swift_top1": top1,
            "load_avg_1m": BenchSupport.loadAverage() as Any, "raise_malloc_threshold": raiseMallocThreshold,
            "swift_minor_faults_per_step": faultedSteps > 0 ? faults / faultedSteps : 0,
        ]
        if !swiftOnly {
            BenchSupport.addPyTorch(to: &result, swiftMs: s, pytorchMs: p, times: times, batch: batch, rateKey: "pytorch_images_per_s")
        }
        try BenchSupport.emit(result, to: out)
    }

    /// Minor page faults of this process so far.
    static func minorFaults() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_minflt
    }

    /// The process's CPU time (all threads) spent in `body`, in ms.
    static func cpuMilliseconds(_ body: () throws -> Void) throws -> Double {
        func now() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
            return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
        }
        let start = now()
        try body()
        return now() - start
    }
}
