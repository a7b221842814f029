import ArgumentParser
import Dispatch
import FashionTrain
import Foundation
import Torch

/// `fashionvl bench torch-step`: Swift vs PyTorch on one small training step, same libtorch, same threads.
struct BenchTorchStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "torch-step",
        abstract: "Times a small conv+attention+MLP training step (forward, backward, AdamW) in Swift and PyTorch.")

    @Option(help: "libtorch threads for both sides.") var threads = 1
    @Option(help: "Alternating rounds (Swift then PyTorch).") var rounds = 5
    @Option(help: "Timed steps per round and side.") var steps = 20
    @Option(help: "Untimed warm-up steps per side.") var warmup = 10

    func validate() throws {
        guard threads > 0, rounds > 0, steps > 0, warmup >= 0 else { throw ValidationError("threads, rounds and steps must be positive") }
    }

    func run() throws {
        Torch.setNumThreads(threads)
        let step = try TorchStepBench.makeStep()
        let py = try PythonWorker(source: TorchStepBench.pythonSource, arguments: [String(threads)])
        let times = try BenchSupport.interleave(rounds: rounds, steps: steps, warmup: warmup, python: py) {
            try BenchSupport.milliseconds(step)
        }
        let (s, p) = (times.swiftMedian, times.pytorchMedian)
        let out: [String: Any] = ["threads": threads, "swift_ms": round3(s), "pytorch_ms": round3(p), "ratio": round3(s / p),
                                  "steps": times.swiftMs.count, "torch": Torch.version]
        try BenchSupport.emit(out, to: nil)
    }
}
