import Foundation
import XCTest
@testable import FashionData

/// The synthetic catalog: determinism, splits, text grounded in the attributes, images that show a garment.
final class SyntheticCatalogTests: XCTestCase {
    func tempDir(_ tag: String) -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-synth-\(tag)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: d)
        return d
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func testRNGIsPinned() {
        // xoshiro256** seeded by SplitMix64(0): pins the stream every generated file depends on.
        var rng = SeededRNG(seed: 0)
        let first = (0..<3).map { _ in rng.next() }
        var again = SeededRNG(seed: 0)
        XCTAssertEqual(first, (0..<3).map { _ in again.next() })
        var other = SeededRNG(seed: 1)
        XCTAssertNotEqual(first[0], other.next())
        var r = SeededRNG(seed: 42)
        for _ in 0..<1000 { XCTAssert((3...7).contains(r.int(3...7))) }
    }

    func testSameSeedSameBytesDifferentSeedDifferent() throws {
        let a = tempDir("a"), b = tempDir("b"), c = tempDir("c")
        defer { for d in [a, b, c] { try? FileManager.default.removeItem(atPath: d) } }
        let config = SyntheticCatalog.Config(products: 24, imageSize: 64, seed: 7)
        try SyntheticCatalog(config).write(to: a)
        try SyntheticCatalog(config).write(to: b, chunk: 5)  // chunking must not change the bytes
        var other = config
        other.seed = 8
        try SyntheticCatalog(other).write(to: c)
        for name in ["train.h5", "validation.h5", "attributes.jsonl"] {
            XCTAssertEqual(try bytes("\(a)/\(name)"), try bytes("\(b)/\(name)"), name)
            XCTAssertNotEqual(try bytes("\(a)/\(name)"), try bytes("\(c)/\(name)"), name)
        }
    }

    func testSplitsAreByProductAndFilesMatchTheSummary() throws {
        let dir = tempDir("split")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let catalog = try SyntheticCatalog(.init(products: 100, imageSize: 64, seed: 3))
        let summary = try catalog.write(to: dir, preview: true)
        XCTAssertEqual(summary.validationProducts, 13)
        XCTAssertEqual(summary.trainProducts, 87)
        let train = try FashionGenFile(path: dir + "/train.h5"), validation = try FashionGenFile(path: dir + "/validation.h5")
        XCTAssertEqual(train.count, summary.trainImages)
        XCTAssertEqual(validation.count, summary.validationImages)
        XCTAssertEqual(train.imageSize, 64)
        let trainIDs = Set(try train.productIDs), validationIDs = Set(try validation.productIDs)
        XCTAssertTrue(trainIDs.isDisjoint(with: validationIDs))
        XCTAssertEqual(trainIDs.count + validationIDs.count, 100)
        let lines = try String(contentsOfFile: dir + "/attributes.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 100)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/preview.png"))
        // Rows of one product carry the same text, and 1–4 poses.
        let ids = try train.productIDs, names = try train.names
        var byProduct: [Int64: Set<String>] = [:]
        for (id, name) in zip(ids, names) { byProduct[id, default: []].insert(name) }
        XCTAssertTrue(byProduct.values.allSatisfy { $0.count == 1 })
        XCTAssertTrue(catalog.products.allSatisfy { (1...4).contains($0.poses.count) && $0.poses.first == .front })
    }

    func testCatalogCoversCategoriesAndColours() throws {
        let catalog = try SyntheticCatalog(.init(products: 600, imageSize: 64, seed: 11, difficulty: .hard))
        XCTAssertEqual(Set(catalog.products.map(\.category.rawValue)).count, 8)
        XCTAssertGreaterThanOrEqual(Set(catalog.products.map(\.subcategory.rawValue)).count, 25)
        XCTAssertGreaterThanOrEqual(Set(catalog.products.map(\.colour.name)).count, 16)
        XCTAssertGreaterThanOrEqual(Set(catalog.products.map(\.pattern.rawValue)).count, 9)
        let easy = try SyntheticCatalog(.init(products: 300, imageSize: 64, seed: 11, difficulty: .easy))
        XCTAssertLessThanOrEqual(Set(easy.products.map(\.colour.name)).count, 8)
    }

    func testTextNamesTheGroundTruth() throws {
        let catalog = try SyntheticCatalog(.init(products: 300, imageSize: 64, seed: 5))
        for (i, p) in catalog.products.enumerated() {
            let (title, description) = catalog.text(of: i)
            XCTAssertTrue(title.contains(p.colour.name), "\(title) should name \(p.colour.name)")
            XCTAssertTrue(title.hasSuffix(p.subcategory.nouns[0]), title)
            if let adj = p.pattern.adjective { XCTAssertTrue(title.contains(adj), "\(title) should say \(adj)") }
            let sentences = description.split(separator: ".").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            XCTAssertTrue((2...6).contains(sentences.count), description)  // "2–5 sentences"; a fact may hold two
            XCTAssertTrue(description.contains(p.colour.name) || description.lowercased().contains(p.colour.name), description)
            if p.closure == .buttons, description.contains("button fastening") || description.contains("Fastens with") {
                XCTAssertTrue(description.lowercased().contains(CatalogText.numberWord(p.buttons)), description)
            }
            XCTAssertNotNil(title.data(using: .isoLatin1))
        }
    }

    func testRenderShowsAGarmentOnAStudioBackground() throws {
        let catalog = try SyntheticCatalog(.init(products: 40, imageSize: 64, seed: 9))
        let renderer = CatalogRenderer(size: 64)
        var masks: [String: [Bool]] = [:]
        for p in catalog.products {
            let img = renderer.render(p, pose: .front)
            // Corners are the light studio background.
            for (x, y) in [(0, 0), (63, 0), (0, 63)] { XCTAssertGreaterThan(img.value(x: x, y: y, channel: 1), 200) }
            let px = img.pixels.map { Int($0) }
            var mask = [Bool](repeating: false, count: 64 * 64)
            for i in 0..<(64 * 64) {
                let dr = abs(px[i * 3] - px[0]), db = abs(px[i * 3 + 2] - px[2])
                mask[i] = dr + db > 24
            }
            let covered = mask.filter { $0 }.count
            if p.colour.name != "white" && p.colour.name != "cream" {
                XCTAssertGreaterThan(covered, 64 * 64 / 40, "\(p.subcategory) in \(p.colour.name) should cover the frame")
            }
            masks[p.subcategory.rawValue] = mask
        }
        // Different subcategories have different silhouettes.
        let keys = masks.keys.sorted()
        XCTAssertGreaterThan(keys.count, 10)
        XCTAssertNotEqual(masks[keys[0]], masks[keys[1]])
    }

    func testRejectsBadConfig() {
        XCTAssertThrowsError(try SyntheticCatalog(.init(products: 0)))
        XCTAssertThrowsError(try SyntheticCatalog(.init(products: 5, imageSize: 2)))
    }
}
