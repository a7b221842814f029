import Foundation
import XCTest
@testable import FashionData

/// BERT normalisation and pre-tokenisation of "a" + c + "b" for every Unicode code point c, against HF
/// `tokenizers` (Tests/reference/goldens/tokenizer_codepoints.tsv, written by tokenizer_goldens.py). This
/// pins HF's quirks: Unicode 8.0 category tables, its CJK ranges, current lower-casing.
final class TokenizerCodepointTests: XCTestCase {
    /// Words of `text` written as in the golden: scalars in hex joined by ".", `c` itself as "=".
    private func payload(_ text: String, _ c: Unicode.Scalar, words: inout BertWords) -> String {
        var text = text
        words.removeAll()
        text.withUTF8 { words.append(utf8: $0) }
        var out: [String] = []
        var start = 0
        for end in words.ends {
            let word = String(decoding: words.bytes[start..<end], as: UTF8.self)
            out.append(word.unicodeScalars.map { $0 == c ? "=" : String($0.value, radix: 16) }.joined(separator: "."))
            start = end
        }
        return out.joined(separator: " ")
    }

    func testEveryCodePointMatchesHF() throws {
        let url = TokenizerTests.goldens.appendingPathComponent("tokenizer_codepoints.tsv")
        var expected: [UInt32: String] = [:]
        for (number, line) in try String(contentsOf: url, encoding: .utf8).split(separator: "\n").enumerated()
        where !line.hasPrefix("#") {
            let fields = line.split(separator: "\t")
            let span = fields.first?.split(separator: "-").compactMap { UInt32($0, radix: 16) } ?? []
            guard fields.count == 2, let first = span.first, let last = span.last, span.count <= 2 else {
                return XCTFail("\(url.path):\(number + 1): bad line \(line)")
            }
            for cp in first...last { expected[cp] = String(fields[1]) }
        }
        XCTAssertGreaterThan(expected.count, 200_000)
        var words = BertWords()
        var mismatches: [String] = []
        for cp in UInt32(0)...0x10FFFF {
            guard let c = Unicode.Scalar(cp) else { continue }  // surrogates
            var text = "a"
            text.unicodeScalars.append(c)
            text += "b"
            var got = payload(text, c, words: &words)
            if words.count == 1 && words.bytes == Array(text.utf8) { got = "61.=.62" }  // unchanged
            let want = expected[cp] ?? "61.=.62"
            if got != want { mismatches.append("U+\(String(cp, radix: 16)): \(got) != \(want)") }
        }
        XCTAssertEqual(Array(mismatches.prefix(20)), [], "\(mismatches.count) code points differ from HF")
    }
}
