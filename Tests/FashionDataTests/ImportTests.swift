import Foundation
import XCTest
@testable import FashionData

/// `fashionvl import`: CSV/JSONL tables, bad rows reported and skipped, missing columns refused.
final class ImportTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-import-\(getpid())-\(name.hashValue)").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/img", withIntermediateDirectories: true)
        try RGBImage(width: 4, height: 2, fill: (200, 10, 10)).writePNG(to: dir + "/img/red.png")
        try RGBImage(width: 3, height: 3, fill: (0, 0, 200)).writePNG(to: dir + "/img/blue.png")
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/img/broken.jpg"))
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func testCSVHappyPathAndEveryBadRowKind() throws {
        var csv: [UInt8] = [0xEF, 0xBB, 0xBF]  // BOM
        csv += Array("image_path,product_id,title,description,category,subcategory,brand\r\n".utf8)
        csv += Array("red.png,11,\"Red tee, \"\"classic\"\"\",\"Soft cotton.\r\nTwo lines.\",TOPS,T-SHIRTS,Acme\r\n".utf8)
        csv += Array("missing.png,12,Gone,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        csv += Array("broken.jpg,13,Broken,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        csv += Array("blue.png,14,Bad ".utf8) + [0xFF, 0xFE] + Array(" text,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        csv += Array("blue.png,abc,Blue,x,TOPS,T-SHIRTS,Acme\r\n".utf8)
        csv += Array("blue.png,15,Caf\u{E9} \u{201C}blue\u{201D},d,BAGS,TOTE BAGS,\r\n".utf8)
        let table = write("t.csv", csv)
        let out = dir + "/out.h5"
        var reported: [CatalogImport.Issue] = []
        let result = try CatalogImport(imagesDir: dir + "/img", table: table, out: out, imageSize: 8).run { reported.append($0) }
        XCTAssertEqual(result.imported, 2)
        XCTAssertEqual(reported, result.skipped)
        XCTAssertEqual(result.skipped.map(\.line), [4, 5, 6, 7], "lines of the file; the first record spans lines 2–3")
        XCTAssertEqual(result.skipped.map(\.file), ["missing.png", "broken.jpg", "blue.png", "blue.png"])
        XCTAssertTrue(result.skipped[0].reason.contains("missing or unreadable"), result.skipped[0].reason)
        XCTAssertTrue(result.skipped[1].reason.contains("cannot be decoded"), result.skipped[1].reason)
        XCTAssertTrue(result.skipped[2].reason.contains("UTF-8"), result.skipped[2].reason)
        XCTAssertTrue(result.skipped[3].reason.contains("not an integer"), result.skipped[3].reason)

        let f = try FashionGenFile(path: out)
        XCTAssertEqual(f.count, 2)
        XCTAssertEqual(try f.names, ["Red tee, \"classic\"", "Caf\u{E9} \"blue\""])
        XCTAssertEqual(try f.descriptions[0], "Soft cotton.\r\nTwo lines.")
        XCTAssertEqual(try f.productIDs, [11, 15])
        XCTAssertEqual(try f.subcategories, ["T-SHIRTS", "TOTE BAGS"])
        XCTAssertEqual(try f.strings("input_brand"), ["Acme", ""])
        // 4×2 red padded to 4×4 on white (rows 1–2 red), resized to 8×8: top row white, middle red.
        let img = try f.image(0)
        XCTAssertEqual(Array(img[0..<3]), [255, 255, 255])
        XCTAssertEqual(Array(img[(4 * 8 + 4) * 3..<((4 * 8 + 4) * 3 + 3)]), [200, 10, 10])
    }

    func testJSONL() throws {
        let lines = """
        {"image": "red.png", "product_id": 21, "title": "Red", "description": "d", "category": "TOPS", "subcategory": "T-SHIRTS", "msrpUSD": 49.5}
        not json
        {"image": "blue.png", "product_id": "22", "title": "Blue", "description": "d", "category": "TOPS", "subcategory": "T-SHIRTS", "gender": "MEN"}
        """
        let table = write("t.jsonl", Array(lines.utf8))
        let out = dir + "/j.h5"
        let result = try CatalogImport(imagesDir: dir + "/img", table: table, out: out, imageSize: 16).run()
        XCTAssertEqual(result.imported, 2)
        XCTAssertEqual(result.skipped.map(\.line), [2])
        let f = try FashionGenFile(path: out)
        XCTAssertEqual(try f.productIDs, [21, 22])
        XCTAssertEqual(try f.prices, [49.5, 0])
        XCTAssertEqual(try f.strings("input_gender"), ["", "MEN"])
    }

    func testMissingColumnIsRefusedUpFrontAndNothingIsWritten() throws {
        let table = write("bad.csv", Array("image_path,product_id,title,description,category\nred.png,1,a,b,TOPS\n".utf8))
        let out = dir + "/never.h5"
        XCTAssertThrowsError(try CatalogImport(imagesDir: dir + "/img", table: table, out: out, imageSize: 8).run()) { error in
            XCTAssertEqual(error as? CatalogImportError, .missingColumn(file: table, column: "subcategory"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tmp") }
        XCTAssertEqual(leftovers, [])
    }

    func testNoUsableRowLeavesNoOutput() throws {
        let table = write("none.csv", Array("image_path,product_id,title,description,category,subcategory\nmissing.png,1,a,b,c,d\n".utf8))
        let out = dir + "/none.h5"
        XCTAssertThrowsError(try CatalogImport(imagesDir: dir + "/img", table: table, out: out, imageSize: 8).run()) { error in
            XCTAssertEqual(error as? CatalogImportError, .noRows(file: table))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tmp") }, [])
    }

    func testUnterminatedQuoteAndUnknownExtension() throws {
        let table = write("q.csv", Array("image_path,product_id,title,description,category,subcategory\nred.png,1,\"open,b,c,d,e\n".utf8))
        XCTAssertThrowsError(try CatalogTable(file: table)) { error in
            guard case .malformedTable? = error as? CatalogImportError else { return XCTFail("\(error)") }
        }
        let other = write("t.xlsx", [1, 2, 3])
        XCTAssertThrowsError(try CatalogTable(file: other)) { error in
            XCTAssertEqual(error as? CatalogImportError, .unsupportedTable(file: other))
        }
    }
}
