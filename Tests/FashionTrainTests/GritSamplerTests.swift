// GRIT + semi-hard sampler (spec syncmask.md §8 items 6–11): a permutation of the products per epoch, whole-chunk
// shuffles, NEXT on hand-built Z, the fallbacks and the relaxed counter, no repeated product or text in a batch, the
// warm start vs the feature-built order, determinism, state round trips, and the start-up validation.
@testable import FashionTrain
import FashionData
import Foundation
import XCTest

final class GritSamplerTests: XCTestCase {
    /// Per-row metadata of a synthetic split: product p has p % 3 + 1 rows, id 1000 + p, subcategory p % subs,
    /// category (p % subs) % 2, and text hash `hashOf(p)` (distinct by default).
    struct Catalog {
        var rows: [Int] = [], pid: [Int64] = [], hash: [Int64] = [], sub: [Int] = [], cat: [Int] = []
        var productCount = 0

        init(products: Int, subs: Int = 4, hashOf: (Int) -> Int64 = { Int64($0) }) {
            productCount = products
            for p in 0..<products {
                for _ in 0 ... p % 3 {
                    rows.append(pid.count)
                    pid.append(1000 + Int64(p)); hash.append(hashOf(p)); sub.append(p % subs); cat.append(p % subs % 2)
                }
            }
        }
    }

    private func sampler(_ c: Catalog, B: Int = 4, M: Int = 8, Q: Int = 16, next: GritNext = .semihard,
                         margin: Double = .infinity, m: Int = 4, seed: UInt64 = 11, categories: Bool = true) throws -> GritSampler {
        try GritSampler(rows: c.rows, productIDOfRow: c.pid, textHashOfRow: c.hash,
                        subcategoryOfRow: categories ? c.sub : [], categoryOfRow: categories ? c.cat : [],
                        batchSize: B, searchSpace: M, buffer: Q, next: next, margin: margin, warmGroup: m, seed: seed)
    }

    /// Features of one product at one epoch: (image, text), unit vectors.
    typealias Features = (_ pid: Int64, _ epoch: Int) -> ([Float], [Float])

    static func randomFeatures(dim: Int = 8) -> Features {
        { pid, epoch in
            var rng = SeededRNG(seed: UInt64(pid), stream: UInt64(epoch))
            func unit() -> [Float] {
                let v = (0..<dim).map { _ in Float(rng.uniform(-1, 1)) }
                let n = v.map { $0 * $0 }.reduce(0, +).squareRoot()
                return v.map { $0 / n }
            }
            return (unit(), unit())
        }
    }

    /// Feeds batches `batches` of `order` (chunks of B) to the sampler, as the training loop does after each step.
    private func collect(_ s: GritSampler, _ c: Catalog, order: [Int], epoch: Int, B: Int = 4, batches: Range<Int>? = nil,
                         features: Features = randomFeatures()) throws {
        let count = (order.count + B - 1) / B
        for b in batches ?? 0..<count {
            let rows = Array(order[b * B ..< min((b + 1) * B, order.count)])
            var image: [Float] = [], text: [Float] = []
            for r in rows {
                let (v, t) = features(c.pid[r], epoch)
                image += v; text += t
            }
            try s.collect(rows: rows, imageFeatures: image, textFeatures: text, dim: image.count / rows.count, temperature: 0.07)
        }
    }

    /// Runs epochs 0..<epochs and returns their orders.
    private func run(_ s: GritSampler, _ c: Catalog, epochs: Int, B: Int = 4, features: Features = randomFeatures()) throws -> [[Int]] {
        try (0..<epochs).map { e in
            let order = try s.order(epoch: e)
            try collect(s, c, order: order, epoch: e, B: B, features: features)
            return order
        }
    }

    private func chunks<T>(_ xs: [T], _ b: Int) -> [[T]] {
        stride(from: 0, to: xs.count, by: b).map { Array(xs[$0 ..< min($0 + b, xs.count)]) }
    }

    // §8 item 6
    func testEveryEpochVisitsEachProductOnceWithOneOfItsRows() throws {
        let c = Catalog(products: 50)
        let s = try sampler(c)
        let orders = try run(s, c, epochs: 4)
        let allPids = Set(c.pid)
        for order in orders {
            XCTAssertEqual(order.count, 50)
            XCTAssertEqual(Set(order.map { c.pid[$0] }), allPids)
            XCTAssertTrue(Set(order).isSubset(of: Set(c.rows)))
        }
        // Products with several rows are seen with different images across epochs.
        let rowsOfMulti = orders.map { $0.filter { c.pid[$0] == 1002 } }
        XCTAssertGreaterThan(Set(rowsOfMulti.flatMap { $0 }).count, 1)
        XCTAssertEqual(s.stats.uncollectedProducts, 0)
        XCTAssertEqual(s.stats.searchSpaces, 4 * 7)  // per epoch: 3 flushes of 16 = 6 spaces of 8, and the remainder 2
    }

