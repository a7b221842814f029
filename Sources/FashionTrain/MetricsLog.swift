import Foundation

/// Appends one JSON object per line to `metrics.jsonl`. On resume, lines written after the checkpoint that is
/// resumed from are dropped, so the file reads as one uninterrupted run.
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle

    public init(path: String, truncateAfterStep: Int? = nil) throws {
        self.path = path
        let fm = FileManager.default
        if let keep = truncateAfterStep, fm.fileExists(atPath: path) {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            let kept = text.split(separator: "\n").filter { line in
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let step = obj["step"] as? Int else { return false }
                return step <= keep
            }
            let body = kept.isEmpty ? "" : kept.joined(separator: "\n") + "\n"
            try Data(body.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } else if truncateAfterStep == nil || !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil) else { throw TrainError.unwritable(path) }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw TrainError.unwritable(path) }
        handle = h
        handle.seekToEndOfFile()
    }

    public func write(_ record: [String: Any]) throws {
        let clean = record.mapValues { v -> Any in
            if let d = v as? Double, !d.isFinite { return String(describing: d) }
            return v
        }
        var data = try JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys])
        data.append(0x0A)
        handle.write(data)
    }

    deinit { try? handle.close() }

    /// Reads every record of a metrics file.
    public static func read(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}

public enum TrainError: Error, CustomStringConvertible {
    case unwritable(String)
    case nonFinite(step: Int, what: String, checkpoint: String?)
    case badCheckpoint(path: String, reason: String)
    case badArgument(String)

    public var description: String {
        switch self {
        case let .unwritable(p): return "cannot write \(p): check that the folder exists and is writable"
        case let .nonFinite(step, what, ck):
            return "training stopped at step \(step): \(what) is not finite (NaN/Inf); the last good checkpoint is "
                + (ck ?? "none (no checkpoint was written yet)")
        case let .badCheckpoint(p, r): return "\(p): \(r)"
        case let .badArgument(m): return m
        }
    }
}
