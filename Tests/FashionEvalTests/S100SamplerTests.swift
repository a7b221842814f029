import FashionData
import XCTest
@testable import FashionEval

final class S100SamplerTests: XCTestCase {
    /// Category A: subcategories big (150 products), mid (40), small (30). Category B: tiny (5).
    /// Product ids 1000…, 1–3 rows each, rows interleaved so row order ≠ product order.
    static func catalog() throws -> (S100Sampler, sub: [Int64: String], cat: [Int64: String], rowsOf: [Int64: Set<Int>]) {
        var groups: [(String, String, Int)] = [("big", "A", 150), ("mid", "A", 40), ("small", "A", 30), ("tiny", "B", 5)]
        groups.reverse()
        var ids: [Int64] = [], subs: [String] = [], cats: [String] = []
        var sub: [Int64: String] = [:], cat: [Int64: String] = [:]
        var next: Int64 = 1000
        for (s, c, n) in groups {
            for _ in 0..<n {
                sub[next] = s; cat[next] = c
                next += 1
            }
        }
        // Rows: pass 1 gives every product one row (descending ids), pass 2 a second row to every other product,
        // pass 3 a third to every fifth.
        let all = sub.keys.sorted(by: >)
        for (pass, keep) in [(0, 1), (1, 2), (2, 5)] {
            _ = pass
            for (i, id) in all.enumerated() where i % keep == 0 {
                ids.append(id); subs.append(sub[id]!); cats.append(cat[id]!)
            }
        }
        var rowsOf: [Int64: Set<Int>] = [:]
        for (row, id) in ids.enumerated() { rowsOf[id, default: []].insert(row) }
        return (try S100Sampler(productIDs: ids, subcategories: subs, categories: cats), sub, cat, rowsOf)
    }

    func testNegativesComeFromTheSubcategoryAndNeverTheQueryProduct() throws {
        let (sampler, sub, _, rowsOf) = try Self.catalog()
        XCTAssertEqual(sampler.products.count, 225)
        for direction in RetrievalDirection.allCases {
            let draw = try sampler.draw(direction, seed: 3, queries: 225)
            XCTAssertEqual(draw.queries.count, 225)
            XCTAssertEqual(Set(draw.queries.map(\.queryProduct)).count, 225, "queries are distinct products")
            for q in draw.queries {
                XCTAssertEqual(q.candidateProducts.count, 101)
                XCTAssertEqual(q.candidateProducts[q.positiveIndex], q.queryProduct)
                let negatives = q.candidateProducts.enumerated().filter { $0.offset != q.positiveIndex }.map(\.element)
                XCTAssertFalse(negatives.contains(q.queryProduct), "the query's own product is never a negative")
                XCTAssertEqual(Set(negatives).count, 100, "negatives are distinct products")
                XCTAssertTrue(rowsOf[q.queryProduct]!.contains(q.queryRow))
                for (p, r) in zip(q.candidateProducts, q.candidateRows) { XCTAssertTrue(rowsOf[p]!.contains(r), "row \(r) is not product \(p)'s") }
                if sub[q.queryProduct] == "big" {
                    XCTAssertEqual(q.fromSubcategory, 100)
                    XCTAssertEqual(q.filled, 0)
                    XCTAssertTrue(negatives.allSatisfy { sub[$0] == "big" }, "149 same-subcategory products exist, so no fill")
                }
            }
        }
    }

    /// With a row subset (a run's held-out products) only those rows' products are drawn, and only those rows.
    func testRowSubsetKeepsOnlyItsProducts() throws {
        let (full, _, _, rowsOf) = try Self.catalog()
        let ids = full.products.flatMap { p in p.rows.map { (row: $0, id: p.id) } }.sorted { $0.row < $1.row }.map(\.id)
        let subs = full.products.flatMap { p in p.rows.map { (row: $0, s: p.subcategory) } }.sorted { $0.row < $1.row }.map(\.s)
        let cats = full.products.flatMap { p in p.rows.map { (row: $0, c: p.category) } }.sorted { $0.row < $1.row }.map(\.c)
        let kept = Set(rowsOf.filter { $0.key % 3 == 0 }.flatMap(\.value))
        let sampler = try S100Sampler(productIDs: ids, subcategories: subs, categories: cats, rows: kept.sorted())
        XCTAssertEqual(Set(sampler.products.map(\.id)), Set(rowsOf.keys.filter { $0 % 3 == 0 }))
        let draw = try sampler.draw(.itr, seed: 1, queries: 1000)
        XCTAssertEqual(draw.queries.count, sampler.products.count)
        for q in draw.queries {
            XCTAssertTrue(kept.contains(q.queryRow))
            XCTAssertTrue(q.candidateRows.allSatisfy(kept.contains), "a candidate row outside the subset")
        }
        XCTAssertThrowsError(try S100Sampler(productIDs: ids, subcategories: subs, categories: cats, rows: [ids.count]))
    }

