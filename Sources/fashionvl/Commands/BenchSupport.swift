import ArgumentParser
import Dispatch
import FashionModels
import FashionTrain
import Foundation
import Torch
#if canImport(Glibc)
import Glibc
#endif

/// What the Swift-vs-PyTorch benchmarks (`bench torch-step`, `mvlt`, `syncmask`) share: the alternating timing
/// loop, step timing, the JSON line (and `--out` file) and the machine's load.
enum BenchSupport {
    /// Per-step wall times (ms) of both sides.
    struct Times {
        var swiftMs: [Double] = [], pytorchMs: [Double] = []
        var swiftMedian: Double { median(swiftMs) }
        var pytorchMedian: Double { median(pytorchMs) }
    }

    /// `warmup` untimed steps per side, then `rounds` rounds of `steps` Swift steps followed by `steps` PyTorch
    /// steps (the worker answers "N" with N step times), so that load changes hit both sides. Without a worker
    /// only Swift is timed.
    static func interleave(rounds: Int, steps: Int, warmup: Int, python: PythonWorker?,
                           swiftStep: () throws -> Double) throws -> Times {
        for _ in 0..<warmup { _ = try swiftStep() }
        if warmup > 0, let python { _ = try python.stepTimes(warmup) }
        var t = Times()
        for _ in 0..<rounds {
            for _ in 0..<steps { t.swiftMs.append(try swiftStep()) }
            if let python { t.pytorchMs += try python.stepTimes(steps) }
        }
        return t
    }

    /// Adds the PyTorch side to a bench's JSON: its median `pytorch_ms` (`p`), the per-step times, its rate
    /// (`batch` items per step, under `rateKey`) and `ratio` = Swift / PyTorch (`s` / `p`).
    static func addPyTorch(to result: inout [String: Any], swiftMs s: Double, pytorchMs p: Double, times: Times,
                           batch: Int, rateKey: String) {
        result["pytorch_ms"] = round3(p)
        result["pytorch_steps_ms"] = times.pytorchMs.map(round3)
        result[rateKey] = round3(Double(batch) * 1000 / p)
        result["ratio"] = round3(s / p)
    }

    /// Wall time of `body` in ms.
    /// Runs a bench; a model, tensor or bench error becomes one `error:` line and a failing exit.
    static func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as ModelError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8)); throw ExitCode.failure
        } catch let e as TorchError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8)); throw ExitCode.failure
        } catch let e as BenchError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8)); throw ExitCode.failure
        }
    }

    static func milliseconds(_ body: () throws -> Void) rethrows -> Double {
        let t = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6
    }

    /// Prints `object` as one JSON line (sorted keys) and, with `path`, writes the same line there (a temp file
    /// in the same folder, then rename, so a reader never sees half a file).
    static func emit(_ object: [String: Any], to path: String?) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        guard let path else { return }
        let url = URL(fileURLWithPath: path)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        try (data + Data("\n".utf8)).write(to: tmp)
        guard rename(tmp.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw BenchError.output("cannot write \(path): \(reason)")
        }
    }

    /// The 1-minute load average (Linux), to tell a busy machine's numbers apart.
    static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }

    /// Tests/reference under the working directory, checked to hold `script`.
    static func referenceDir(holding script: String) throws -> String {
        let dir = FileManager.default.currentDirectoryPath + "/Tests/reference"
        guard FileManager.default.fileExists(atPath: dir + "/" + script) else {
            throw BenchError.pythonFailed("\(dir)/\(script) not found: run from the repository root or pass --swift-only")
        }
        return dir
    }
}

func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
