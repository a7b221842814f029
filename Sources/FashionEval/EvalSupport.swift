// Errors and JSON helpers shared by the evaluation code.
import FashionModels
import Foundation

public enum EvalError: Error, CustomStringConvertible {
    case invalidArgument(String)
    case unreadable(file: String, reason: String)
    case unwritable(file: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidArgument(m): return m
        case let .unreadable(f, r): return "cannot read \(f): \(r)"
        case let .unwritable(f, r): return "cannot write \(f): \(r)"
        }
    }
}

public enum EvalJSON {
    /// Pretty, key-sorted JSON, written to a temporary file and renamed.
    public static func write<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data: Data
        do { data = try encoder.encode(value) } catch { throw EvalError.unwritable(file: path, reason: "\(error)") }
        try writeAtomically(data, to: path)
    }

    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EvalError.unreadable(file: path, reason: "no such file")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try decoder.decode(type, from: data) } catch let error as DecodingError {
            throw EvalError.unreadable(file: path, reason: "not a valid \(T.self): \(JSONText.describe(error, in: data))")
        }
    }

    /// Writes `data` to `path + ".tmp-<pid>"`, then renames it over `path`.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        do {
            try data.write(to: URL(fileURLWithPath: tmp))
            if rename(tmp, path) != 0 {
                throw EvalError.unwritable(file: path, reason: String(cString: strerror(errno)))
            }
        } catch let error as EvalError {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw EvalError.unwritable(file: path, reason: error.localizedDescription)
        }
    }

}