    func testSmallSubcategoriesAreFilledFromTheCategoryThenAtRandom() throws {
        let (sampler, sub, cat, _) = try Self.catalog()
        let draw = try sampler.draw(.tir, seed: 0, queries: 225)
        for q in draw.queries {
            let negatives = Array(q.candidateProducts.dropFirst())
            let inSub = negatives.filter { sub[$0] == sub[q.queryProduct] }.count
            switch sub[q.queryProduct]! {
            case "small":
                XCTAssertEqual(q.fromSubcategory, 29); XCTAssertEqual(q.fromCategory, 71); XCTAssertEqual(q.fromRandom, 0)
                XCTAssertEqual(inSub, 29, "every other small product is used before any fill")
                XCTAssertTrue(negatives.allSatisfy { cat[$0] == "A" })
            case "mid":
                XCTAssertEqual(q.fromSubcategory, 39); XCTAssertEqual(q.fromCategory, 61)
            case "tiny":
                XCTAssertEqual(q.fromSubcategory, 4); XCTAssertEqual(q.fromCategory, 0); XCTAssertEqual(q.fromRandom, 96)
                XCTAssertEqual(negatives.filter { cat[$0] == "B" }.count, 4)
            default:
                XCTAssertEqual(q.filled, 0)
            }
        }
        // 75 queries need fill: 30 × 71 + 40 × 61 + 5 × 96 = 5,050 of 22,500 negatives.
        XCTAssertEqual(draw.fillFraction, 5050.0 / 22500.0, accuracy: 1e-12)
        XCTAssertEqual(draw.filledQueryFraction, 75.0 / 225.0, accuracy: 1e-12)
        XCTAssertTrue(draw.notes.contains { $0.contains("22.4% of negatives") }, "\(draw.notes)")
    }

    func testDeterministicPerSeedAndDifferentAcrossSeeds() throws {
        let (sampler, _, _, _) = try Self.catalog()
        let a = try sampler.draw(.itr, seed: 7, queries: 50)
        let b = try sampler.draw(.itr, seed: 7, queries: 50)
        let c = try sampler.draw(.itr, seed: 8, queries: 50)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a.queries.map(\.queryProduct), c.queries.map(\.queryProduct))
        XCTAssertNotEqual(a.queries.map(\.candidateRows), c.queries.map(\.candidateRows))
        // TIR and ITR of one seed are separate streams.
        let t = try sampler.draw(.tir, seed: 7, queries: 50)
        XCTAssertNotEqual(t.queries.map(\.queryProduct), a.queries.map(\.queryProduct))
        // Row order does not matter: the same products listed in another row order give the same draw.
        let (ids, subs, cats) = (sampler.products.flatMap { p in p.rows.map { _ in p.id } },
                                 sampler.products.flatMap { p in p.rows.map { _ in p.subcategory } },
                                 sampler.products.flatMap { p in p.rows.map { _ in p.category } })
        let reordered = try S100Sampler(productIDs: ids, subcategories: subs, categories: cats)
        XCTAssertEqual(try reordered.draw(.itr, seed: 7, queries: 50).queries.map(\.candidateProducts),
                       a.queries.map(\.candidateProducts))
    }

    func testFewerProductsThanQueriesAndNegativesIsSaid() throws {
        let sampler = try S100Sampler(productIDs: [1, 2, 2, 3, 4], subcategories: ["x", "x", "x", "y", "y"],
                                      categories: ["c", "c", "c", "c", "d"])
        let draw = try sampler.draw(.tir, seed: 1)
        XCTAssertEqual(draw.queries.count, 4)
        XCTAssertEqual(draw.negativesPerQuery, 3)
        XCTAssertTrue(draw.notes.contains { $0.contains("only 4 products, so 4 queries instead of 1000") }, "\(draw.notes)")
        XCTAssertTrue(draw.notes.contains { $0.contains("3 negatives per query instead of 100") }, "\(draw.notes)")
        for q in draw.queries { XCTAssertEqual(Set(q.candidateProducts), [1, 2, 3, 4]) }
        XCTAssertThrowsError(try S100Sampler(productIDs: [1], subcategories: [], categories: ["c"]))
        XCTAssertThrowsError(try sampler.draw(.tir, seed: 0, queries: 0))
    }

    /// Too few products for a draw: the error names the file (issue 14 item 9), for a sampler read from a file
    /// and for one given its source.
    func testTooFewProductsNamesTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-s100-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try ItcRetrievalTests.catalog(in: dir, products: 1)
        XCTAssertThrowsError(try S100Sampler(file: try FashionGenFile(path: path)).draw(.tir, seed: 0)) { e in
            XCTAssertEqual("\(e)".hasSuffix("\(path): the sample-100 protocol needs at least 2 products, the evaluated rows hold 1"),
                           true, "\(e)")
        }
        let named = try S100Sampler(productIDs: [], subcategories: [], categories: [], source: "/data/empty.h5")
        XCTAssertThrowsError(try named.draw(.itr, seed: 0)) { e in XCTAssertTrue("\(e)".contains("/data/empty.h5: "), "\(e)") }
    }

    func testDrawSetCoversSeedsAndDirectionsAndRoundTripsThroughJSON() throws {
        let (sampler, _, _, _) = try Self.catalog()
        let set = try sampler.drawSet(seed: 10, draws: 5, queries: 20, source: "fake.h5")
        XCTAssertEqual(set.draws.count, 10)
        XCTAssertEqual(set.draws(.tir).map(\.seed), [10, 11, 12, 13, 14])
        XCTAssertEqual(set.draws(.itr).map(\.seed), [10, 11, 12, 13, 14])
        let path = NSTemporaryDirectory() + "s100-\(ProcessInfo.processInfo.processIdentifier).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try set.save(to: path)
        XCTAssertEqual(try S100DrawSet.load(from: path), set)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.contains("\"protocol\" : \"sample100\""))
        XCTAssertTrue(text.contains("\"candidateRows\""))
    }
}
