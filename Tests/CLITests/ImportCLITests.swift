// `fashionvl import`: images + CSV/JSONL → a Fashion-Gen HDF5 file. Bad rows are reported ("skipped line N
// (product id P): FILE: reason", N a line of the table file, one line each) and skipped, exit 0 when other rows import; a bad table is refused up front
// with one error line and no output. Images: Tests/reference/cli_import_images.py (Pillow).
import Foundation
import XCTest

final class ImportCLITests: XCTestCase {
    var dir: URL!
    var images: URL { dir.appendingPathComponent("img") }
    var outDir: URL { dir.appendingPathComponent("out") }
    var out: String { outDir.appendingPathComponent("catalog.h5").path }

    override func setUpWithError() throws {
        dir = try CLI.tempDir(prefix: "fvl-cli-import")
        try CLI.python("cli_import_images.py", [images.path])
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
    }

    override func tearDown() { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func table(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func runImport(_ table: String) throws -> CLI.Output {
        try CLI.run(["import", "--images", images.path, "--table", table, "--out", out, "--image-size", "16"])
    }

    static let header = "image_path,product_id,title,description,category,subcategory,brand\r\n"

    func testCSVWithBOMAndCRLFThenInspect() throws {
        var csv: [UInt8] = [0xEF, 0xBB, 0xBF]
        csv += Array(Self.header.utf8)
        csv += Array("red.png,11,\"Red tee, \"\"classic\"\"\",\"Soft cotton.\r\nTwo lines.\",TOPS,T-SHIRTS,Acme\r\n".utf8)
        // A second pose of product 11: same product text (rows sharing an id must share it).
        csv += Array("grey.png,11,\"Red tee, \"\"classic\"\"\",\"Soft cotton.\r\nTwo lines.\",TOPS,T-SHIRTS,Acme\r\n".utf8)
        csv += Array("blue.jpg,12,Caf\u{E9} tote,Canvas.,BAGS,TOTE BAGS,\r\n".utf8)
        let r = try runImport(try table("catalog.csv", csv))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        XCTAssertEqual(r.stdout, "wrote \(out): 3 rows imported, 0 skipped\n")
        XCTAssertEqual(CLI.files(in: outDir), ["catalog.h5"])

        let s = try InspectSummary.parse(try CLI.run(["inspect", out]))
        XCTAssertEqual(s.rows, 3)
        XCTAssertEqual(s.products, 2)
        XCTAssertEqual(s.imageSize, 16)
        XCTAssertEqual(s.categories, ["TOPS": 2, "BAGS": 1])
        XCTAssertEqual(s.subcategories, ["T-SHIRTS": 2, "TOTE BAGS": 1])
        XCTAssertEqual(Set(s.keys.keys), InspectSummary.allKeys)
        XCTAssertEqual(s.keys["input_image"], .init(dtype: "uint8", shape: [3, 16, 16, 3]))
    }

    func testJSONLHappyPath() throws {
        let jsonl = """
            {"image": "blue.jpg", "id": 7, "name": "Blue bag", "description": "Canvas.", "category": "BAGS", "subcategory": "TOTE BAGS"}
            {"image": "red.png", "id": 8, "name": "Red tee", "description": "Cotton.", "category": "TOPS", "subcategory": "T-SHIRTS", "season": "SS18"}

            """
        let r = try runImport(try table("catalog.jsonl", Array(jsonl.utf8)))
        XCTAssertEqual(r.status, 0, r.stderr)
        let s = try InspectSummary.parse(try CLI.run(["inspect", out]))
        XCTAssertEqual(s.rows, 2)
        XCTAssertEqual(s.categories, ["BAGS": 1, "TOPS": 1])
    }

    func testCorruptJPEGIsReportedAndSkipped() throws {
        var csv = Array(Self.header.utf8)
        csv += Array("red.png,11,Red tee,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        csv += Array("corrupt.jpg,12,Broken,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        csv += Array("missing.png,13,Gone,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        csv += Array("blue.jpg,14,Blue,x,BAGS,TOTE BAGS,Acme\r\n".utf8)
        let r = try runImport(try table("catalog.csv", csv))
        XCTAssertEqual(r.status, 0, "other rows imported, so the import succeeds: \(r.stderr)")
        XCTAssertEqual(r.stdout, "wrote \(out): 2 rows imported, 2 skipped\n")
        let lines = r.stderrLines
        XCTAssertEqual(lines.count, 2, "one line per skipped row: \(r.stderr)")
        guard lines.count == 2 else { return }
        XCTAssertTrue(lines[0].hasPrefix("skipped line 3 (product id 12): corrupt.jpg: image cannot be decoded ("), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("skipped line 4 (product id 13): missing.png: image missing or unreadable ("), lines[1])
        XCTAssertEqual(try InspectSummary.parse(try CLI.run(["inspect", out])).rows, 2)
    }

    func testNothingImportedLeavesNoFile() throws {
        var csv = Array(Self.header.utf8)
        csv += Array("corrupt.jpg,12,Broken,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        let path = try table("catalog.csv", csv)
        let r = try runImport(path)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "")
        let lines = r.stderrLines
        XCTAssertEqual(lines.count, 2, r.stderr)
        XCTAssertTrue(lines.first?.hasPrefix("skipped line 2 (product id 12): corrupt.jpg: image cannot be decoded") ?? false, r.stderr)
        XCTAssertEqual(lines.last, "error: \(path): no row could be imported; no output written")
        XCTAssertEqual(CLI.files(in: outDir), [], "no output and no temp file")
    }

    func testInvalidUTF8RowIsReportedAndSkipped() throws {
        var csv = Array(Self.header.utf8)
        csv += Array("red.png,11,Red tee,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        csv += Array("blue.jpg,12,Bad ".utf8) + [0xFF, 0xFE, 0xC3] + Array(" title,x,BAGS,TOTE BAGS,Acme\r\n".utf8)
        csv += Array("grey.png,13,Grey tee,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        let r = try runImport(try table("catalog.csv", csv))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "wrote \(out): 2 rows imported, 1 skipped\n")
        XCTAssertEqual(r.stderrLines, ["skipped line 3 (product id 12): blue.jpg: field 'title' is not valid UTF-8"])
        let s = try InspectSummary.parse(try CLI.run(["inspect", out]))
        XCTAssertEqual(s.rows, 2)
        XCTAssertEqual(s.categories, ["TOPS": 2])

        // The same in a JSONL table: the line cannot be parsed, so it is reported without a file name.
        let jsonl = Array(#"{"image": "red.png", "id": 1, "title": "a", "description": "", "category": "TOPS", "subcategory": "T-SHIRTS"}"#.utf8)
            + [0x0A] + Array(#"{"image": "blue.jpg", "id": 2, "title": "b"#.utf8) + [0xFF]
            + Array(#"", "description": "", "category": "BAGS", "subcategory": "TOTE BAGS"}"#.utf8) + [0x0A]
        try FileManager.default.removeItem(atPath: out)
        let j = try runImport(try table("catalog.jsonl", jsonl))
        XCTAssertEqual(j.status, 0, j.stderr)
        XCTAssertEqual(j.stderrLines, ["skipped line 2: -: line is not valid UTF-8"])
        XCTAssertEqual(try InspectSummary.parse(try CLI.run(["inspect", out])).rows, 1)
    }

    func testMissingRequiredColumnIsRefusedUpFront() throws {
        var csv = Array("image_path,product_id,title,description,category,brand\r\n".utf8)  // no subcategory
        csv += Array("red.png,11,Red tee,x,TOPS,Acme\r\n".utf8)
        let path = try table("catalog.csv", csv)
        let r = try runImport(path)
        assertOneErrorLine(r, mentions: [path, "missing required column 'subcategory'"])
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(CLI.files(in: outDir), [], "no output file")

        let jsonl = #"{"image": "red.png", "title": "a", "description": "", "category": "TOPS", "subcategory": "T-SHIRTS"}"#
        let jpath = try table("catalog.jsonl", Array(jsonl.utf8))
        assertOneErrorLine(try runImport(jpath), mentions: [jpath, "missing required column 'product_id'"])
        XCTAssertEqual(CLI.files(in: outDir), [])
    }

    func testUnwritableOutputIsOneErrorLine() throws {
        var csv = Array(Self.header.utf8)
        csv += Array("red.png,11,Red tee,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        let csvPath = try table("catalog.csv", csv)
        // A folder that cannot exist: its parent is a regular file.
        let bad = dir.appendingPathComponent("catalog.csv/sub/catalog.h5").path
        let r = try CLI.run(["import", "--images", images.path, "--table", csvPath, "--out", bad, "--image-size", "16"])
        assertOneErrorLine(r, mentions: [bad, "create its folder"])
        XCTAssertEqual(r.stdout, "")
        // A folder without write permission: libhdf5's open error embeds ctime() text, newline included, and the
        // command must still print one line (root ignores permissions, so only check when they bite).
        let locked = dir.appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: locked.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: locked.path) }
        if access(locked.path, W_OK) != 0 {
            let lockedOut = locked.appendingPathComponent("catalog.h5").path
            let r2 = try CLI.run(["import", "--images", images.path, "--table", csvPath, "--out", lockedOut,
                                  "--image-size", "16"])
            assertOneErrorLine(r2, mentions: [lockedOut])
        }
    }

    func testMissingOutputFolderIsCreated() throws {
        var csv = Array(Self.header.utf8)
        csv += Array("red.png,11,Red tee,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        let nested = dir.appendingPathComponent("new/deeper/catalog.h5").path
        let r = try CLI.run(["import", "--images", images.path, "--table", try table("catalog.csv", csv), "--out",
                             nested, "--image-size", "16"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "wrote \(nested): 1 rows imported, 0 skipped\n")
        XCTAssertEqual(CLI.files(in: dir.appendingPathComponent("new/deeper")), ["catalog.h5"])
    }

    func testUnreadableOrUnsupportedTable() throws {
        let missing = dir.appendingPathComponent("nope.csv").path
        assertOneErrorLine(try runImport(missing), mentions: [missing, "cannot read table"])
        let xlsx = try table("catalog.xlsx", Array("whatever".utf8))
        assertOneErrorLine(try runImport(xlsx), mentions: [xlsx, ".csv or .jsonl"])
        XCTAssertEqual(CLI.files(in: outDir), [])
    }
}
