// Every malformed input of Tests/corpus (tables, images, model configs, safetensors, HDF5) run through the CLI
// as a user would, against the outcome Tests/corpus/manifest.json records: exit status, stderr lines naming the
// file, and nothing written when the command fails.
import Foundation
import XCTest

final class CorpusCLITests: XCTestCase {
    struct Manifest: Decodable {
        var commands: [String: [String]]
        var cases: [Case]
    }

    struct Case: Decodable {
        var name: String
        var reader: String
        var file: String
        var exit: String
        var stderr: [String]
        var stdout: String?
    }

    static let corpus = CLI.testsDir.appendingPathComponent("corpus")

    func testEveryCorpusFileGivesItsRecordedOutcome() throws {
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: Self.corpus.appendingPathComponent("manifest.json")))
        // Every input file is named by a case (images are read through the tables that name them).
        var named = Set(manifest.cases.map(\.file))
        for folder in ["tables", "configs", "safetensors", "hdf5"] {
            for name in try FileManager.default.contentsOfDirectory(atPath: Self.corpus.appendingPathComponent(folder).path) {
                XCTAssertNotNil(named.remove("\(folder)/\(name)"), "\(folder)/\(name) has no case in manifest.json")
            }
        }
        XCTAssertEqual(named, [], "cases naming missing files")

        for c in manifest.cases {
            let tmp = try CLI.tempDir(prefix: "fvl-corpus")
            defer { try? FileManager.default.removeItem(at: tmp) }
            let file = Self.corpus.appendingPathComponent(c.file).path
            let template = try XCTUnwrap(manifest.commands[c.reader], "\(c.name): unknown reader \(c.reader)")
            let args = template.map {
                $0.replacingOccurrences(of: "{corpus}", with: Self.corpus.path).replacingOccurrences(of: "{file}", with: file)
                    .replacingOccurrences(of: "{tmp}", with: tmp.path)
            }
            let r = try CLI.run(args, timeout: 120)
            let lines = r.stderrLines
            switch c.exit {
            case "ok":
                XCTAssertEqual(r.status, 0, "\(c.name): \(r.stderr)")
            case "error":
                XCTAssertNotEqual(r.status, 0, "\(c.name) should fail")
                XCTAssertTrue(lines.last?.hasPrefix("error: ") ?? false, "\(c.name): the last line is the error: \(r.stderr)")
                XCTAssertEqual(lines.filter { $0.hasPrefix("error: ") }.count, 1, "\(c.name): one error line: \(r.stderr)")
                XCTAssertEqual(CLI.files(in: tmp), [], "\(c.name): a failed command wrote something")
            default:
                XCTFail("\(c.name): exit must be ok or error, got \(c.exit)")
            }
            for fragment in c.stderr.map({ $0.replacingOccurrences(of: "{file}", with: file) }) {
                XCTAssertTrue(lines.contains { $0.hasPrefix(fragment) }, "\(c.name): no stderr line starts with '\(fragment)':\n\(r.stderr)")
            }
            if let out = c.stdout { XCTAssertTrue(r.stdout.contains(out), "\(c.name): stdout lacks '\(out)': \(r.stdout)") }
        }
    }
}
