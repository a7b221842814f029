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
        for _ in 0..<warmup { try step() }
        _ = try py.request(String(warmup))
        var swiftMs: [Double] = [], torchMs: [Double] = []
        for _ in 0..<rounds {
            for _ in 0..<steps {
                let t = DispatchTime.now().uptimeNanoseconds
                try step()
                swiftMs.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
            }
            let reply = try py.request(String(steps))
            guard let times = try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [Double] else {
                throw BenchError.pythonFailed("unexpected reply: \(reply)")
            }
            torchMs += times
        }
        let (s, p) = (median(swiftMs), median(torchMs))
        let out: [String: Any] = ["threads": threads, "swift_ms": round3(s), "pytorch_ms": round3(p), "ratio": round3(s / p),
                                  "steps": swiftMs.count, "torch": Torch.version]
        let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}

func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
