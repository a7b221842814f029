import ArgumentParser
import FashionData
import Foundation

/// `fashionvl tokenize`: JSONL `{"text": …}` on stdin to JSONL `{"ids": […]}` on stdout (BERT uncased WordPiece).
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize JSONL {\"text\": …} lines from stdin into {\"ids\": […]} lines ([CLS] … [SEP], bert-base-uncased).")

    @Option(help: "Cut each sequence to at most this many ids, [CLS] and [SEP] included (default: no cut).")
    var maxLength: Int?

    func validate() throws {
        if let maxLength, maxLength < 2 {
            throw ValidationError("--max-length must be at least 2 (room for [CLS] and [SEP]), got \(maxLength)")
        }
    }

    private struct Line: Decodable { let text: String }

    /// A bad input line, named by its 1-based number.
    struct BadLine: Error, CustomStringConvertible {
        let line: Int
        let reason: String
        var description: String { "stdin line \(line): \(reason)" }
    }

    func run() throws {
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let decoder = JSONDecoder()
        var out = ""
        var number = 0
        do {
            var reader = StdinLines()
            while let bytes = reader.next() {
                number += 1
                // readLine would replace invalid UTF-8 with U+FFFD silently; a damaged line is refused instead.
                guard let line = String(validating: bytes, as: UTF8.self) else {
                    throw BadLine(line: number, reason: "not valid UTF-8")
                }
                if line.allSatisfy(\.isWhitespace) { continue }
                let text: String
                do {
                    text = try decoder.decode(Line.self, from: Data(line.utf8)).text
                } catch {
                    throw BadLine(line: number, reason: "expected a JSON object with a string field \"text\"")
                }
                let ids = try tokenizer.encode(text, maxLength: maxLength)
                out += "{\"ids\":["
                out += ids.map(String.init).joined(separator: ",")
                out += "]}\n"
                if out.utf8.count > 1 << 16 { flush(&out) }
            }
            flush(&out)
        } catch {
            flush(&out)
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func flush(_ out: inout String) {
        FileHandle.standardOutput.write(Data(out.utf8))
        out.removeAll(keepingCapacity: true)
    }
}

/// stdin split at "\n" (a final "\r" dropped), as bytes: each line is checked as UTF-8 by the caller.
private struct StdinLines {
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0

    init() {}

    mutating func next() -> [UInt8]? {
        let n = getline(&buffer, &capacity, stdin)
        guard n >= 0, let buffer else { return nil }
        var bytes = [UInt8](UnsafeRawBufferPointer(start: buffer, count: n))
        if bytes.last == 0x0A { bytes.removeLast() }
        if bytes.last == 0x0D { bytes.removeLast() }
        return bytes
    }
}
