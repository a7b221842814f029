// `fashionvl synth` on a tiny catalog (12 products, 64 px), read back with `fashionvl inspect`; same seed →
// byte-identical files.
import Foundation
import XCTest

final class SynthCLITests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws { dir = try CLI.tempDir(prefix: "fvl-cli-synth") }
    override func tearDown() { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func synth(_ name: String, seed: Int, products: Int = 12) throws -> URL {
        let out = dir.appendingPathComponent(name)
        let r = try CLI.run(["synth", "--out", out.path, "--products", "\(products)", "--image-size", "64", "--seed", "\(seed)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("wrote \(out.path): train "), r.stdout)
        return out
    }

    /// Per split, from attributes.jsonl: products, images and images per category.
    struct Truth { var products = 0, images = 0; var categories: [String: Int] = [:]; var ids: Set<Int> = [] }

    func truth(_ out: URL) throws -> [String: Truth] {
        var result: [String: Truth] = [:]
        let text = try String(contentsOf: out.appendingPathComponent("attributes.jsonl"), encoding: .utf8)
        for line in text.split(separator: "\n") {
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let split = try XCTUnwrap(o["split"] as? String)
            let a = try XCTUnwrap(o["attributes"] as? [String: Any])
            let poses = try XCTUnwrap(a["poses"] as? [Any]).count
            let category = try XCTUnwrap(a["category"] as? String)
            var t = result[split, default: Truth()]
            t.products += 1
            t.images += poses
            t.categories[category, default: 0] += poses
            t.ids.insert(try XCTUnwrap(o["productID"] as? Int))
            result[split] = t
        }
        return result
    }

    func testTinyCatalogThenInspect() throws {
        let out = try synth("cat", seed: 7)
        XCTAssertEqual(CLI.files(in: out), ["attributes.jsonl", "train.h5", "validation.h5"], "no temp files left")
        let t = try truth(out)
        let train = try XCTUnwrap(t["train"]), validation = try XCTUnwrap(t["validation"])
        XCTAssertEqual(train.products + validation.products, 12)
        XCTAssertEqual(validation.products, 2)  // round(12 · 0.13)
        XCTAssertTrue(train.ids.isDisjoint(with: validation.ids), "a product lies in one split")

        let s = try InspectSummary.parse(try CLI.run(["inspect", out.appendingPathComponent("train.h5").path]))
        XCTAssertEqual(s.rows, train.images)
        XCTAssertEqual(s.products, train.products)
        XCTAssertEqual(s.imageSize, 64)
        XCTAssertEqual(s.categories, train.categories)
        XCTAssertEqual(s.subcategories.values.reduce(0, +), s.rows)
        let known: Set<String> = ["TOPS", "SHIRTS", "JACKETS & COATS", "DRESSES", "SKIRTS", "PANTS", "SHOES", "BAGS"]
        XCTAssertTrue(Set(s.categories.keys).isSubset(of: known), "\(s.categories.keys)")
        XCTAssertEqual(Set(s.keys.keys), InspectSummary.allKeys)
        XCTAssertEqual(s.keys["input_image"], .init(dtype: "uint8", shape: [train.images, 64, 64, 3]))

        let v = try InspectSummary.parse(try CLI.run(["inspect", out.appendingPathComponent("validation.h5").path]))
        XCTAssertEqual(v.rows, validation.images)
        XCTAssertEqual(v.categories, validation.categories)
    }

    func testSameSeedGivesByteIdenticalFiles() throws {
        let a = try synth("a", seed: 3), b = try synth("b", seed: 3), c = try synth("c", seed: 4)
        for name in ["train.h5", "validation.h5", "attributes.jsonl"] {
            let da = try Data(contentsOf: a.appendingPathComponent(name))
            XCTAssertFalse(da.isEmpty)
            XCTAssertEqual(da, try Data(contentsOf: b.appendingPathComponent(name)), "\(name) differs between two runs of seed 3")
        }
        // …and the comparison can fail: another seed gives other images.
        XCTAssertNotEqual(try Data(contentsOf: a.appendingPathComponent("train.h5")),
                          try Data(contentsOf: c.appendingPathComponent("train.h5")))
    }

    func testPreviewIsAPNG() throws {
        let out = dir.appendingPathComponent("p")
        let r = try CLI.run(["synth", "--out", out.path, "--products", "3", "--image-size", "64", "--seed", "1", "--preview"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let png = try Data(contentsOf: out.appendingPathComponent("preview.png"))
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }
}
