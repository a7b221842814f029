// Fashion-Gen HDF5: files written by h5py read exactly; files FashionVL writes read exactly in h5py and are
// byte-identical for the same records; every kind of bad file gives its own typed error.
import FashionData
import Foundation
import XCTest

final class HDF5Tests: XCTestCase {
    private typealias T = HDF5TestSupport

    private func fixture(_ variant: String) throws -> String {
        let path = try T.tempDir().appendingPathComponent("\(variant).h5").path
        _ = try T.python("h5_make_fixture.py", [path, variant])
        return path
    }

    func testReadsH5pyFixtureExactly() throws {
        let path = try fixture("good")
        let f = try FashionGenFile(path: path)
        XCTAssertEqual(f.count, 5)
        XCTAssertEqual(f.imageSize, 8)
        XCTAssertEqual(f.keys["input_productID"]?.dtype, "int32")
        XCTAssertEqual(f.keys["input_msrpUSD"]?.dtype, "float32")
        XCTAssertEqual(f.keys["index_2"]?.dtype, "float64")
        XCTAssertEqual(f.keys["input_name"]?.dtype, "|S15")
        XCTAssertEqual(f.keys["input_image"]?.shape, [5, 8, 8, 3])
        XCTAssertEqual(try f.names, ["Crème T-shirt", "Blouson en cuir", "Jupe plissée", "Bottes à lacets", "Sac fourre-tout"])
        XCTAssertEqual(try f.descriptions, ["Coton biologique, col rond.", "Cuir d'agneau; fermeture éclair.",
                                            "Taille haute, doublée.", "Semelle crantée.", ""])
        XCTAssertEqual(try f.categories, ["TOPS", "JACKETS & COATS", "SKIRTS", "SHOES", "BAGS"])
        XCTAssertEqual(try f.subcategories[1], "LEATHER JACKETS")
        XCTAssertEqual(try f.productIDs, [1001, 1001, 2002, 3003, 4004])
        XCTAssertEqual(try f.prices, [49.5, 49.5, 120.25, 310.0, 75.75])
        XCTAssertEqual(try f.integers("index_2"), [100, 101, 102, 103, 104])
        for row in 0..<5 { XCTAssertEqual(try f.image(row), T.fixturePixels(row: row, size: 8), "row \(row)") }

        let r = try f.record(3)
        XCTAssertEqual(r.name, "Bottes à lacets")
        XCTAssertEqual(r.concatDescription, "Bottes à lacets Semelle crantée.")
        XCTAssertEqual(r.brand, "Maison Noé")
        XCTAssertEqual(r.gender, "MEN")
        XCTAssertEqual(r.pose, "id_gridfs_1")
        XCTAssertEqual(r.productID, 3003)
        XCTAssertEqual(r.msrpUSD, 310.0)
        XCTAssertEqual(r.index, 3)
        XCTAssertEqual(r.index2, 103)
        XCTAssertEqual(try f.strings("input_name", 1..<3), ["Blouson en cuir", "Jupe plissée"])

        var buffer = [UInt8](repeating: 0, count: 2 * 8 * 8 * 3)
        try buffer.withUnsafeMutableBytes { try f.readImages(2..<4, into: $0) }
        XCTAssertEqual(buffer, T.fixturePixels(row: 2, size: 8) + T.fixturePixels(row: 3, size: 8))
        XCTAssertThrowsError(try f.image(5)) {
            XCTAssertEqual($0 as? FashionGenError, .rowOutOfRange(file: path, row: 5, count: 5))
        }
    }