    func testProductsNeverCollectedStillComeNextEpoch() throws {
        let c = Catalog(products: 50)
        let s = try sampler(c)
        let order0 = try s.order(epoch: 0)
        try collect(s, c, order: order0, epoch: 0, batches: 0..<12)  // a dropped last batch of 2
        XCTAssertThrowsError(try s.order(epoch: 1))
        try s.finishEpoch(0)
        try s.finishEpoch(0)  // idempotent
        XCTAssertEqual(Set(try s.order(epoch: 1).map { c.pid[$0] }), Set(c.pid))
        XCTAssertEqual(s.stats.uncollectedProducts, 2)
        XCTAssertThrowsError(try s.finishEpoch(3)) { XCTAssertEqual($0 as? GritSamplerError, .epochMismatch(collecting: 1, finished: 3)) }
    }

    // §8 item 7
    func testChunkShuffleMovesWholeChunksAndKeepsThePartialChunkLast() {
        let items = Array(0..<23)
        var orders = Set<[Int]>()
        for seed in 0..<8 as Range<UInt64> {
            var rng = SeededRNG(seed: seed)
            let out = GritSampler.shuffleChunks(items, chunk: 5, rng: &rng)
            let cs = chunks(out, 5)
            XCTAssertEqual(cs.last, [20, 21, 22])
            XCTAssertEqual(Set(cs.dropLast()), Set(chunks(items, 5).dropLast()))
            orders.insert(out)
        }
        XCTAssertGreaterThan(orders.count, 1)
    }

    func testNoMiniBatchCrossesASearchSpace() throws {
        let c = Catalog(products: 50)
        let s = try sampler(c)
        let order0 = try s.order(epoch: 0)
        try collect(s, c, order: order0, epoch: 0, batches: 0..<12)
        let before = s.state()  // 3 flushes of Q = 16: six search spaces of M = 8, the buffer empty
        XCTAssertEqual(before.nextSpaceSizes, [8, 8, 8, 8, 8, 8])
        try collect(s, c, order: order0, epoch: 0, batches: 12..<13)  // the last 2 products: the remainder space
        let order1 = try s.order(epoch: 1).map { c.pid[$0] }
        let grouped = before.nextOrder.map { s.productIDs[$0] }
        let spaces = Set(chunks(grouped, 8))
        let cs = chunks(order1, 4)
        XCTAssertEqual(Set(cs.dropLast()), Set(chunks(grouped, 4)))  // whole chunks of the grouped order
        for chunk in cs.dropLast() {
            XCTAssertEqual(spaces.filter { Set($0).isSuperset(of: chunk) }.count, 1)
        }
        XCTAssertEqual(Set(cs.last!), Set(order0.suffix(2).map { c.pid[$0] }))  // the partial chunk is last
    }

    // §8 item 8
    func testSemihardPicksBelowThePositiveAndHardestPicksTheArgmax() {
        // Row a = 0 of a hand-built Z: z⁺ = 1; j1 = 1 scores above it, j2 = 2 and 3 below.
        let z: [Double] = [1, 2, 0.5, 0.2]
        func pick(_ rule: GritNext, margin: Double = .infinity, excluded: Set<Int> = []) -> (index: Int, pick: GritPick)? {
            GritSampler.next(count: 4, positive: z[0], rule: rule, margin: margin, unused: { $0 != 0 },
                             excluded: { excluded.contains($0) }, score: { z[$0] })
        }
        XCTAssertEqual(pick(.semihard)?.index, 2)
        XCTAssertEqual(pick(.semihard)?.pick, .semiHard)
        XCTAssertEqual(pick(.hardest)?.index, 1)
        XCTAssertEqual(pick(.hardest, excluded: [1, 2, 3])?.index, 1)  // GRIT's argmax ignores the exclusions
        XCTAssertEqual(pick(.semihard, margin: 0.6)?.index, 2)  // 0.5 is inside [z⁺ − 0.6, z⁺)
        // μ_g = 0.3: SH = [0.7, 1) is empty; the most similar candidate below the positive is chosen.
        XCTAssertEqual(pick(.semihard, margin: 0.3)?.index, 2)
        XCTAssertEqual(pick(.semihard, margin: 0.3)?.pick, .belowPositive)
        XCTAssertEqual(pick(.semihard, excluded: [2])?.index, 3)  // an excluded product or text is skipped
    }

