import FashionModels
import Foundation
import Torch

/// What a checkpoint holds besides tensors: where training stands, so that a resumed run continues with the
/// same batches, the same random numbers and the same optimizer state as an uninterrupted one.
public struct TrainerState: Codable, Sendable {
    /// Completed optimizer steps.
    public var step: Int
    /// Data position: epoch and the index of the next batch in it.
    public var epoch: Int
    public var batchInEpoch: Int
    public var samplesSeen: Int
    /// Per optimizer group and parameter: AdamW step counts.
    public var optimizerSteps: [[Int]]
    /// libtorch's default CPU generator (dropout, drop path), base64.
    public var rngState: String
    /// Seconds of training so far.
    public var elapsed: Double
    /// The safetensors file (relative to the run folder) with model weights under their original names and
    /// optimizer moments under `optimizer.`.
    public var weights: String
    /// A recipe's own state at this step (JSON; e.g. SyncMask's GRIT sampler), nil when it has none.
    public var extra: String?

    public static func fresh() -> TrainerState {
        TrainerState(step: 0, epoch: 0, batchInEpoch: 0, samplesSeen: 0, optimizerSteps: [], rngState: "", elapsed: 0, weights: "",
                     extra: nil)
    }
}

/// Checkpoints in a run folder: `checkpoints/step-NNNNNN.safetensors` and `last.json`, the state of the newest
/// complete checkpoint. Each file is written to a temporary name and renamed, and `last.json` is written last, so
/// a run killed at any moment resumes from the last complete checkpoint.
public struct CheckpointStore {
    public let run: String
    public var keep: Int

    public init(run: String, keep: Int = 2) {
        self.run = run
        self.keep = keep
    }

    var folder: String { run + "/checkpoints" }
    var lastPath: String { run + "/last.json" }

    public func save(model: Module, optimizer: AdamW, state: TrainerState) throws -> TrainerState {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var st = state
        st.weights = String(format: "checkpoints/step-%06d.safetensors", state.step)
        st.optimizerSteps = optimizer.steps
        st.rngState = try Data(Torch.defaultGeneratorState()).base64EncodedString()
        let tensors = model.stateDict() + optimizer.stateTensors().map { ("optimizer." + $0.0, $0.1) }
        try SafeTensors.save(tensors, to: run + "/" + st.weights, metadata: ["format": "fashionvl-checkpoint", "step": "\(st.step)"])
        let json = try JSONEncoder.sorted.encode(st)
        try writeAtomically(json, to: lastPath)
        prune(except: st.weights)
        return st
    }

    /// The newest complete checkpoint's state, or nil when the run has none.
    public func latest() throws -> TrainerState? {
        guard FileManager.default.fileExists(atPath: lastPath) else { return nil }
        do {
            let st = try JSONText.decode(TrainerState.self, from: Data(contentsOf: URL(fileURLWithPath: lastPath)))
            guard FileManager.default.fileExists(atPath: run + "/" + st.weights) else {
                throw TrainError.badCheckpoint(path: lastPath, reason: "names \(st.weights), which does not exist")
            }
            return st
        } catch let e as TrainError {
            throw e
        } catch {
            throw TrainError.badCheckpoint(path: lastPath, reason: "not a trainer state: \(error)")
        }
    }

    /// Loads the model weights, optimizer moments and RNG state of `state`.
    public func restore(_ state: TrainerState, model: Module, optimizer: AdamW) throws {
        let path = run + "/" + state.weights
        let (tensors, _) = try SafeTensors.load(path)
        var modelTensors: [String: Tensor] = [:], optim: [String: Tensor] = [:]
        for (k, v) in tensors {
            if k.hasPrefix("optimizer.") { optim[String(k.dropFirst(10))] = v } else { modelTensors[k] = v }
        }
        do {
            try model.loadStateDict(modelTensors)
            try optimizer.loadState(tensors: optim, steps: state.optimizerSteps)
        } catch {
            throw TrainError.badCheckpoint(path: path, reason: "\(error)")
        }
        guard let rng = Data(base64Encoded: state.rngState) else {
            throw TrainError.badCheckpoint(path: lastPath, reason: "rngState is not base64")
        }
        try Torch.setDefaultGeneratorState([UInt8](rng))
    }

    /// Removes older checkpoints beyond `keep` and temporary files of interrupted writes.
    func prune(except current: String) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: folder) else { return }
        for n in names where n.hasPrefix(".") && n.contains(".tmp-") { try? fm.removeItem(atPath: folder + "/" + n) }
        let ckpts = names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".safetensors") }.sorted()
        for n in ckpts.dropLast(keep) where "checkpoints/" + n != current { try? fm.removeItem(atPath: folder + "/" + n) }
    }
}

extension JSONEncoder {
    /// Pretty, key-sorted JSON (stable files for people and diffs).
    public static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }
}
