// `fashionvl import` on hostile or degenerate tables (issue 14 items 3, 4, 7, 10): image paths leading outside
// --images, product ids whose rows disagree, empty tables, a folder as the table, a missing images folder, line
// numbers shared by CSV and JSONL, an overlong field and columns the schema does not know.
import Foundation
import XCTest

final class ImportReliabilityCLITests: XCTestCase {
    var dir: URL!
    var images: URL { dir.appendingPathComponent("img") }
    var out: String { dir.appendingPathComponent("out/catalog.h5").path }

    override func setUpWithError() throws {
        dir = try CLI.tempDir(prefix: "fvl-cli-import-rel")
        try CLI.python("cli_import_images.py", [images.path])
    }

    override func tearDown() { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func table(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func runImport(_ table: String, images: String? = nil) throws -> CLI.Output {
        try CLI.run(["import", "--images", images ?? self.images.path, "--table", table, "--out", out, "--image-size", "16"])
    }

    static let header = "image_path,product_id,title,description,category,subcategory\n"

    /// Absolute paths, `..` and a symbolic link to a valid image outside the folder: each row is skipped with
    /// its reason; the image is never read.
    func testImagePathsOutsideTheImagesFolderAreRefused() throws {
        let outside = dir.appendingPathComponent("outside.png")
        try FileManager.default.copyItem(at: images.appendingPathComponent("red.png"), to: outside)
        try FileManager.default.createSymbolicLink(atPath: images.appendingPathComponent("link.png").path,
                                                   withDestinationPath: "../outside.png")
        try FileManager.default.createDirectory(at: images.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: images.appendingPathComponent("blue.jpg"),
                                         to: images.appendingPathComponent("sub/blue.jpg"))
        let csv = Self.header + "\(outside.path),1,a,b,TOPS,T\n../outside.png,2,a,b,TOPS,T\nsub/../../outside.png,3,a,b,TOPS,T\n"
            + "link.png,4,a,b,TOPS,T\nsub/blue.jpg,5,a,b,TOPS,T\n"
        let r = try runImport(try table("t.csv", csv))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "wrote \(out): 1 rows imported, 4 skipped\n")
        let real = try XCTUnwrap(URL(fileURLWithPath: outside.path).resolvingSymlinksInPath().path as String?)
        XCTAssertEqual(r.stderrLines, [
            "skipped line 2 (product id 1): \(outside.path): image path is absolute; expected a path relative to --images",
            "skipped line 3 (product id 2): ../outside.png: image path contains '..'; expected a path inside --images",
            "skipped line 4 (product id 3): sub/../../outside.png: image path contains '..'; expected a path inside --images",
            "skipped line 5 (product id 4): link.png: image path leads outside --images (through a symbolic link, to \(real))",
        ])
    }

    /// One product id, two texts: the table is refused naming both lines and the field; the same text on
    /// several rows (poses of one product) imports.
    func testDuplicateProductIDsWithConflictingTextAreRefused() throws {
        let poses = Self.header + "red.png,11,Red tee,Cotton.,TOPS,T-SHIRTS\ngrey.png,11,Red tee,Cotton.,TOPS,T-SHIRTS\n"
        let ok = try runImport(try table("poses.csv", poses))
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout, "wrote \(out): 2 rows imported, 0 skipped\n")
        try FileManager.default.removeItem(atPath: out)

        let path = try table("conflict.csv", poses + "blue.jpg,11,Red tee,Canvas.,BAGS,TOTE BAGS\n")
        let r = try runImport(path)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(r.stderrLines, ["error: \(path): lines 2 and 4 both have product id 11 but different description "
            + "('Cotton.' vs 'Canvas.'); expected one text per product (poses of one product share it); no output written"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertEqual(CLI.files(in: dir.appendingPathComponent("out")), [], "no output, no temp file")
    }

    /// An empty JSONL and a header-only CSV import 0 products with a warning; empty lines of a JSONL still count.
    func testEmptyTablesImportNothingWithAWarning() throws {
        for (name, text) in [("empty.jsonl", ""), ("blank.jsonl", "\n  \n"), ("header.csv", Self.header), ("empty.csv", "")] {
            let path = try table(name, text)
            let r = try runImport(path)
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            XCTAssertEqual(r.stdout, "wrote \(out): 0 rows imported, 0 skipped\n", name)
            XCTAssertEqual(r.stderrLines, ["warning: \(path): the table has no data rows; writing a catalog of 0 products"], name)
            try? FileManager.default.removeItem(atPath: out)
        }
    }

    /// A folder as --table and a missing --images folder: one error line blaming the right argument.
    func testFolderTableAndMissingImagesFolder() throws {
        let folder = dir.appendingPathComponent("table.csv")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        assertOneErrorLine(try runImport(folder.path), mentions: [folder.path, "is a folder, expected a .csv or .jsonl file"])
        let csv = try table("t.csv", Self.header + "red.png,1,a,b,TOPS,T\n")
        let missing = dir.appendingPathComponent("no-images").path
        let r = try runImport(csv, images: missing)
        XCTAssertEqual(r.stderrLines, ["error: \(missing): images folder (--images) does not exist"])
        XCTAssertNotEqual(r.status, 0)
        let file = images.appendingPathComponent("red.png").path
        XCTAssertEqual(try runImport(csv, images: file).stderrLines, ["error: \(file): images folder (--images) is not a folder"])
        // A folder as --out: refused before any image is read, not "rename failed (Is a directory)" at the end.
        let outFolder = dir.appendingPathComponent("out-folder")
        try FileManager.default.createDirectory(at: outFolder, withIntermediateDirectories: true)
        let o = try CLI.run(["import", "--images", images.path, "--table", csv, "--out", outFolder.path, "--image-size", "16"])
        assertOneErrorLine(o, mentions: [outFolder.path, "--out is a folder; expected a file path such as"])
        XCTAssertEqual(CLI.files(in: outFolder), [])
        // A folder named like an image: a reason, not "NSCocoaErrorDomain error 256".
        try FileManager.default.createDirectory(at: images.appendingPathComponent("dir.png"), withIntermediateDirectories: true)
        let d = try runImport(try table("d.csv", Self.header + "dir.png,1,a,b,TOPS,T\nred.png,2,a,b,TOPS,T\n"))
        XCTAssertEqual(d.stderrLines, ["skipped line 2 (product id 1): dir.png: image missing or unreadable (is a folder, expected an image file)"])
    }

    /// "line N" is the line of the file in both formats: a CSV record spanning lines, blank JSONL lines.
    func testLineNumbersAgreeBetweenCSVAndJSONL() throws {
        let csv = Self.header + "red.png,1,a,\"two\nlines\",TOPS,T\n\ncorrupt.jpg,2,a,b,TOPS,T\n"
        let c = try runImport(try table("t.csv", csv))
        XCTAssertEqual(c.stderrLines.count, 1, c.stderr)
        XCTAssertTrue(c.stderrLines.first?.hasPrefix("skipped line 5 (product id 2): corrupt.jpg: image cannot be decoded (") ?? false, c.stderr)
        try FileManager.default.removeItem(atPath: out)
        let jsonl = """
            {"image": "red.png", "id": 1, "title": "a", "description": "b", "category": "TOPS", "subcategory": "T"}

            {"image": "corrupt.jpg", "id": 2, "title": "a", "description": "b", "category": "TOPS", "subcategory": "T"}
            nonsense

            """
        let j = try runImport(try table("t.jsonl", jsonl))
        XCTAssertEqual(j.stderrLines.count, 2, j.stderr)
        XCTAssertTrue(j.stderrLines.first?.hasPrefix("skipped line 3 (product id 2): corrupt.jpg: image cannot be decoded (") ?? false, j.stderr)
        XCTAssertEqual(j.stderrLines.last, "skipped line 4: -: not a JSON object")
    }

    /// A 100,000-character description is imported with one warning naming the line and column (not one per
    /// row); columns the schema does not know are listed once.
    func testLongFieldAndUnknownColumnsAreReportedOnce() throws {
        let long = String(repeating: "x", count: 100_000)
        let csv = "image_path,product_id,title,description,category,subcategory,sku,colour\n"
            + "red.png,1,a,\(long),TOPS,T,A1,red\nblue.jpg,2,b,\(long),BAGS,TOTE,A2,blue\n"
        let path = try table("t.csv", csv)
        let r = try runImport(path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "wrote \(out): 2 rows imported, 0 skipped\n")
        XCTAssertEqual(r.stderrLines, [
            "warning: \(path): columns the schema does not know are not imported: colour, sku",
            "warning: \(path): line 2 (product id 1): column 'description' has 100000 characters (more than 10000); "
                + "imported whole, though the models read only its first tokens (further long fields are not reported)",
        ])
    }
}
