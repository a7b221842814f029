import FashionData
import FashionTrain
import Foundation

/// The rows an evaluation reads from `--data`. Every protocol scores the validation split:
/// - a folder → its validation.h5, every row;
/// - the single file the checkpoint's run trained on → only the products that run held out (the same
///   `DataSplit`: seed and 90/10 product split), so training rows are never scored;
/// - any other file → every row.
public struct EvaluationData {
    /// The .h5 file read.
    public let path: String
    public let file: FashionGenFile
    /// File row indices to score; nil = every row.
    public let rows: [Int]?
    /// What was scored, for results and reports: "validation", "held-out products of …", "all rows of …".
    public let split: String

    /// Rows scored.
    public var rowCount: Int { rows?.count ?? file.count }

    /// Refuses data whose scored rows hold fewer than `minimum` `what` (rows, products) for `purpose`, in one
    /// error naming the file: the one check every protocol makes before loading a model's worth of work.
    public func require(_ count: Int, atLeast minimum: Int, _ what: String, for purpose: String) throws {
        guard count >= minimum else {
            throw EvalError.invalidArgument("\(path): \(purpose) needs at least \(minimum) \(what), the evaluated rows hold \(count)")
        }
    }

    /// `run` is the checkpoint's run folder (nil for a bare weights file); `allRows` scores every row of a single
    /// file even when it is the run's own.
    public static func open(_ data: String, run: String?, allRows: Bool = false) throws -> EvaluationData {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir) else {
            throw EvalError.invalidArgument("\(data): no such file or folder (expected a Fashion-Gen .h5 file or a folder with validation.h5)")
        }
        if isDir.boolValue {
            let path = (data as NSString).appendingPathComponent("validation.h5")
            return EvaluationData(path: path, file: try FashionGenFile(path: path), rows: nil, split: "validation")
        }
        let name = (data as NSString).lastPathComponent
        if !allRows, let run, let trained = trainedOn(run: run), resolved(trained.data) == resolved(data) {
            let split = try DataSplit.open(data, seed: trained.train.seed)
            return EvaluationData(path: data, file: split.validationFile, rows: split.validationRows,
                                  split: "held-out products of \(name) (the run's split, seed \(trained.train.seed))")
        }
        return EvaluationData(path: data, file: try FashionGenFile(path: data), rows: nil, split: "all rows of \(name)")
    }

    /// `data` and `train.seed` of a pretraining or fine-tuning run's config.json (nil when absent or unreadable).
    private static func trainedOn(run: String) -> TrainedOn? {
        let path = (run as NSString).appendingPathComponent("config.json")
        return FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(TrainedOn.self, from: $0) }
    }

    private struct TrainedOn: Decodable {
        struct Train: Decodable { var seed: UInt64 }
        var data: String
        var train: Train
    }

    private static func resolved(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}
