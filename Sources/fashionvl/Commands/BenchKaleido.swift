import ArgumentParser
import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

/// `fashionvl bench kaleido-features`: Kaleido patch-feature extraction on real catalog rows: the 74 crops of
/// `--rows` images (foreground box, grids, rotations, grey), then EfficientNet-Lite0's pooled features of all of
/// them in one forward, in Swift (BN-folded, as the feature cache runs it) and in the PyTorch port on the same
/// crops (a persistent python3 on the same libtorch and threads), in alternating rounds; one JSON line.
struct BenchKaleido: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kaleido-features",
        abstract: "Times Kaleido patch-feature extraction (crops + EfficientNet-Lite0 pooled) in Swift vs the PyTorch forward; one JSON line.")

    @Option(help: "A Fashion-Gen .h5 file whose first rows are used.") var data: String
    @Option(help: "Converted weights (default: the registered efficientnet-lite0 file).") var weights: String?
    @Option(help: "Catalog rows per forward (74 crops each).") var rows = 8
    @Option(help: "Crop side in pixels.") var cropSize = 32
    @Option(help: "libtorch threads for both sides.") var threads = 2
    @Option(help: "Timed forwards per round and side.") var steps = 1
    @Option(help: "Alternating rounds (Swift, then PyTorch).") var rounds = 5
    @Option(help: "Untimed warm-up forwards per side.") var warmup = 1
    @Option(help: "wall or cpu (process CPU time).") var clock = "wall"
    @Option(help: "Also write the JSON line to this file (temp file + rename).") var out: String?

    func validate() throws {
        guard rows > 0, cropSize >= 8, threads > 0, steps > 0, rounds > 0, warmup >= 0, ["wall", "cpu"].contains(clock) else {
            throw ValidationError("rows, threads, steps and rounds must be positive, crop size ≥ 8, warmup ≥ 0, clock wall|cpu")
        }
    }

    func run() throws { try BenchSupport.reportingErrors(bench) }

    func bench() throws {
        Torch.setNumThreads(threads)
        let path = try weights ?? PretrainedWeights.resolve(EfficientNetLiteBackbone.name, tower: .image)
        let backbone = try EfficientNetLiteBackbone(weights: path, cropSize: cropSize)
        let file = try FashionGenFile(path: data)
        let n = min(rows, file.count)
        let generator = try KaleidoPatchGenerator(cropSize: cropSize)
        let images = try (0..<n).map { try RGBImage(width: file.imageSize, height: file.imageSize, pixels: file.image($0)) }
        var pixels: [UInt8] = []
        let cropMs = try BenchSupport.milliseconds {
            pixels = []
            for img in images { pixels += try generator.crops(of: img).pixels }
        }
        let batch = n * KaleidoCrops.count
        let input = try Tensor(pixels, shape: [batch, 3, cropSize, cropSize])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fashionvl-bench-kaleido-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try SafeTensors.save([("pixels", input)], to: dir.appendingPathComponent("input.safetensors").path)
        let ref = try BenchSupport.referenceDir(holding: "kaleido_reference.py")
        let python = try PythonWorker(source: BenchSyncMask.pythonSource, arguments: [
            ref + "/kaleido_reference.py", "worker", "--weights", path, "--input", dir.appendingPathComponent("input.safetensors").path,
            "--threads", String(threads), "--clock", clock])
        let step: () throws -> Double = {
            let body = { _ = try Torch.noGrad { try backbone.pooled(input) } }
            return clock == "cpu" ? try BenchEffNet.cpuMilliseconds(body) : try BenchSupport.milliseconds(body)
        }
        let times = try BenchSupport.interleave(rounds: rounds, steps: steps, warmup: warmup, python: python, swiftStep: step)
        let s = times.swiftMedian, p = times.pytorchMedian
        var result: [String: Any] = [
            "bench": "kaleido-features", "model": "efficientnet-lite0", "swift_path": "bn-folded", "rows": n,
            "crops": batch, "crop_size": cropSize, "threads": threads, "rounds": rounds, "steps": steps, "clock": clock,
            "torch": Torch.version, "catalog": data, "image_size": file.imageSize,
            "swift_crops_ms": round3(cropMs), "swift_ms": round3(s), "swift_steps_ms": times.swiftMs.map(round3),
            "swift_patches_per_s": round3(Double(batch) * 1000 / s),
            "swift_patches_per_s_with_crops": round3(Double(batch) * 1000 / (s + cropMs)),
            "load_avg_1m": BenchSupport.loadAverage() as Any,
        ]
        BenchSupport.addPyTorch(to: &result, swiftMs: s, pytorchMs: p, times: times, batch: batch, rateKey: "pytorch_patches_per_s")
        try BenchSupport.emit(result, to: out)
    }
}
