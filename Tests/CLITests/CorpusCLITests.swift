// Every malformed input of Tests/corpus (tables, images, model configs, safetensors, HDF5, tokenizer input,
// checkpoints, run folders) run through the CLI as a user would, against the outcome Tests/corpus/manifest.json
// records: exit status, stderr lines naming the file, and nothing written when the command fails. A reader listed
// in `stdin` gets the file on stdin; a case with `copy` runs on a copy of its file or folder (commands that write
// into a run folder), which a failing command must leave exactly as it was.
import Foundation
import XCTest

final class CorpusCLITests: XCTestCase {
    struct Manifest: Decodable {
        var commands: [String: [String]]
        /// Readers whose input is stdin (the file's bytes).
        var stdin: [String]?
        var cases: [Case]
    }

    struct Case: Decodable {
        var name: String
        var reader: String
        var file: String
        var exit: String
        var stderr: [String]
        var stdout: String?
        /// Run on a copy (in the temp folder) of the file or folder.
        var copy: Bool?
    }

    static let corpus = CLI.testsDir.appendingPathComponent("corpus")

    func testEveryCorpusFileGivesItsRecordedOutcome() throws {
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: Self.corpus.appendingPathComponent("manifest.json")))
        // Every input file is named by a case (images are read through the tables that name them).
        var named = Set(manifest.cases.map(\.file))
        for folder in ["tables", "configs", "safetensors", "hdf5", "tokenizer", "checkpoints", "runs"] {
            for name in try FileManager.default.contentsOfDirectory(atPath: Self.corpus.appendingPathComponent(folder).path) {
                XCTAssertNotNil(named.remove("\(folder)/\(name)"), "\(folder)/\(name) has no case in manifest.json")
            }
        }
        XCTAssertEqual(named, [], "cases naming missing files")

        for c in manifest.cases {
            let tmp = try CLI.tempDir(prefix: "fvl-corpus")
            defer { try? FileManager.default.removeItem(at: tmp) }
            let original = Self.corpus.appendingPathComponent(c.file)
            var file = original.path
            var before: [String: Data]?
            if c.copy == true {
                let copy = tmp.appendingPathComponent("input-" + original.lastPathComponent)
                try FileManager.default.copyItem(at: original, to: copy)
                file = copy.path
                before = Self.contents(of: copy)
            }
            let template = try XCTUnwrap(manifest.commands[c.reader], "\(c.name): unknown reader \(c.reader)")
            let args = template.map {
                $0.replacingOccurrences(of: "{corpus}", with: Self.corpus.path).replacingOccurrences(of: "{file}", with: file)
                    .replacingOccurrences(of: "{tmp}", with: tmp.path)
            }
            let stdin = manifest.stdin?.contains(c.reader) == true ? try Data(contentsOf: original) : Data()
            let r = try CLI.run(args, stdin: stdin, timeout: 120)
            let lines = r.stderrLines
            switch c.exit {
            case "ok":
                XCTAssertEqual(r.status, 0, "\(c.name): \(r.stderr)")
            case "error":
                XCTAssertNotEqual(r.status, 0, "\(c.name) should fail")
                XCTAssertTrue(lines.last?.hasPrefix("error: ") ?? false, "\(c.name): the last line is the error: \(r.stderr)")
                XCTAssertEqual(lines.filter { $0.hasPrefix("error: ") }.count, 1, "\(c.name): one error line: \(r.stderr)")
                let written = CLI.files(in: tmp).filter { !$0.hasPrefix("input-") }
                XCTAssertEqual(written, [], "\(c.name): a failed command wrote something")
                if let before {
                    XCTAssertTrue(Self.contents(of: URL(fileURLWithPath: file)) == before,
                                  "\(c.name): the failed command changed its input \(c.file)")
                }
            default:
                XCTFail("\(c.name): exit must be ok or error, got \(c.exit)")
            }
            for fragment in c.stderr.map({ $0.replacingOccurrences(of: "{file}", with: file) }) {
                XCTAssertTrue(lines.contains { $0.hasPrefix(fragment) }, "\(c.name): no stderr line starts with '\(fragment)':\n\(r.stderr)")
            }
            if let out = c.stdout { XCTAssertTrue(r.stdout.contains(out), "\(c.name): stdout lacks '\(out)': \(r.stdout)") }
        }
    }

    /// Every file under `url` (or `url` itself) by relative path, with its bytes.
    static func contents(of url: URL) -> [String: Data] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { return [:] }
        guard isDir.boolValue else { return ["": (try? Data(contentsOf: url)) ?? Data()] }
        var out: [String: Data] = [:]
        guard let walk = FileManager.default.enumerator(atPath: url.path) else { return out }
        while let rel = walk.nextObject() as? String {
            let u = url.appendingPathComponent(rel)
            var d: ObjCBool = false
            if FileManager.default.fileExists(atPath: u.path, isDirectory: &d), !d.boolValue { out[rel] = (try? Data(contentsOf: u)) ?? Data() }
            else { out[rel + "/"] = Data() }
        }
        return out
    }
}
