// SyncMask's mask selection (spec syncmask.md §3, §8 items 1–5) on hand-made attention arrays.
import FashionData
@testable import FashionTrain
import XCTest

final class SyncMaskingTests: XCTestCase {
    static let vocab = try! SyncMaskVocab.bertBaseUncased()
    static let tokenizer = try! WordPieceTokenizer.bertBaseUncased()
    var vocab: SyncMaskVocab { Self.vocab }

    /// Ids padded to `length` and the attention mask.
    func encode(_ texts: [String], length: Int) throws -> (ids: [Int64], mask: [Int64]) {
        var ids: [Int64] = [], mask: [Int64] = []
        for text in texts {
            let row = try Self.tokenizer.encode(text, maxLength: length).map(Int64.init)
            ids += row + [Int64](repeating: 0, count: length - row.count)
            mask += [Int64](repeating: 1, count: row.count) + [Int64](repeating: 0, count: length - row.count)
        }
        return (ids, mask)
    }

    /// (B, L, 1+N) attention where every row is uniform over the patches, with weight `cls` on the image [CLS].
    func uniformAttention(batch: Int, length: Int, patches n: Int, cls: Float = 0.2) -> [Float] {
        var a = [Float](repeating: (1 - cls) / Float(n), count: batch * length * (1 + n))
        for r in 0..<batch * length { a[r * (1 + n)] = cls }
        return a
    }

    /// Sets row (i, t) to `cls` on [CLS] and 1 − cls on patch p.
    func setOneHot(_ a: inout [Float], sample i: Int, position t: Int, length: Int, patches n: Int, patch p: Int, cls: Float) {
        let base = (i * length + t) * (1 + n)
        for j in 0...n { a[base + j] = 0 }
        a[base] = cls
        a[base + 1 + p] = 1 - cls
    }

    func positions(of word: String, in ids: [Int64]) -> [Int] {
        SyncMaskWords(ids: ids, vocab: vocab).words.first { $0.text == word }!.positions
    }

    // §8.1: token t attends one-hot to patch p → t has the top score and p is in M_I.
    func testOneHotTokenIsChosenWithItsPatch() throws {
        let l = 16, n = 16
        let (ids, mask) = try encode(["navy striped shirt with long sleeves and a pointed collar"], length: l)
        var a = uniformAttention(batch: 1, length: l, patches: n)
        let stripe = positions(of: "striped", in: ids)[0], collar = positions(of: "collar", in: ids)[0]
        setOneHot(&a, sample: 0, position: stripe, length: l, patches: n, patch: 5, cls: 0.1)
        setOneHot(&a, sample: 0, position: collar, length: l, patches: n, patch: 9, cls: 0.4)
        let selector = SyncMaskSelector(vocab: vocab, poolFactor: 1, warmupFraction: 0)
        for seed in 0..<20 as Range<UInt64> {
            var rng = SeededRNG(seed: seed)
            let out = try selector.select(attention: a, ids: ids, attentionMask: mask, batchSize: 1, patches: n,
                                          step: 0, totalSteps: 100, rng: &rng)
            // 7 eligible words (navy striped shirt long sleeves pointed collar) → k_T = round(1.05) = 1.
            XCTAssertEqual(out.chosenWords[0].map(\.text), ["striped"])
            XCTAssertEqual(out.chosenWords[0][0].score!, 0.9, accuracy: 1e-5)
            XCTAssertTrue(out.patchMask[5])
            XCTAssertEqual(out.patchScores[9], 0, "patch scores come from the chosen words only")
            XCTAssertEqual(out.patchMask.filter { $0 }.count, 4)
            XCTAssertEqual(out.patchScores[5], 1, accuracy: 1e-6)
            XCTAssertTrue(out.usedSync[0])
        }
    }

    // §8.2: uniform row → 0, one-hot row → c_t, all mass on [CLS] → 0.
    func testEntropyScore() {
        let n = 64
        let uniform = [Float(0.3)] + [Float](repeating: 0.7 / Float(n), count: n)
        XCTAssertEqual(SyncMaskSelector.tokenScore(row: uniform).score, 0, accuracy: 1e-5)
        XCTAssertEqual(SyncMaskSelector.tokenScore(row: uniform).patchMass, 0.7, accuracy: 1e-6)
        var oneHot = [Float](repeating: 0, count: 1 + n)
        oneHot[0] = 0.35; oneHot[1 + 17] = 0.65
        let s = SyncMaskSelector.tokenScore(row: oneHot)
        XCTAssertEqual(s.score, 0.65, accuracy: 1e-6)
        XCTAssertEqual(s.distribution[17], 1, accuracy: 1e-6)
        let cls = [Float(1)] + [Float](repeating: 0, count: n)
        XCTAssertEqual(SyncMaskSelector.tokenScore(row: cls).score, 0)
        // Two patches of 64, equal halves, no CLS: 1 − log 2 / log 64 = 5/6.
        var two = [Float](repeating: 0, count: 1 + n)
        two[1] = 0.5; two[2] = 0.5
        XCTAssertEqual(SyncMaskSelector.tokenScore(row: two).score, 5.0 / 6.0, accuracy: 1e-5)
    }

