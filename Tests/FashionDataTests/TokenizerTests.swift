import Foundation
import XCTest
@testable import FashionData

/// WordPieceTokenizer against HF `tokenizers` (goldens from Tests/reference/tokenizer_goldens.py) and
/// hand-checked cases.
final class TokenizerTests: XCTestCase {
    static let goldens = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("reference/goldens")

    private struct GoldenLine: Decodable {
        let text: String
        let ids: [Int32]
        let tokens: [String]
    }

    private func tokenizer() throws -> WordPieceTokenizer {
        try WordPieceTokenizer.bertBaseUncased()
    }

    func testEmbeddedVocabIsBertBaseUncased() throws {
        let tok = try tokenizer()
        XCTAssertEqual(tok.vocabSize, 30_522)
        XCTAssertEqual(BertUncasedVocab.md5, "64800d5d8528ce344256daf115d4965e")
        XCTAssertEqual([tok.padID, tok.unkID, tok.clsID, tok.sepID], [0, 100, 101, 102])
        XCTAssertEqual(tok.id(of: "[MASK]"), 103)
        XCTAssertEqual(tok.id(of: "the"), 1996)
        XCTAssertEqual(tok.id(of: "##ing"), 2075)
        XCTAssertNil(tok.id(of: "ing##"))
        XCTAssertEqual(try tok.decode([0, 100, 101, 102, 103, 30_521]), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##～"])
    }

    func testHandCheckedTokens() throws {
        let tok = try tokenizer()
        XCTAssertEqual(tok.tokenize("Slim-fit jeans"), ["slim", "-", "fit", "jeans"])
        XCTAssertEqual(try tok.encode("Slim-fit jeans"), [101, 11754, 1011, 4906, 6312, 102])
        XCTAssertEqual(tok.tokenize("unaffable"), ["una", "##ffa", "##ble"])
        XCTAssertEqual(tok.tokenize("Café crème 38\" 100 %"), ["cafe", "cr", "##eme", "38", "\"", "100", "%"])
        XCTAssertEqual(tok.tokenize("中文dress"), ["中", "文", "dress"])
        XCTAssertEqual(tok.tokenize("a[MASK]b [mask]"), ["a", "[MASK]", "b", "[", "mask", "]"])
        XCTAssertEqual(tok.tokenize("İstanbul ΟΔΥΣ"), ["istanbul", "ο", "##δ", "##υ", "##σ"])
        XCTAssertEqual(tok.tokenize("zero\u{200B}width\u{0}nul"), ["zero", "##wi", "##dt", "##hn", "##ul"])
        XCTAssertEqual(tok.tokenize("👗 dress"), ["[UNK]", "dress"])
        XCTAssertEqual(tok.tokenize(""), [])
        XCTAssertEqual(tok.tokenize(" \t\n\r\u{3000} "), [])
        XCTAssertEqual(try tok.encode(""), [101, 102])
    }

    func testWordsOverHundredScalarsAreUnknown() throws {
        let tok = try tokenizer()
        XCTAssertEqual(tok.tokenize(String(repeating: "b", count: 101)), ["[UNK]"])
        XCTAssertEqual(tok.tokenize(String(repeating: "é", count: 101)), ["[UNK]"])
        let hundred = tok.tokenize(String(repeating: "a", count: 100))
        XCTAssertGreaterThan(hundred.count, 1)
        XCTAssertFalse(hundred.contains("[UNK]"))
    }

    func testGoldenStringsMatchHF() throws {
        let tok = try tokenizer()
        let url = Self.goldens.appendingPathComponent("tokenizer_strings.jsonl")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, 300)
        var mismatches: [String] = []
        for (number, line) in lines.enumerated() {
            let golden = try JSONDecoder().decode(GoldenLine.self, from: Data(line.utf8))
            let ids = try tok.encode(golden.text)
            if ids != golden.ids {
                mismatches.append("line \(number + 1) \(golden.text.debugDescription): \(ids) != \(golden.ids)")
            } else {
                XCTAssertEqual(tok.tokenize(golden.text), Array(golden.tokens.dropFirst().dropLast()))
            }
        }
        XCTAssertEqual(mismatches, [], "\(mismatches.count) of \(lines.count) golden strings differ from HF")
    }

    func testTruncationKeepsCLSAndSEP() throws {
        let tok = try tokenizer()
        let full = try tok.encode("red silk slip dress with lace trim")
        XCTAssertEqual(full.count, 9)
        XCTAssertEqual(try tok.encode("red silk slip dress with lace trim", maxLength: 5), Array(full.prefix(4)) + [102])
        XCTAssertEqual(try tok.encode("red silk slip dress with lace trim", maxLength: 9), full)
        XCTAssertEqual(try tok.encode("red silk slip dress with lace trim", maxLength: 50), full)
        XCTAssertEqual(try tok.encode("red silk", maxLength: 2), [101, 102])
        XCTAssertEqual(try tok.encode("red silk slip", maxLength: 2, addSpecialTokens: false), Array(full[1...2]))
        XCTAssertEqual(try tok.encode("red silk", addSpecialTokens: false), Array(full[1...2]))
        XCTAssertThrowsError(try tok.encode("red", maxLength: 1)) { error in
            XCTAssertEqual(error as? TokenizerError, .maxLengthTooSmall(maxLength: 1, minimum: 2))
        }
    }

    func testBatchPadsAndMasks() throws {
        let tok = try tokenizer()
        let batch = try tok.encodeBatch(["red dress", "", "a very long description of a coat"], length: 6)
        XCTAssertEqual(batch.rows, 3)
        XCTAssertEqual(batch.length, 6)
        XCTAssertEqual(Array(batch.ids(row: 0)), try tok.encode("red dress") + [0, 0])
        XCTAssertEqual(Array(batch.ids(row: 1)), [101, 102, 0, 0, 0, 0])
        XCTAssertEqual(Array(batch.ids(row: 2)), try tok.encode("a very long description of a coat", maxLength: 6))
        XCTAssertEqual(batch.attentionMask, [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
        let longest = try tok.encodeBatch(["red dress", "red"])
        XCTAssertEqual(longest.length, 4)
        XCTAssertEqual(longest.ids, try tok.encode("red dress") + tok.encode("red") + [0])
        XCTAssertEqual(longest.attentionMask, [1, 1, 1, 1, 1, 1, 1, 0])
        XCTAssertEqual(try tok.encodeBatch([]).ids, [])
    }

    func testDecodeRejectsIDsOutsideVocab() throws {
        let tok = try tokenizer()
        XCTAssertEqual(try tok.decode(tok.encode("Denim!")), ["[CLS]", "denim", "!", "[SEP]"])
        XCTAssertThrowsError(try tok.decode([101, 30_522])) { error in
            XCTAssertEqual(error as? TokenizerError, .unknownID(id: 30_522, vocabSize: 30_522))
        }
        XCTAssertThrowsError(try tok.decode([-1]))
    }
}
