// JSON read from files (configs, a run's last.json and config.json, evaluation outputs): a decoding failure said
// with its place, "not valid JSON: line L, column C: <what>" for a syntax error (Foundation's decoder only says
// "The given data was not valid JSON") and "field a.b[2]: expected …" for a value of the wrong kind. Callers put
// the file's path in front.
import Foundation

public enum JSONText {
    /// Why `data` is not the expected value; its description has no file name (the caller's error adds it).
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Decodes `data`, turning any failure into a `Problem` that says where.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        do {
            return try decoder.decode(type, from: data)
        } catch let error as DecodingError {
            throw Problem(description: describe(error, in: data))
        }
    }

    /// Where `data` stops being JSON: "line L, column C: reason" (1-based; columns count bytes), or nil when the
    /// syntax is fine.
    public static func syntaxError(in data: Data) -> String? {
        var parser = JSONSyntax(Array(data))
        return parser.firstError()
    }

    /// A decoding error in words, with the line and column for a syntax error.
    public static func describe(_ error: DecodingError, in data: Data) -> String {
        func field(_ c: DecodingError.Context) -> String { fieldPath(c).map { "field '\($0)'" } ?? "the top level" }
        switch error {
        case let .keyNotFound(k, c):
            return "missing field '\(fieldPath(c).map { $0 + "." } ?? "")\(k.stringValue)'"
        case let .typeMismatch(t, c): return "\(field(c)): expected \(kind(t))"
        case let .valueNotFound(t, c): return "\(field(c)): expected \(kind(t)), found null"
        case let .dataCorrupted(c):
            if c.codingPath.isEmpty, let place = syntaxError(in: data) { return "not valid JSON: \(place)" }
            return "\(field(c)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// The field's JSON path (`heads.mir`, `embed_dims[2]`); nil for the top level.
    static func fieldPath(_ ctx: DecodingError.Context) -> String? {
        let path = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
        return path.isEmpty ? nil : path
    }

    /// What a Swift type is in JSON words, for messages ("an integer", not "Int").
    static func kind(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is [Any].Type: return "a list"
        case is [String: Any].Type: return "a JSON object"
        default:
            let name = "\(type)"
            return name.hasPrefix("Array") ? "a list" : name.hasPrefix("Dictionary") ? "a JSON object" : name
        }
    }
}

/// A minimal JSON (RFC 8259) syntax checker that reports the first offending byte.
private struct JSONSyntax {
    let b: [UInt8]
    var i = 0
    init(_ bytes: [UInt8]) { b = bytes }

    struct Failure: Error { let at: Int; let reason: String }

    mutating func firstError() -> String? {
        do {
            if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
            skipSpace()
            try value(depth: 0)
            skipSpace()
            if i < b.count { throw Failure(at: i, reason: "unexpected \(show(i)) after the JSON value") }
            return nil
        } catch let f as Failure {
            var line = 1, column = 1
            for k in 0..<min(f.at, b.count) {
                if b[k] == 0x0A { line += 1; column = 1 } else { column += 1 }
            }
            return "line \(line), column \(column): \(f.reason)"
        } catch {
            return nil
        }
    }

    func show(_ k: Int) -> String {
        guard k < b.count else { return "end of file" }
        let c = b[k]
        return (0x21...0x7E).contains(c) ? "'\(Character(UnicodeScalar(c)))'" : String(format: "byte 0x%02X", c)
    }

    mutating func skipSpace() {
        while i < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[i]) { i += 1 }
    }

    mutating func expect(_ c: UInt8, _ what: String) throws {
        guard i < b.count, b[i] == c else { throw Failure(at: i, reason: "expected \(what), found \(show(i))") }
        i += 1
    }

    mutating func value(depth: Int) throws {
        guard depth < 512 else { throw Failure(at: i, reason: "nested too deeply") }
        guard i < b.count else { throw Failure(at: i, reason: "expected a value, found end of file") }
        switch b[i] {
        case 0x7B: // {
            i += 1; skipSpace()
            if i < b.count, b[i] == 0x7D { i += 1; return }
            while true {
                skipSpace()
                guard i < b.count, b[i] == 0x22 else { throw Failure(at: i, reason: "expected a quoted key, found \(show(i))") }
                try string()
                skipSpace(); try expect(0x3A, "':'"); skipSpace()
                try value(depth: depth + 1)
                skipSpace()
                if i < b.count, b[i] == 0x2C { i += 1; continue }
                try expect(0x7D, "',' or '}'"); return
            }
        case 0x5B: // [
            i += 1; skipSpace()
            if i < b.count, b[i] == 0x5D { i += 1; return }
            while true {
                skipSpace(); try value(depth: depth + 1); skipSpace()
                if i < b.count, b[i] == 0x2C { i += 1; continue }
                try expect(0x5D, "',' or ']'"); return
            }
        case 0x22: try string()
        case 0x74: try literal("true")
        case 0x66: try literal("false")
        case 0x6E: try literal("null")
        case 0x2D, 0x30...0x39: try number()
        default: throw Failure(at: i, reason: "expected a value, found \(show(i))")
        }
    }

    mutating func literal(_ word: String) throws {
        for c in word.utf8 {
            guard i < b.count, b[i] == c else { throw Failure(at: i, reason: "expected '\(word)', found \(show(i))") }
            i += 1
        }
    }

    mutating func string() throws {
        i += 1
        while i < b.count {
            switch b[i] {
            case 0x22: i += 1; return
            case 0x5C:
                i += 1
                guard i < b.count, "\"\\/bfnrtu".utf8.contains(b[i]) else { throw Failure(at: i, reason: "invalid escape \(show(i))") }
                i += 1
            case 0x00..<0x20: throw Failure(at: i, reason: "control character in a string")
            default: i += 1
            }
        }
        throw Failure(at: i, reason: "unterminated string")
    }

    mutating func number() throws {
        let digits: ClosedRange<UInt8> = 0x30...0x39
        if b[i] == 0x2D { i += 1 }
        guard i < b.count, digits.contains(b[i]) else { throw Failure(at: i, reason: "expected a digit, found \(show(i))") }
        while i < b.count, digits.contains(b[i]) { i += 1 }
        if i < b.count, b[i] == 0x2E {
            i += 1
            guard i < b.count, digits.contains(b[i]) else { throw Failure(at: i, reason: "expected a digit, found \(show(i))") }
            while i < b.count, digits.contains(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == 0x65 || b[i] == 0x45 {
            i += 1
            if i < b.count, b[i] == 0x2B || b[i] == 0x2D { i += 1 }
            guard i < b.count, digits.contains(b[i]) else { throw Failure(at: i, reason: "expected a digit, found \(show(i))") }
            while i < b.count, digits.contains(b[i]) { i += 1 }
        }
    }
}
