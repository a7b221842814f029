import FashionModels
import Foundation
import Torch

/// A run folder's config.json: created with a new run, read back by `--resume`, never overwritten by a new run.
public enum RunFolder {
    /// The saved config of the run at `path` when it exists and `resume` is set, nil for a new run. Without
    /// `resume`, an existing run is refused, so nothing it holds is overwritten.
    public static func savedConfig<Config: Decodable>(_ type: Config.Type, run path: String, resume: Bool,
                                                      kind: String) throws -> Config? {
        let configPath = path + "/config.json"
        guard FileManager.default.fileExists(atPath: configPath) else { return nil }
        guard resume else {
            if !FileManager.default.fileExists(atPath: path + "/last.json") {
                // A run killed before its first checkpoint (a failure would have removed the folder).
                throw TrainError.badArgument("\(path) holds a run that stopped before its first checkpoint (config.json, no last.json): "
                                             + "pass --resume to start it again with its saved config, remove the folder, or choose another --out")
            }
            throw TrainError.badArgument("\(path) already holds a run (config.json): pass --resume to continue it, or choose another --out")
        }
        do {
            return try JSONText.decode(Config.self, from: Data(contentsOf: URL(fileURLWithPath: configPath)))
        } catch {
            throw TrainError.badCheckpoint(path: configPath, reason: "not a FashionVL \(kind) config: \(error)")
        }
    }

    /// Runs a training command (`body`) on the run folder `path`, so that a command that fails before its first
    /// checkpoint leaves nothing behind: what it created there (the folder itself, config.json, metrics.jsonl,
    /// checkpoints/) is removed, and the rerun is not refused with "already holds a run". A run that wrote a
    /// checkpoint (last.json) is kept for `--resume`; a folder that held a run before the command is left alone.
    public static func removingIfUnstarted<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let fm = FileManager.default
        let existed = fm.fileExists(atPath: path)
        let before = Set((try? fm.contentsOfDirectory(atPath: path)) ?? [])
        let heldRun = before.contains("config.json")
        do {
            return try body()
        } catch {
            if !heldRun, !fm.fileExists(atPath: path + "/last.json") {
                if !existed {
                    try? fm.removeItem(atPath: path)
                } else {
                    for name in (try? fm.contentsOfDirectory(atPath: path)) ?? [] where !before.contains(name) {
                        try? fm.removeItem(atPath: path + "/" + name)
                    }
                }
            }
            throw error
        }
    }

    /// Creates the folder and writes config.json (atomically) for a new run.
    public static func create<Config: Encodable>(_ config: Config, run path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try writeAtomically(JSONEncoder.sorted.encode(config), to: path + "/config.json")
        } catch {
            throw TrainError.unwritable(path)
        }
    }
}