    func testWordGrouping() throws {
        let (ids, mask) = try encode(["The sleeveless colourblock top, with a drawstring hem!"], length: 24)
        let words = SyncMaskWords(ids: ids, attentionMask: mask, vocab: vocab)
        XCTAssertEqual(words.words.map(\.text),
                       ["[CLS]", "the", "sleeveless", "colourblock", "top", ",", "with", "a", "drawstring", "hem", "!", "[SEP]"])
        XCTAssertEqual(words.eligible.map(\.text), ["sleeveless", "colourblock", "top", "drawstring", "hem"])
        XCTAssertTrue(words.eligible.contains { $0.positions.count > 1 }, "the text should hold a multi-piece word")
        for w in words.words { XCTAssertEqual(w.positions, Array(w.positions.first!...w.positions.last!)) }
        XCTAssertFalse(words.words.flatMap(\.positions).contains { mask[$0] == 0 }, "padding belongs to no word")
        XCTAssertEqual(SyncMaskWords.stopwords.count, 189)
        XCTAssertFalse(SyncMaskWords(ids: [101, 103, 100, 102], vocab: vocab).words.contains(where: \.eligible))
    }

    // §8.3: all pieces of a chosen word are masked; specials, stopwords and punctuation never are.
    func testWholeWordMaskingNeverTouchesIneligiblePositions() throws {
        let texts = ["The sleeveless colourblock top, with a drawstring hem!",
                     "100% cotton. Made in Italy; it is very soft.",
                     "A navy jacquard dress with an asymmetric neckline and a concealed zip at the back.",
                     "the and of with a"]
        let l = 24, n = 16, b = texts.count
        let (ids, mask) = try encode(texts, length: l)
        var uniform = SeededRNG(seed: 7)
        let attention = (0..<b * l * (1 + n)).map { _ in Float(uniform.unit()) }  // rows need not sum to 1 here
        for ratio in [0.15, 0.5, 1.0] {
            for mode in SyncMaskMode.allCases {
                var selector = SyncMaskSelector(vocab: vocab, textRatio: ratio, mode: mode, warmupFraction: 0)
                selector.poolFactor = 2
                for seed in 0..<25 as Range<UInt64> {
                    var rng = SeededRNG(seed: seed)
                    let out = try selector.select(attention: attention, ids: ids, attentionMask: mask, batchSize: b,
                                                  patches: n, step: 5, totalSteps: 10, rng: &rng)
                    for i in 0..<b {
                        let row = Array(ids[i * l..<(i + 1) * l])
                        let words = SyncMaskWords(ids: row, attentionMask: Array(mask[i * l..<(i + 1) * l]), vocab: vocab)
                        let eligible = Set(words.eligible.flatMap(\.positions))
                        let masked = (0..<l).filter { out.labels[i * l + $0] != -100 }
                        XCTAssertTrue(Set(masked).isSubset(of: eligible), "\(texts[i]): masked \(masked)")
                        for w in out.chosenWords[i] { for t in w.positions { XCTAssertNotEqual(out.labels[i * l + t], -100) } }
                        XCTAssertEqual(Set(masked), Set(out.chosenWords[i].flatMap(\.positions)))
                        XCTAssertEqual(out.chosenWords[i].count, selector.wordCount(of: words.eligible.count))
                        if !eligible.isEmpty { XCTAssertGreaterThan(masked.count, 0, "MLM must not be empty") }
                        if ratio == 1 { XCTAssertEqual(Set(masked), eligible) }
                    }
                    XCTAssertEqual(out.chosenWords[3].count, 0, "a stopword-only text has nothing to mask")
                }
            }
        }
    }