    // §8 item 9
    func testLeastSimilarFallbackAndRelaxedCounter() throws {
        let z: [Double] = [1, 3, 2, 2.5, 0.1]
        let above = GritSampler.next(count: 5, positive: 1, rule: .semihard, margin: .infinity, unused: { $0 != 0 },
                                     excluded: { $0 == 4 }, score: { z[$0] })
        XCTAssertEqual(above?.index, 2)
        XCTAssertEqual(above?.pick, .leastSimilar)
        let none = GritSampler.next(count: 5, positive: 1, rule: .semihard, margin: .infinity, unused: { $0 != 0 },
                                    excluded: { _ in true }, score: { z[$0] })
        XCTAssertEqual(none?.index, 1)
        XCTAssertEqual(none?.pick, .relaxed)
        XCTAssertNil(GritSampler.next(count: 1, positive: 1, rule: .semihard, margin: 1, unused: { _ in false },
                                      excluded: { _ in false }, score: { _ in 0 }))

        // One text for every product: C is always empty, so every NEXT relaxes the constraint and is counted.
        let c = Catalog(products: 30, hashOf: { _ in 42 })
        let s = try sampler(c)
        let orders = try run(s, c, epochs: 2)
        XCTAssertEqual(Set(orders[1].map { c.pid[$0] }), Set(c.pid))
        XCTAssertEqual(s.stats.relaxedConstraints, s.stats.nextCalls)
        XCTAssertEqual(s.stats.nextCalls, 2 * 30 - s.stats.searchSpaces)
        XCTAssertEqual(s.stats.semiHard, 0)
    }

    // §8 item 10
    func testNoBatchRepeatsAProductOrTextWhenThePoolAllows() throws {
        // Products 2k and 2k + 1 share a text and identical features: the plain argmax chains them together.
        // One search space per epoch (M = Q = 64), so twins always meet in it.
        let c = Catalog(products: 64, hashOf: { Int64($0 / 2) })
        let base = Self.randomFeatures(dim: 16)
        let twins: Features = { pid, epoch in let f = base(1000 + (pid - 1000) / 2 * 2, epoch); return (f.0, f.0) }
        func duplicateBatches(_ next: GritNext, seed: UInt64) throws -> (Int, GritSamplerStats) {
            let s = try sampler(c, M: 64, Q: 64, next: next, seed: seed)
            let orders = try run(s, c, epochs: 3, features: twins)
            let bad = orders.dropFirst().flatMap { chunks($0, 4) }.filter { batch in
                Set(batch.map { c.hash[$0] }).count < batch.count || Set(batch.map { c.pid[$0] }).count < batch.count
            }
            return (bad.count, s.stats)
        }
        var clean = 0
        for seed in 0..<6 as Range<UInt64> {
            let (bad, stats) = try duplicateBatches(.semihard, seed: seed)
            // A batch can repeat a text only through a relaxed NEXT, and NEXT relaxes only when fewer than B samples
            // of the search space remain (with pairs, more always leave a candidate): the pool did not allow it.
            XCTAssertLessThanOrEqual(bad, stats.relaxedConstraints)
            XCTAssertLessThanOrEqual(stats.relaxedConstraints, 3 * stats.searchSpaces)
            XCTAssertEqual(stats.nextCalls, stats.semiHard + stats.relaxedConstraints)
            if stats.relaxedConstraints == 0 { XCTAssertEqual(bad, 0) }
            clean += bad == 0 ? 1 : 0
            // GRIT's argmax puts every twin pair side by side: all 2 × 16 batches of epochs 1 and 2 repeat a text.
            XCTAssertEqual(try duplicateBatches(.hardest, seed: seed).0, 32)
        }
        XCTAssertGreaterThan(clean, 0)
    }

