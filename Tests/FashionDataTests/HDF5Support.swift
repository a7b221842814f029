// Shared helpers of the HDF5 tests: temp folders, running the committed reference scripts with /usr/bin/python3.
import FashionData
import Foundation
import TestSupport
import XCTest

enum HDF5TestSupport {
    static let referenceDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("reference")

    static func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-h5-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs `Tests/reference/<script>` with /usr/bin/python3 and returns its stdout; throws with stderr on failure.
    static func python(_ script: String, _ args: [String]) throws -> String {
        try Reference.run(script, args)
    }

    /// Pixel (row r, y, x, channel c) of the reference fixture: (31 r + 7 y + 3 x + 11 c) % 256.
    static func fixturePixels(row r: Int, size s: Int) -> [UInt8] {
        var out = [UInt8]()
        for y in 0..<s { for x in 0..<s { for c in 0..<3 { out.append(UInt8((31 * r + 7 * y + 3 * x + 11 * c) % 256)) } } }
        return out
    }

    /// Records with latin-1 accents, varied numbers and images following `fixturePixels`.
    static func sampleRecords(count: Int, size: Int) -> [FashionGenRecord] {
        (0..<count).map { i in
            let description = i == 2 ? "" : "Laine mérinos, col roulé. Modèle \(i)."
            let category = i % 2 == 0 ? "TOPS" : "SHOES"
            let subcategory = ["SWEATERS", "BOOTS", "T-SHIRTS"][i % 3]
            let productID = Int64(9000 + i / 2)
            let price = 19.25 * Double(i + 1)
            return FashionGenRecord(
                image: fixturePixels(row: i, size: size), name: "Pull côtelé n°\(i)", description: description,
                category: category, subcategory: subcategory, brand: "Maison Noé", composition: "100% laine",
                department: "CLOTHING", gender: "WOMEN", season: "FW18", pose: "id_gridfs_\(i % 4 + 1)",
                productID: productID, msrpUSD: price, index: Int64(i), index2: Int64(1000 + i))
        }
    }

    static func write(_ records: [FashionGenRecord], to path: String, size: Int, gzip: Int? = nil) throws {
        let writer = try FashionGenWriter(path: path, imageSize: size, gzipLevel: gzip)
        for r in records { try writer.append(r) }
        try writer.finish()
    }
}
