import Foundation
import XCTest
@testable import FashionData

/// Loading a vocab from a file, and the typed errors for bad ones.
final class TokenizerVocabFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func assertError(_ path: String, _ expected: TokenizerError, line: UInt = #line) {
        XCTAssertThrowsError(try WordPieceTokenizer(vocabFile: path), line: line) { error in
            XCTAssertEqual(error as? TokenizerError, expected, line: line)
            XCTAssertTrue("\(error)".contains(path), "error should name the file: \(error)", line: line)
        }
    }

    func testEmbeddedVocabWrittenToFileGivesSameTokenizer() throws {
        let path = try write("vocab.txt", Array((BertUncasedVocab.text + "\n").utf8))
        let fromFile = try WordPieceTokenizer(vocabFile: path)
        let embedded = try WordPieceTokenizer.bertBaseUncased()
        XCTAssertEqual(fromFile.vocabSize, 30_522)
        let text = "Oversized hoodie — 80% cotton, ΜΑΛΛΙ, 中文 [MASK]"
        XCTAssertEqual(try fromFile.encode(text), try embedded.encode(text))
    }

    func testSmallVocabWithCRLFLines() throws {
        let path = try write("small.txt", Array("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nred\r\n##dish\r\n".utf8))
        let tok = try WordPieceTokenizer(vocabFile: path)
        XCTAssertEqual(tok.vocabSize, 6)
        XCTAssertEqual(try tok.encode("Reddish red blue"), [2, 4, 5, 4, 1, 3])
        XCTAssertEqual(tok.tokenize("[MASK]"), ["[UNK]", "[UNK]", "[UNK]"])  // no [MASK] in this vocab
    }

    func testBadVocabsNameTheFile() throws {
        let missingFile = directory.appendingPathComponent("nope.txt").path
        XCTAssertThrowsError(try WordPieceTokenizer(vocabFile: missingFile)) { error in
            guard case let .vocabUnreadable(file, _)? = error as? TokenizerError else {
                return XCTFail("expected vocabUnreadable, got \(error)")
            }
            XCTAssertEqual(file, missingFile)
        }
        let noUNK = try write("no-unk.txt", Array("[PAD]\n[CLS]\n[SEP]\nred\n".utf8))
        assertError(noUNK, .vocabMissingToken(file: noUNK, token: "[UNK]"))
        let duplicate = try write("dup.txt", Array("[PAD]\n[UNK]\n[CLS]\n[SEP]\nred\nred\n".utf8))
        assertError(duplicate, .vocabDuplicateToken(file: duplicate, line: 6, token: "red"))
        let blank = try write("blank.txt", Array("[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n".utf8))
        assertError(blank, .vocabEmptyLine(file: blank, line: 3))
        let notUTF8 = try write("latin1.txt", Array("[PAD]\n[UNK]\n[CLS]\n[SEP]\n".utf8) + [0x63, 0x61, 0x66, 0xE9, 0x0A])
        assertError(notUTF8, .vocabNotUTF8(file: notUTF8))
        let empty = try write("empty.txt", [])
        assertError(empty, .vocabMissingToken(file: empty, token: "[UNK]"))
    }
}