    // §8 item 11
    func testEpochZeroIsTheSubcategoryWarmStart() throws {
        let c = Catalog(products: 50)  // subcategories of 13, 13, 12, 12 products; categories {0, 2} and {1, 3}
        let subOf = Dictionary(c.rows.map { (c.pid[$0], c.sub[$0]) }, uniquingKeysWith: { a, _ in a })
        func groups(_ m: Int) throws -> [[Int]] {
            try chunks(sampler(c, m: m).order(epoch: 0).map { subOf[c.pid[$0]]! }, m)
        }
        let four = try groups(4)  // 3 groups per subcategory, 1 + 1 left over in different categories: a last pair
        XCTAssertEqual(four.count, 13)
        XCTAssertTrue(four.dropLast().allSatisfy { Set($0).count == 1 })
        XCTAssertEqual(four.last!.sorted(), [0, 1])
        let five = try groups(5)  // 2 groups per subcategory; the leftovers 3 + 2 make one group per category
        XCTAssertEqual(five.count, 10)
        XCTAssertEqual(five.filter { Set($0).count == 1 }.count, 8)
        XCTAssertEqual(Set(five.filter { Set($0).count > 1 }.map { Set($0) }), [[0, 2], [1, 3]])
        // Without category metadata: a random permutation.
        let random = try sampler(c, categories: false).order(epoch: 0)
        XCTAssertEqual(Set(random.map { c.pid[$0] }), Set(c.pid))
        XCTAssertFalse(chunks(random.map { subOf[c.pid[$0]]! }, 4).dropLast().allSatisfy { Set($0).count == 1 })
    }

    func testLaterEpochsFollowTheCollectedFeatures() throws {
        // 12 clusters of 4 products (unit directions plus noise, image = text); one search space of all 48.
        let c = Catalog(products: 48)
        func clustered(_ clusterOf: @escaping (Int) -> Int) -> Features {
            { pid, epoch in
                var v = Self.randomFeatures(dim: 12)(pid, epoch).0.map { $0 * 0.1 }
                v[clusterOf(Int(pid - 1000))] += 1
                let n = v.map { $0 * $0 }.reduce(0, +).squareRoot()
                v = v.map { $0 / n }
                return (v, v)
            }
        }
        for next in GritNext.allCases {
            for clusterOf in [{ (p: Int) in p / 4 }, { (p: Int) in p % 12 }] {
                let s = try sampler(c, M: 48, Q: 48, next: next)
                let orders = try run(s, c, epochs: 2, features: clustered(clusterOf))
                let clusterChunks = orders.map { chunks($0.map { clusterOf(Int(c.pid[$0] - 1000)) }, 4) }
                XCTAssertFalse(clusterChunks[0].allSatisfy { Set($0).count == 1 })  // the warm start ignores them
                XCTAssertTrue(clusterChunks[1].allSatisfy { Set($0).count == 1 }, "\(next): \(clusterChunks[1])")
            }
        }
        // The features are copied at collect time: the sampler holds exactly what was passed.
        let s = try sampler(c, M: 48, Q: 48)
        var image: [Float] = [1, 2, 3], text: [Float] = [4, 5, 6]
        try s.collect(rows: [0], imageFeatures: image, textFeatures: text, dim: 3, temperature: 0.5)
        image[0] = 9; text[0] = 9
        XCTAssertEqual([Float](littleEndianData: s.state().bufferImage), [1, 2, 3])
        XCTAssertEqual([Float](littleEndianData: s.state().bufferText), [4, 5, 6])
    }

    func testSameSeedGivesTheSameOrders() throws {
        let c = Catalog(products: 50)
        let a = try run(sampler(c, seed: 3), c, epochs: 3)
        XCTAssertEqual(try run(sampler(c, seed: 3), c, epochs: 3), a)
        let other = try run(sampler(c, seed: 4), c, epochs: 3)
        XCTAssertNotEqual(other[0], a[0])
        XCTAssertNotEqual(other[1], a[1])
        let otherFeatures = try run(sampler(c, seed: 3), c, epochs: 2, features: Self.randomFeatures(dim: 6))
        XCTAssertEqual(otherFeatures[0], a[0])
        XCTAssertNotEqual(otherFeatures[1], a[1])
    }