    // §8.4 (host side): text and image outputs are separate; exactly k_I patches per sample.
    func testOutputsAreSeparateAndPatchCountIsExact() throws {
        let l = 20, n = 64, b = 3
        let (ids, mask) = try encode(["red floral midi dress", "black leather biker jacket with silver zips",
                                      "white cotton t-shirt with a chest logo"], length: l)
        var r = SeededRNG(seed: 3)
        let a = (0..<b * l * (1 + n)).map { _ in Float(r.unit()) }
        for mode in SyncMaskMode.allCases {
            let selector = SyncMaskSelector(vocab: vocab, mode: mode, warmupFraction: 0)
            var rng = SeededRNG(seed: 11)
            let out = try selector.select(attention: mode == .random ? [] : a, ids: ids, attentionMask: mask,
                                          batchSize: b, patches: n, step: 0, totalSteps: 1, rng: &rng)
            XCTAssertEqual(out.maskedIds.count, b * l)
            XCTAssertEqual(out.patchMask.count, b * n)
            for i in 0..<b {
                XCTAssertEqual(out.patchMask[i * n..<(i + 1) * n].filter { $0 }.count, 16)
                XCTAssertEqual(out.usedSync[i], mode == .sync)
            }
            for k in 0..<b * l {
                if out.labels[k] == -100 { XCTAssertEqual(out.maskedIds[k], ids[k]) } else { XCTAssertEqual(out.labels[k], ids[k]) }
            }
            XCTAssertEqual(out.patchMaskInt64.reduce(0, +), Int64(3 * 16))
            if mode == .random { XCTAssertTrue(out.chosenWords.joined().allSatisfy { $0.score == nil }) }
        }
    }

    // §8.5: step 0 → all random; after 10 % of the steps → every eligible sample uses SyncMask.
    func testWarmUp() throws {
        let l = 16, n = 16, b = 64
        let (ids, mask) = try encode([String](repeating: "navy striped shirt with long sleeves", count: b - 2)
                                     + ["the and of with a", "plain grey hoodie"], length: l)
        var a = uniformAttention(batch: b, length: l, patches: n)
        for i in 0..<b - 1 {
            for t in 1..<6 { setOneHot(&a, sample: i, position: t, length: l, patches: n, patch: t, cls: 0.2) }
        }
        for t in 0..<l { setOneHot(&a, sample: b - 1, position: t, length: l, patches: n, patch: 0, cls: 1) }  // all on CLS
        let selector = SyncMaskSelector(vocab: vocab)
        func run(_ step: Int) throws -> SyncMaskBatch {
            var rng = SeededRNG(seed: UInt64(step))
            return try selector.select(attention: a, ids: ids, attentionMask: mask, batchSize: b, patches: n,
                                       step: step, totalSteps: 1000, rng: &rng)
        }
        let start = try run(0)
        XCTAssertEqual(start.syncCount, 0)
        XCTAssertEqual(start.fallbackCount, 0)
        for step in [100, 500, 1000] {
            let late = try run(step)
            XCTAssertEqual(late.usedSync, [Bool](repeating: true, count: b - 2) + [false, false])
            XCTAssertEqual(late.fallbackCount, 2, "no eligible word; no word with s_t > 0")
            XCTAssertEqual(late.chosenWords[b - 1].count, 1, "the degenerate sample still masks a word")
        }
        let half = try run(50)
        XCTAssertGreaterThan(half.syncCount, 10)
        XCTAssertLessThan(half.syncCount, 52)
        XCTAssertEqual(selector.syncProbability(step: 50, totalSteps: 1000), 0.5)
        XCTAssertEqual(SyncMaskSelector(vocab: vocab, mode: .random).syncProbability(step: 900, totalSteps: 1000), 0)
    }

    func testDeterminismPerSeed() throws {
        let l = 24, n = 16, b = 4
        let (ids, mask) = try encode(["The sleeveless colourblock top, with a drawstring hem and pleated skirt panels",
                                      "navy wool blazer with notch lapels and two flap pockets",
                                      "red floral midi dress", "black leather ankle boots with a block heel"], length: l)
        var r = SeededRNG(seed: 1)
        let a = (0..<b * l * (1 + n)).map { _ in Float(r.unit()) }
        let selector = SyncMaskSelector(vocab: vocab, textRatio: 0.3)
        func run(_ seed: UInt64) throws -> SyncMaskBatch {
            var rng = SeededRNG(seed: seed)
            return try selector.select(attention: a, ids: ids, attentionMask: mask, batchSize: b, patches: n,
                                       step: 60, totalSteps: 100, rng: &rng)
        }
        let x = try run(42), y = try run(42)
        XCTAssertEqual(x.maskedIds, y.maskedIds)
        XCTAssertEqual(x.labels, y.labels)
        XCTAssertEqual(x.patchMask, y.patchMask)
        XCTAssertEqual(x.chosenWords, y.chosenWords)
        let others = try (43..<53).map { try run($0) }
        XCTAssertTrue(others.contains { $0.patchMask != x.patchMask || $0.labels != x.labels })
    }

