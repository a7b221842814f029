// The one place where model config files are checked beyond their types, for every family: unknown keys
// (a misspelt key must not train silently with the default), sizes bounded before anything is allocated, and
// JSON syntax errors located by line and column.

import Foundation

enum ConfigChecks {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Throws a decoding error at the first key of `decoder`'s object (sorted) that is not in `known`.
    static func refuseUnknownKeys(_ decoder: Decoder, known: [String]) throws {
        let any = try decoder.container(keyedBy: AnyKey.self)
        let allowed = Set(known)
        if let unknown = any.allKeys.map(\.stringValue).sorted().first(where: { !allowed.contains($0) }) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [AnyKey(stringValue: unknown)!],
                                                    debugDescription: "unknown key (known: \(known.sorted().joined(separator: ", ")))"))
        }
    }

    /// The first value outside its range, as `ModelError.invalidConfig` naming the field and the allowed range.
    /// Upper bounds keep an absurd value from reaching libtorch's allocator without a field named.
    static func bounds(_ checks: [(field: String, value: Int, range: ClosedRange<Int>)]) throws {
        for c in checks where !c.range.contains(c.value) {
            throw ModelError.invalidConfig(field: c.field, reason: "must be in \(c.range.lowerBound)...\(c.range.upperBound), got \(c.value)")
        }
    }

    /// Every entry of a per-stage list: the field is named with the index (`embed_dims[3]`).
    static func bounds(_ field: String, _ list: [Int], _ range: ClosedRange<Int>) throws {
        try bounds(list.enumerated().map { ("\(field)[\($0.offset)]", $0.element, range) })
    }

    /// Where `data` stops being JSON: "line L, column C: reason" (1-based; columns count bytes), or nil when the
    /// syntax is fine (the decoder then failed for another reason).
    static func syntaxError(in data: Data) -> String? {
        var parser = JSONSyntax(Array(data))
        return parser.firstError()
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
