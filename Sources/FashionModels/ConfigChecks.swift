// The one place where model config files are checked beyond their types, for every family: unknown keys
// (a misspelt key must not train silently with the default), sizes bounded before anything is allocated, and
// JSON syntax errors located by line and column (JSONText).

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
        JSONText.syntaxError(in: data)
    }
}