    func testPoolThenSample() {
        let scores: [Float] = [0.1, 0.9, 0.3, 0.8, 0.0, 0.7, 0.2, 0.6]
        var seen = Set<Int>()
        for seed in 0..<200 as Range<UInt64> {
            var rng = SeededRNG(seed: seed)
            XCTAssertEqual(SyncMaskSelector.poolThenSample(scores: scores, k: 2, poolFactor: 1, rng: &rng), [1, 3])
            let pick = SyncMaskSelector.poolThenSample(scores: scores, k: 2, poolFactor: 2, rng: &rng)
            XCTAssertEqual(pick.count, 2)
            XCTAssertTrue(Set(pick).isSubset(of: [1, 3, 5, 7]))
            seen.formUnion(pick)
        }
        XCTAssertEqual(seen, [1, 3, 5, 7], "the pool is sampled uniformly")
        // Ties are broken at random: with equal scores every index gets picked sometimes.
        var tied = Set<Int>()
        for seed in 0..<100 as Range<UInt64> {
            var rng = SeededRNG(seed: seed)
            tied.formUnion(SyncMaskSelector.poolThenSample(scores: [Float](repeating: 0.5, count: 8), k: 1, poolFactor: 1, rng: &rng))
        }
        XCTAssertEqual(tied.count, 8)
    }

    // 80 % [MASK], 10 % random id in [999, vocab), 10 % unchanged (loose bounds).
    func testCorruptionProportions() throws {
        let l = 32, b = 32
        let (ids, mask) = try encode([String](repeating: "navy striped cotton shirt long sleeves pointed collar chest pocket buttoned cuffs curved hem", count: b), length: l)
        let selector = SyncMaskSelector(vocab: vocab, textRatio: 1, mode: .random)
        var masked = 0, maskToken = 0, replaced = 0, kept = 0
        var rng = SeededRNG(seed: 5)
        for _ in 0..<10 {
            let out = try selector.select(attention: [], ids: ids, attentionMask: mask, batchSize: b, patches: 4,
                                          step: 0, totalSteps: 1, rng: &rng)
            for k in 0..<b * l where out.labels[k] != -100 {
                masked += 1
                if out.maskedIds[k] == 103 { maskToken += 1 } else if out.maskedIds[k] == ids[k] { kept += 1 } else {
                    replaced += 1
                    XCTAssertTrue((999..<Int64(vocab.size)).contains(out.maskedIds[k]))
                }
            }
        }
        XCTAssertGreaterThan(masked, 3000)
        XCTAssertEqual(Double(maskToken) / Double(masked), 0.8, accuracy: 0.04)
        XCTAssertEqual(Double(replaced) / Double(masked), 0.1, accuracy: 0.03)
        XCTAssertEqual(Double(kept) / Double(masked), 0.1, accuracy: 0.03)
    }

    func testVisibleShare() throws {
        let visible: Set<String> = ["navy", "striped", "sleeves", "Collar"]
        XCTAssertEqual(SyncMaskBatch.visibleShare(of: ["navy", "cotton", "STRIPED", "italy"], in: visible), 0.5)
        XCTAssertEqual(SyncMaskBatch.visibleShare(of: [], in: visible), 0)
        XCTAssertEqual(SyncMaskBatch.visibleShare(of: ["collar"], in: visible), 1)
        let l = 16, n = 16
        let (ids, mask) = try encode(["navy striped shirt with long sleeves and a pointed collar"], length: l)
        var rng = SeededRNG(seed: 1)
        let out = try SyncMaskSelector(vocab: vocab, textRatio: 1, mode: .random)
            .select(attention: [], ids: ids, attentionMask: mask, batchSize: 1, patches: n, step: 0, totalSteps: 1, rng: &rng)
        // navy striped shirt long sleeves pointed collar: 4 of 7 visible.
        XCTAssertEqual(out.visibleShare(in: visible), 4.0 / 7.0, accuracy: 1e-12)
    }

    func testBadArguments() throws {
        let selector = SyncMaskSelector(vocab: vocab)
        var rng = SeededRNG(seed: 0)
        XCTAssertThrowsError(try selector.select(attention: [], ids: [101, 102], attentionMask: [1, 1], batchSize: 1,
                                                 patches: 4, step: 0, totalSteps: 1, rng: &rng))
        XCTAssertThrowsError(try selector.select(attention: [Float](repeating: 0, count: 9), ids: [101, 102],
                                                 attentionMask: [1, 1], batchSize: 1, patches: 4, step: 0, totalSteps: 1, rng: &rng))
        XCTAssertThrowsError(try selector.select(attention: [Float](repeating: 0, count: 10), ids: [101, 102, 0],
                                                 attentionMask: [1, 1, 0], batchSize: 2, patches: 4, step: 0, totalSteps: 1, rng: &rng))
    }
}
