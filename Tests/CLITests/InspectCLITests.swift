// `fashionvl inspect FILE.h5`: the JSON summary of a good file, and one error line plus a non-zero exit for
// each kind of bad file (issue "Data"). Fixtures: Tests/reference/h5_make_fixture.py (h5py).
import Foundation
import XCTest

final class InspectCLITests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try CLI.tempDir(prefix: "fvl-cli-inspect") }
    override func tearDown() { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func fixture(_ variant: String) throws -> String {
        let path = dir.appendingPathComponent("\(variant).h5").path
        try CLI.python("h5_make_fixture.py", [path, variant])
        return path
    }

    func testGoodFileSummary() throws {
        let path = try fixture("good")
        let s = try InspectSummary.parse(try CLI.run(["inspect", path]))
        XCTAssertEqual(s.file, path)
        XCTAssertEqual(s.rows, 5)
        XCTAssertEqual(s.imageSize, 8)
        XCTAssertEqual(s.products, 4)  // 1001 has two poses
        XCTAssertEqual(s.categories, ["TOPS": 1, "JACKETS & COATS": 1, "SKIRTS": 1, "SHOES": 1, "BAGS": 1])
        XCTAssertEqual(s.subcategories, ["T-SHIRTS": 1, "LEATHER JACKETS": 1, "MIDI SKIRTS": 1, "BOOTS": 1, "TOTE BAGS": 1])
        XCTAssertEqual(Set(s.keys.keys), InspectSummary.allKeys)
        XCTAssertEqual(s.keys["input_image"], .init(dtype: "uint8", shape: [5, 8, 8, 3]))
        XCTAssertEqual(s.keys["input_productID"], .init(dtype: "int32", shape: [5, 1]))
        XCTAssertEqual(s.keys["input_msrpUSD"], .init(dtype: "float32", shape: [5, 1]))
        XCTAssertEqual(s.keys["index_2"], .init(dtype: "float64", shape: [5, 1]))
        XCTAssertEqual(s.keys["input_category"]?.shape, [5, 1])
        XCTAssertTrue(s.keys["input_category"]?.dtype.hasPrefix("|S") ?? false)
    }

    func testTruncatedFile() throws {
        let good = try fixture("good")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        // Cut inside the metadata, in the middle, and just before the end: each is one clear error.
        for keep in [bytes.count / 10, bytes.count / 2, bytes.count - 1] {
            let path = dir.appendingPathComponent("truncated-\(keep).h5").path
            try bytes.prefix(keep).write(to: URL(fileURLWithPath: path))
            let r = try CLI.run(["inspect", path])
            assertOneErrorLine(r, mentions: [path])
            XCTAssertTrue(r.stderr.contains("truncated") || r.stderr.contains("corrupt"),
                          "kept \(keep) of \(bytes.count) bytes: \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "no summary for a truncated file")
        }
    }

    func testFileWithoutInputImage() throws {
        let path = try fixture("no_image")
        let r = try CLI.run(["inspect", path])
        assertOneErrorLine(r, mentions: [path, "missing key 'input_image'"])
        XCTAssertEqual(r.stdout, "")
    }

    func testTextKeyOfWrongShape() throws {
        let path = try fixture("bad_text_shape")
        let r = try CLI.run(["inspect", path])
        assertOneErrorLine(r, mentions: [path, "'input_name'", "(5,2)", "expected (N,1)"])
        XCTAssertEqual(r.stdout, "")
    }

    func testMismatchedRowCount() throws {
        let path = try fixture("mismatched_rows")
        let r = try CLI.run(["inspect", path])
        assertOneErrorLine(r, mentions: [path, "'input_brand'", "4 rows", "expected 5"])
    }

    func testMissingFileAndNotHDF5() throws {
        let missing = dir.appendingPathComponent("nope.h5").path
        assertOneErrorLine(try CLI.run(["inspect", missing]), mentions: [missing, "no such file"])

        let text = dir.appendingPathComponent("notes.h5").path
        try Data("just some text\nover two lines\n".utf8).write(to: URL(fileURLWithPath: text))
        assertOneErrorLine(try CLI.run(["inspect", text]), mentions: [text, "not an HDF5 file"])

        assertOneErrorLine(try CLI.run(["inspect", dir.path]), mentions: [dir.path])
    }
}
