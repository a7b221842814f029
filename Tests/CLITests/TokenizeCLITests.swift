// `fashionvl tokenize`: JSONL {"text": …} on stdin → {"ids": […]} lines, pinned to the committed golden
// Tests/reference/goldens/tokenizer_strings.jsonl (HuggingFace bert-base-uncased, tokenizer_goldens.py).
import Foundation
import XCTest

final class TokenizeCLITests: XCTestCase {
    static let golden = CLI.referenceDir.appendingPathComponent("goldens/tokenizer_strings.jsonl")

    /// The ids of each stdout line, which must be exactly `{"ids":[…]}`.
    func ids(_ r: CLI.Output, file: StaticString = #filePath, line: UInt = #line) throws -> [[Int]] {
        try r.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { l in
            let object = try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any]
            XCTAssertEqual(object?.keys.sorted(), ["ids"], "line: \(l)", file: file, line: line)
            return try XCTUnwrap(object?["ids"] as? [Int], "line: \(l)", file: file, line: line)
        }
    }

    func testFewLinesGiveGoldenIDs() throws {
        let stdin = """
            {"text": "hello world"}
            {"text": "Unaffable jeans"}

            {"text": "Slim-fit jeans"}
            {"text": ""}

            """
        let r = try CLI.run(["tokenize"], stdin: Data(stdin.utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        // Blank input lines are skipped; ids from the golden file.
        XCTAssertEqual(try ids(r), [
            [101, 7592, 2088, 102],
            [101, 14477, 20961, 3468, 6312, 102],
            [101, 11754, 1011, 4906, 6312, 102],
            [101, 102],
        ])
    }

    func testWholeGoldenFile() throws {
        let data = try Data(contentsOf: Self.golden)
        let expected = try String(decoding: data, as: UTF8.self).split(separator: "\n").map { l in
            try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any])?["ids"] as? [Int])
        }
        XCTAssertGreaterThan(expected.count, 100)
        // The golden lines carry extra fields ("ids", "tokens"); tokenize reads only "text".
        let r = try CLI.run(["tokenize"], stdin: data)
        XCTAssertEqual(r.status, 0, r.stderr)
        let got = try ids(r)
        XCTAssertEqual(got.count, expected.count)
        for (i, (g, e)) in zip(got, expected).enumerated() where g != e {
            XCTFail("golden line \(i + 1): got \(g), expected \(e)")
        }
    }

    func testMaxLengthKeepsSEP() throws {
        let r = try CLI.run(["tokenize", "--max-length", "4"], stdin: Data(#"{"text": "Unaffable jeans"}"#.utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try ids(r), [[101, 14477, 20961, 102]])
    }

    func testMalformedLineNamesItsNumber() throws {
        let stdin = """
            {"text": "hello world"}
            {"text": "Denim!"}
            {"text": "unterminated
            {"text": "never reached"}

            """
        let r = try CLI.run(["tokenize"], stdin: Data(stdin.utf8))
        assertOneErrorLine(r, mentions: ["line 3", "\"text\""])
        // The lines before the bad one were written.
        XCTAssertEqual(try ids(r), [[101, 7592, 2088, 102], [101, 26762, 999, 102]])
    }

    func testWrongFieldTypeNamesItsNumber() throws {
        let r = try CLI.run(["tokenize"], stdin: Data("{\"text\": \"ok\"}\n{\"text\": 42}\n".utf8))
        assertOneErrorLine(r, mentions: ["line 2"])
    }
}