    func testConcurrentReadsMatchSequential() throws {
        let f = try FashionGenFile(path: try fixture("good"))
        let expected = (0..<5).map { T.fixturePixels(row: $0, size: 8) }
        let lock = NSLock()
        var mismatches = 0
        DispatchQueue.concurrentPerform(iterations: 200) { i in
            let ok = (try? f.image(i % 5)) == expected[i % 5] && (try? f.record(i % 5).productID) != nil
            if !ok { lock.lock(); mismatches += 1; lock.unlock() }
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testWrittenFileReadsBackInH5pyAndHere() throws {
        let dir = try T.tempDir()
        let path = dir.appendingPathComponent("out.h5").path
        let records = T.sampleRecords(count: 7, size: 8)
        try T.write(records, to: path, size: 8, gzip: 4)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["out.h5"], "temp file left")

        let json = try T.python("h5_read_back.py", [path])
        let decoded = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let h5py = try XCTUnwrap(decoded)
        XCTAssertEqual(h5py["input_name"] as? [String], records.map(\.name))
        XCTAssertEqual(h5py["input_description"] as? [String], records.map(\.description))
        XCTAssertEqual(h5py["input_concat_description"] as? [String], records.map(\.concatDescription))
        XCTAssertEqual(h5py["input_subcategory"] as? [String], records.map(\.subcategory))
        XCTAssertEqual(h5py["input_pose"] as? [String], records.map(\.pose))
        XCTAssertEqual(h5py["input_productID"] as? [Int], records.map { Int($0.productID) })
        XCTAssertEqual(h5py["input_msrpUSD"] as? [Double], records.map(\.msrpUSD))
        XCTAssertEqual(h5py["index_2"] as? [Int], records.map { Int($0.index2) })
        XCTAssertEqual(h5py["input_image"] as? [[Int]], records.map { $0.image.map(Int.init) })
        let keys = try XCTUnwrap(h5py["keys"] as? [String: [Any]])
        XCTAssertEqual(keys.count, 16)
        XCTAssertEqual(keys["input_name"]?.first as? String, "|S\(Latin1Width.of(records.map(\.name)))")
        XCTAssertEqual(keys["input_image"]?.last as? [Int], [7, 8, 8, 3])
        XCTAssertEqual(keys["input_msrpUSD"]?.first as? String, "<f8")

        let f = try FashionGenFile(path: path)
        XCTAssertEqual(try (0..<7).map { try f.record($0) }, records)
    }

    func testSameRecordsGiveByteIdenticalFiles() throws {
        let dir = try T.tempDir()
        let records = T.sampleRecords(count: 6, size: 16)
        for gzip in [nil, 6] as [Int?] {
            let a = dir.appendingPathComponent("a.h5").path, b = dir.appendingPathComponent("b.h5").path
            try T.write(records, to: a, size: 16, gzip: gzip)
            Thread.sleep(forTimeInterval: 1.1)  // a timestamp, if one were written, would differ
            try T.write(records, to: b, size: 16, gzip: gzip)
            let da = try Data(contentsOf: URL(fileURLWithPath: a)), db = try Data(contentsOf: URL(fileURLWithPath: b))
            XCTAssertGreaterThan(da.count, 6 * 16 * 16 * 3 / (gzip == nil ? 1 : 50))
            XCTAssertEqual(da, db, "gzip \(String(describing: gzip))")
        }
    }

    func testEmptyFileAndCancelLeaveNothingHalfWritten() throws {
        let dir = try T.tempDir()
        let empty = dir.appendingPathComponent("empty.h5").path
        try T.write([], to: empty, size: 4)
        let f = try FashionGenFile(path: empty)
        XCTAssertEqual(f.count, 0)
        XCTAssertEqual(try f.names, [])

        let cancelled = dir.appendingPathComponent("cancelled.h5").path
        let writer = try FashionGenWriter(path: cancelled, imageSize: 8)
        try writer.append(T.sampleRecords(count: 1, size: 8)[0])
        writer.cancel()
        XCTAssertThrowsError(try writer.append(T.sampleRecords(count: 1, size: 8)[0])) {
            XCTAssertEqual($0 as? FashionGenError, .writerClosed(file: cancelled))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["empty.h5"])
    }

    func testBadRecordsAreRejected() throws {
        let dir = try T.tempDir()
        let path = dir.appendingPathComponent("bad.h5").path
        let writer = try FashionGenWriter(path: path, imageSize: 8)
        var r = T.sampleRecords(count: 1, size: 4)[0]
        XCTAssertThrowsError(try writer.append(r)) {
            XCTAssertEqual($0 as? FashionGenError, .badRecord(file: path, key: "input_image", row: 0,
                                                              expected: "192 bytes (8×8×3), got 48"))
        }
        r = T.sampleRecords(count: 1, size: 8)[0]
        r.name = "Robe “fleurie”"
        XCTAssertThrowsError(try writer.append(r)) {
            XCTAssertEqual($0 as? FashionGenError, .badRecord(file: path, key: "input_name", row: 0, expected: "latin-1 text"))
        }
        writer.cancel()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testWriterIntoMissingFolderFailsCleanly() throws {
        let path = try T.tempDir().appendingPathComponent("no/such/folder/out.h5").path
        XCTAssertThrowsError(try FashionGenWriter(path: path, imageSize: 8)) { error in
            guard case let .io(file, key, operation, _)? = error as? FashionGenError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, path)
            XCTAssertEqual(key, "")
            XCTAssertTrue(operation.hasPrefix("create "), operation)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    // MARK: Bad files

    func testTruncatedFile() throws {
        let path = try fixture("good")
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(size / 2))
        try handle.close()
        XCTAssertThrowsError(try FashionGenFile(path: path)) { error in
            guard case let .corrupt(file, detail)? = error as? FashionGenError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, path)
            XCTAssertTrue(detail.contains("truncated"), detail)
        }
    }

    func testMissingImageKey() throws {
        let path = try fixture("no_image")
        XCTAssertThrowsError(try FashionGenFile(path: path)) {
            XCTAssertEqual($0 as? FashionGenError, .missingKey(file: path, key: "input_image"))
        }
    }

    func testTextKeyOfWrongShape() throws {
        let path = try fixture("bad_text_shape")
        XCTAssertThrowsError(try FashionGenFile(path: path)) {
            XCTAssertEqual($0 as? FashionGenError, .badShape(file: path, key: "input_name", expected: "(N,1)", actual: "(5,2)"))
        }
    }

    func testMismatchedRowCounts() throws {
        let path = try fixture("mismatched_rows")
        XCTAssertThrowsError(try FashionGenFile(path: path)) {
            XCTAssertEqual($0 as? FashionGenError, .rowCountMismatch(file: path, key: "input_brand", expected: 5, actual: 4))
        }
    }

    func testNonHDF5AndMissingFiles() throws {
        let dir = try T.tempDir()
        let path = dir.appendingPathComponent("notes.h5").path
        try Data("not an hdf5 file\n".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try FashionGenFile(path: path)) {
            XCTAssertEqual($0 as? FashionGenError, .notHDF5(file: path))
            XCTAssertEqual("\($0)", "\(path): not an HDF5 file")
        }
        let missing = dir.appendingPathComponent("nope.h5").path
        XCTAssertThrowsError(try FashionGenFile(path: missing)) {
            XCTAssertEqual($0 as? FashionGenError, .unreadable(file: missing, reason: "no such file"))
        }
    }
}

private enum Latin1Width {
    static func of(_ values: [String]) -> Int { values.map(\.unicodeScalars.count).max() ?? 1 }
}