    func testStateRoundTripContinuesWithTheSameOrders() throws {
        let c = Catalog(products: 50)
        let seed: UInt64 = 0xDEAD_BEEF_CAFE_BABE
        let whole = try sampler(c, margin: 5, seed: seed)
        let expected = try run(whole, c, epochs: 4)

        let first = try sampler(c, margin: 5, seed: seed)
        let order0 = try first.order(epoch: 0)
        try collect(first, c, order: order0, epoch: 0)
        let order1 = try first.order(epoch: 1)
        try collect(first, c, order: order1, epoch: 1, batches: 0..<6)  // one flush and 8 rows in the buffer
        let saved = try JSONEncoder().encode(first.state())
        let state = try JSONDecoder().decode(GritSamplerState.self, from: saved)
        XCTAssertEqual(state, first.state())
        XCTAssertEqual(state.bufferRows.count, 8)

        let resumed = try sampler(c, margin: 5, seed: seed)
        try resumed.restore(state)
        XCTAssertEqual(try resumed.order(epoch: 1), expected[1])
        try collect(resumed, c, order: order1, epoch: 1, batches: 6..<13)
        var later: [[Int]] = []
        for e in 2..<4 {
            later.append(try resumed.order(epoch: e))
            try collect(resumed, c, order: later.last!, epoch: e)
        }
        XCTAssertEqual([order0, order1] + later, expected)
        XCTAssertEqual(resumed.stats, whole.stats)
        XCTAssertEqual(resumed.state(), whole.state())

        XCTAssertThrowsError(try sampler(c, margin: 5, seed: 1).restore(state)) {
            XCTAssertEqual($0 as? GritSamplerError, .stateMismatch("saved with other sampler parameters"))
        }
        XCTAssertThrowsError(try sampler(Catalog(products: 49), margin: 5, seed: seed).restore(state)) {
            XCTAssertEqual($0 as? GritSamplerError, .stateMismatch("saved for other training products"))
        }
    }

    func testStartUpValidationNamesTheParameter() throws {
        let c = Catalog(products: 10)
        func message(B: Int = 4, M: Int = 8, Q: Int = 16, margin: Double = .infinity, m: Int = 4,
                     rows: [Int]? = nil, hash: [Int64]? = nil) -> String? {
            do {
                _ = try GritSampler(rows: rows ?? c.rows, productIDOfRow: c.pid, textHashOfRow: hash ?? c.hash,
                                    subcategoryOfRow: c.sub, categoryOfRow: c.cat, batchSize: B, searchSpace: M,
                                    buffer: Q, margin: margin, warmGroup: m, seed: 0)
                return nil
            } catch {
                return "\(error)"
            }
        }
        XCTAssertNil(message())
        XCTAssertEqual(message(B: 32, M: 250, Q: 1000), "--grit-search-space 250 is not a multiple of --batch 32")
        XCTAssertEqual(message(B: 32, M: 256, Q: 1000), "--grit-buffer 1000 is not a multiple of --grit-search-space 256")
        XCTAssertEqual(message(B: 0), "--batch 0 must be positive")
        XCTAssertEqual(message(M: -8), "--grit-search-space -8 must be positive")
        XCTAssertEqual(message(Q: 0), "--grit-buffer 0 must be positive")
        XCTAssertEqual(message(m: 0), "--grit-warm-group 0 must be positive")
        XCTAssertEqual(message(margin: 0), "--grit-margin 0.0 must be positive")
        XCTAssertEqual(message(margin: .nan), "--grit-margin nan must be positive")
        XCTAssertEqual(message(rows: []), "GRIT sampler: no training rows")
        XCTAssertEqual(message(rows: [0, 99]), "GRIT sampler: row 99 is not in 0..<\(c.pid.count)")
        XCTAssertEqual(message(rows: [0, 1, 0]), "GRIT sampler: row 0 is listed twice")
        XCTAssertNotNil(message(hash: [1]))
    }

    func testCollectAndOrderErrors() throws {
        let c = Catalog(products: 10)
        let s = try sampler(c)
        XCTAssertThrowsError(try s.order(epoch: 1)) { XCTAssertEqual($0 as? GritSamplerError, .orderUnavailable(epoch: 1, held: nil)) }
        let one: [Float] = [1, 0]
        XCTAssertThrowsError(try s.collect(rows: [0], imageFeatures: one, textFeatures: one + one, dim: 2, temperature: 1))
        XCTAssertThrowsError(try s.collect(rows: [0], imageFeatures: one, textFeatures: one, dim: 2, temperature: 0))
        XCTAssertThrowsError(try s.collect(rows: [c.pid.count], imageFeatures: one, textFeatures: one, dim: 2, temperature: 1))
        // Rows 1 and 2 are two images of product 1001: one product, collected once per epoch.
        XCTAssertThrowsError(try s.collect(rows: [1, 2], imageFeatures: one + one, textFeatures: one + one, dim: 2, temperature: 1))
        try s.collect(rows: [1], imageFeatures: one, textFeatures: one, dim: 2, temperature: 1)
        XCTAssertThrowsError(try s.collect(rows: [2], imageFeatures: one, textFeatures: one, dim: 2, temperature: 1))
        XCTAssertThrowsError(try s.collect(rows: [0], imageFeatures: [1, 0, 0], textFeatures: [1, 0, 0], dim: 3, temperature: 1))
        XCTAssertEqual(s.state().bufferRows, [1])
    }
}
