import FashionData
import FashionModels
@testable import FashionTrain
import Foundation
import Torch
import XCTest

/// An in-memory Kaleido input source: seeded random features per row (test fixture).
final class MemoryKaleidoSource: KaleidoInputSource, @unchecked Sendable {
    let featureDim: Int
    let alignedTextField = "title"
    let alignedTextLength = 16
    var pairs: [Int: [KaleidoAlignment]] = [:]

    init(dim: Int) { featureDim = dim }

    func patches(row: Int) throws -> KaleidoPatchSet {
        var rng = SeededRNG(seed: 99, stream: UInt64(row))
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.unit()) * 2 - 1 } }
        return KaleidoPatchSet(dim: featureDim, colour: values(55 * featureDim), rotated: values(3 * featureDim),
                               grey: values(16 * featureDim), positions: values(55 * 5))
    }

    func alignments(row: Int) throws -> [KaleidoAlignment] { pairs[row] ?? [] }
}

/// Kaleido-BERT's host-side masking and perturbations (spec §5–6, the §9 checklist).
final class KaleidoMaskingTests: XCTestCase {
    let d = 6
    static let captions = ["red floral midi dress with short sleeves", "black leather biker jacket", "blue denim jeans",
                           "white cotton shirt", "grey wool sweater with a round neck", "green silk scarf"]

    func builder(_ source: MemoryKaleidoSource, mode: KaleidoMaskingMode = .agm) throws -> KaleidoBatchBuilder {
        KaleidoBatchBuilder(source: source, captions: Self.captions, productIDs: [10, 11, 12, 13, 14, 15], pool: Array(0..<6),
                            textLength: 16, vocabularySize: 30522, mode: mode, vocab: try SyncMaskVocab.bertBaseUncased(),
                            tokenizer: try WordPieceTokenizer.bertBaseUncased())
    }

    func feature(_ values: [Float], _ index: Int) -> [Float] { Array(values[(index * d)..<((index + 1) * d)]) }

    func testJigsawLabelsMapOneToOneOntoPermutations() {
        let perms = KaleidoMasking.permutations
        XCTAssertEqual(perms.count, 24)
        XCTAssertEqual(Set(perms.map { $0.map(String.init).joined() }).count, 24)
        XCTAssertEqual(perms.first, [0, 1, 2, 3])
        XCTAssertEqual(perms.last, [3, 2, 1, 0])
        XCTAssertEqual(perms, perms.sorted { $0.lexicographicallyPrecedes($1) })
        for (i, p) in perms.enumerated() { XCTAssertEqual(KaleidoMasking.jigsawLabel(p), i) }
        XCTAssertNil(KaleidoMasking.jigsawLabel([0, 0, 1, 2]))
    }

    /// The built batch's perturbations: K1 is the rotated crop of its label, K2 holds the permutation of its label
    /// (inverting it restores the colour order), K3's camouflaged slot is the label and holds another product's
    /// same-slot feature, greyed K4 slots hold grey inputs with colour targets, blanked K5 slots are zero with the
    /// original as target; positions are untouched; every other patch is the clean colour feature.
    func testPerturbationsAndLabels() throws {
        let source = MemoryKaleidoSource(dim: d)
        let b = try builder(source)
        var rng = SeededRNG(seed: 5)
        let rows = [0, 1, 2, 3, 4, 5]
        let batch = try b.build(rows: rows, rng: &rng)
        let stride = 55 * d
        var rotations = Set<Int64>(), jigsaws = Set<Int64>()
        for (i, row) in rows.enumerated() {
            let set = try source.patches(row: row)
            let f = Array(batch.features[(i * stride)..<((i + 1) * stride)])
            let theta = Int(batch.rotation[i])
            rotations.insert(batch.rotation[i])
            XCTAssertEqual(feature(f, 0), theta == 0 ? feature(set.colour, 0) : feature(set.rotated, theta - 1))
            let perm = KaleidoMasking.permutations[Int(batch.jigsaw[i])]
            jigsaws.insert(batch.jigsaw[i])
            var restored = [[Float]](repeating: [], count: 4)
            for s in 0..<4 {
                XCTAssertEqual(feature(f, 1 + s), feature(set.colour, 1 + perm[s]))
                restored[perm[s]] = feature(f, 1 + s)
            }
            XCTAssertEqual(restored, (0..<4).map { feature(set.colour, 1 + $0) }, "inverting the permutation restores K2")
            let slot = Int(batch.camouflage[i])
            let mask = batch.masks[i]
            XCTAssertEqual(mask.level3, [slot])
            let sourceRow = batch.camouflageRows[i]
            XCTAssertNotEqual([10, 11, 12, 13, 14, 15][sourceRow], [10, 11, 12, 13, 14, 15][row], "camouflage from another product")
            XCTAssertEqual(feature(f, 5 + slot), feature(try source.patches(row: sourceRow).colour, 5 + slot))
            XCTAssertEqual(mask.level4.count, 2)
            XCTAssertEqual(mask.level5.count, 3)
            for (j, p) in mask.level4.enumerated() {
                XCTAssertEqual(feature(f, 14 + p), feature(set.grey, p))
                XCTAssertEqual(Array(batch.greyTargets[((i * 2 + j) * d)..<((i * 2 + j + 1) * d)]), feature(set.colour, 14 + p))
            }
            for (j, p) in mask.level5.enumerated() {
                XCTAssertEqual(feature(f, 30 + p), [Float](repeating: 0, count: d))
                XCTAssertEqual(Array(batch.blankTargets[((i * 3 + j) * d)..<((i * 3 + j + 1) * d)]), feature(set.colour, 30 + p))
            }
            let touched = Set([0, 1, 2, 3, 4, 5 + slot] + mask.level4.map { 14 + $0 } + mask.level5.map { 30 + $0 })
            for p in 0..<55 where !touched.contains(p) { XCTAssertEqual(feature(f, p), feature(set.colour, p), "patch \(p)") }
            XCTAssertEqual(Array(batch.positions[(i * 275)..<((i + 1) * 275)]), set.positions)
        }
        XCTAssertGreaterThan(rotations.count + jigsaws.count, 2, "labels are drawn, not constant")
        // The same seed builds the same batch (exact resume).
        var again = SeededRNG(seed: 5)
        let twin = try b.build(rows: rows, rng: &again)
        XCTAssertEqual(twin.features, batch.features)
        XCTAssertEqual(twin.ids, batch.ids)
        XCTAssertEqual(twin.itmLabels, batch.itmLabels)
    }

    /// Budgets 10 / 1 / 2 / 3, levels 1–2 never masked (no mask holds them), whole words, random fallback without
    /// pairs; ITM negatives read another product's text.
    func testBudgetsWholeWordsAndRandomFallback() throws {
        let source = MemoryKaleidoSource(dim: d)
        let b = try builder(source)
        let vocab = try SyncMaskVocab.bertBaseUncased()
        var negatives = 0
        for seed in 0..<20 {
            var rng = SeededRNG(seed: UInt64(seed))
            let batch = try b.build(rows: [0, 1, 2, 3, 4, 5], rng: &rng)
            for i in 0..<6 {
                let m = batch.masks[i]
                XCTAssertEqual([m.level3.count, m.level4.count, m.level5.count], [1, 2, 3])
                XCTAssertTrue(m.level3.allSatisfy { (0..<9).contains($0) } && m.level4.allSatisfy { (0..<16).contains($0) }
                              && m.level5.allSatisfy { (0..<25).contains($0) })
                XCTAssertEqual(m.fromPairs, 0, "no pairs: random only")
                let clean = try b.ids(row: batch.textRows[i])
                let attention = clean.map { $0 == 0 ? Int64(0) : 1 }
                let words = KaleidoMasking.words(ids: clean, attentionMask: attention, vocab: vocab)
                let pieces = words.reduce(0) { $0 + $1.count }
                XCTAssertLessThanOrEqual(m.tokens.count, KaleidoMasking.textBudget(pieces: pieces))
                XCTAssertGreaterThanOrEqual(m.tokens.count, 1)
                XCTAssertLessThanOrEqual(m.tokens.count, 10)
                // Whole words: a word is masked entirely or not at all.
                for w in words where w.count > 1 {
                    let hit = w.filter { m.tokens.contains($0) }.count
                    XCTAssertTrue(hit == 0 || hit == w.count, "word \(w) partly masked by \(m.tokens)")
                }
                // AMLM targets are the clean ids at the masked positions.
                for (j, p) in m.tokens.enumerated() {
                    XCTAssertEqual(batch.mlmPositions[i * 10 + j], Int64(p))
                    XCTAssertEqual(batch.mlmIds[i * 10 + j], clean[p])
                }
                XCTAssertEqual(batch.mlmWeights[(i * 10)..<(i * 10 + 10)].reduce(0, +), Float(m.tokens.count))
                if batch.itmLabels[i] == 0 {
                    negatives += 1
                    XCTAssertNotEqual(batch.textRows[i], batch.imageRows[i])
                } else {
                    XCTAssertEqual(batch.textRows[i], batch.imageRows[i])
                }
            }
        }
        XCTAssertGreaterThan(negatives, 30)
        XCTAssertLessThan(negatives, 90)
    }

    /// With pairs, AGM takes them strongest first and masks exactly one side of each pair it uses; the budgets
    /// still hold; `.random` ignores the pairs.
    func testAlignmentGuidedMaskingUsesOneSideOfEachPair() throws {
        // Word positions of a 9-piece caption: 9 single-piece words at 1…9 → text budget round(1.35) = 1.
        let words = (1...9).map { [$0] }
        let pairs = [KaleidoAlignment(token: 2, level: 4, patch: 7, strength: 0.9),
                     KaleidoAlignment(token: 3, level: 5, patch: 11, strength: 0.8),
                     KaleidoAlignment(token: 4, level: 3, patch: 4, strength: 0.7),
                     KaleidoAlignment(token: 2, level: 5, patch: 1, strength: 0.6),
                     KaleidoAlignment(token: 9, level: 1, patch: 0, strength: 1.0)]  // level 1: never used
        var tokenSide = 0, patchSide = 0
        for seed in 0..<40 {
            var rng = SeededRNG(seed: UInt64(seed))
            let m = KaleidoMasking.choose(words: words, alignments: pairs, mode: .agm, rng: &rng)
            XCTAssertEqual(m.tokens.count, 1)
            XCTAssertEqual([m.level3.count, m.level4.count, m.level5.count], [1, 2, 3])
            // Pairs 1–3 are used; pair 4 repeats token 2 (already resolved) and the level-1 pair is never used.
            XCTAssertEqual(m.fromPairs, 3)
            for p in pairs where p.level >= 3 {
                let both = m.tokens.contains(p.token) && m.patches(level: p.level).contains(p.patch)
                XCTAssertFalse(both, "pair \(p) masked on both sides (seed \(seed))")
            }
            // The strongest pair (token 2, K4 patch 7) is always resolved, on one side.
            XCTAssertTrue(m.tokens.contains(2) != m.level4.contains(7), "seed \(seed): \(m)")
            if m.tokens.contains(2) { tokenSide += 1 } else { patchSide += 1 }
            var r2 = SeededRNG(seed: UInt64(seed))
            XCTAssertEqual(KaleidoMasking.choose(words: words, alignments: pairs, mode: .random, rng: &r2).fromPairs, 0)
        }
        XCTAssertGreaterThan(tokenSide, 5, "a fair coin picks the side")
        XCTAssertGreaterThan(patchSide, 5)
    }

    /// A masked side keeps the other side of every pair it is in visible, also the pairs skipped because that side
    /// was already masked (spec §5): a word masked through its strongest pair leaves all its aligned patches to
    /// the random fill's exclusion, and a masked patch all its aligned words. (Before, a pair skipped for its
    /// masked word left its patch free, and the random fill masked it too.)
    func testASkippedPairsOtherSideStaysVisible() throws {
        let words = (1...9).map { [$0] }  // text budget 1
        // Word 2: its strongest pair at K5 patch 0, then 19 weaker pairs with K5 patches 1…19 (25 patches: 5 free).
        let wordPairs = [KaleidoAlignment(token: 2, level: 5, patch: 0, strength: 0.9)]
            + (1..<20).map { KaleidoAlignment(token: 2, level: 5, patch: $0, strength: 0.5) }
        // K4 patch 3: its strongest pair with word 2, then weaker pairs with words 3…9 (only word 1 is free).
        let patchPairs = [KaleidoAlignment(token: 2, level: 4, patch: 3, strength: 0.9)]
            + (3...9).map { KaleidoAlignment(token: $0, level: 4, patch: 3, strength: 0.5) }
        for (name, pairs) in [("word", wordPairs), ("patch", patchPairs)] {
            var tokenSide = 0, patchSide = 0
            for seed in 0..<40 {
                var rng = SeededRNG(seed: UInt64(seed))
                let m = KaleidoMasking.choose(words: words, alignments: pairs, mode: .agm, rng: &rng)
                XCTAssertEqual(m.tokens.count, 1, "\(name), seed \(seed)")
                XCTAssertEqual([m.level3.count, m.level4.count, m.level5.count], [1, 2, 3], "\(name), seed \(seed)")
                for p in pairs {
                    XCTAssertFalse(m.tokens.contains(p.token) && m.patches(level: p.level).contains(p.patch),
                                   "\(name) case, seed \(seed): pair \(p) masked on both sides: \(m)")
                }
                if m.tokens == [2] { tokenSide += 1 } else { patchSide += 1 }
                if name == "word", m.tokens == [2] { XCTAssertTrue(m.level5.allSatisfy { $0 >= 20 }, "seed \(seed): \(m)") }
                if name == "patch", m.level4.contains(3) { XCTAssertEqual(m.tokens, [1], "seed \(seed): \(m)") }
            }
            // Both sides of the strongest pair occur, so both branches were exercised.
            XCTAssertGreaterThan(tokenSide, 5, name)
            XCTAssertGreaterThan(patchSide, 5, name)
        }
    }

    /// Evaluation inputs carry no perturbation: colour features as cached, ids as given.
    func testEvaluationInputsAreClean() throws {
        let source = MemoryKaleidoSource(dim: d)
        source.pairs[1] = [KaleidoAlignment(token: 1, level: 3, patch: 0, strength: 1)]
        let b = try builder(source)
        let ids = [try b.ids(row: 1), try b.ids(row: 2)]
        let x = try b.clean(imageRows: [1, 3], ids: ids, device: .cpu)
        XCTAssertEqual(try x.features.reshape([-1]).toArray(Float.self),
                       try source.patches(row: 1).colour + source.patches(row: 3).colour)
        XCTAssertEqual(try x.positions.reshape([-1]).toArray(Float.self),
                       try source.patches(row: 1).positions + source.patches(row: 3).positions)
        XCTAssertEqual(try x.ids.reshape([-1]).toArray(Int64.self), ids[0] + ids[1])
        XCTAssertEqual(try x.attentionMask.reshape([-1]).toArray(Int64.self), (ids[0] + ids[1]).map { $0 == 0 ? 0 : 1 })
    }
}

/// Camouflage prediction, end to end (builder → tensors → K3 states → camouflage_head → CE), on sources where the
/// swapped K3 cell can be told from the product's other cells.
final class KaleidoCamouflageLearningTests: XCTestCase {
    /// Synthetic features: `flat` gives every one of a product's 55 cells the same vector (the camouflaged K3 cell is
    /// the only cell unlike the rest); `crossLevel` gives each K3 cell its own vector and each K4 / K5 cell the vector
    /// of the K3 cell holding its centre (K1, K2 random), so the swapped cell is only told apart by comparing levels.
    final class Source: KaleidoInputSource, @unchecked Sendable {
        enum Kind { case flat, crossLevel }
        let kind: Kind
        let featureDim = 8, alignedTextField = "title", alignedTextLength = 16
        init(_ kind: Kind) { self.kind = kind }
        func patches(row: Int) throws -> KaleidoPatchSet {
            var rng = SeededRNG(seed: 7, stream: UInt64(row))
            func vector() -> [Float] { (0..<featureDim).map { _ in Float(rng.unit()) * 4 - 2 } }
            let k3 = (0..<9).map { _ in vector() }
            var colour: [[Float]] = [], positions: [Float] = []
            for k in 1...5 {
                for r in 0..<k {
                    for c in 0..<k {
                        let (x0, x1, y0, y1) = (Float(c) / Float(k), Float(c + 1) / Float(k), Float(r) / Float(k), Float(r + 1) / Float(k))
                        positions += [x0, x1, y0, y1, (x1 - x0) * (y1 - y0)]
                        let holder = Int(3 * (y0 + y1) / 2) * 3 + Int(3 * (x0 + x1) / 2)
                        switch kind {
                        case .flat: colour.append(k3[0])
                        case .crossLevel: colour.append(k < 3 ? vector() : k == 3 ? k3[r * 3 + c] : k3[holder])
                        }
                    }
                }
            }
            return KaleidoPatchSet(dim: featureDim, colour: Array(colour.joined()), rotated: Array(colour[0..<3].joined()),
                                   grey: Array(colour[14..<30].joined()), positions: positions)
        }
        func alignments(row: Int) throws -> [KaleidoAlignment] { [] }
    }

    /// Trains a small model on CP alone for `steps` batches of 24 products; its CP accuracy on 4 fresh batches.
    func trainedAccuracy(_ kind: Source.Kind, steps: Int, lr: Double = 3e-3, seed: UInt64 = 3) throws -> Double {
        let n = 24
        let b = KaleidoBatchBuilder(source: Source(kind), captions: (0..<n).map { KaleidoMaskingTests.captions[$0 % 6] },
                                    productIDs: (0..<n).map { Int64(100 + $0) }, pool: Array(0..<n), textLength: 16,
                                    vocabularySize: 30522, mode: .random, vocab: try SyncMaskVocab.bertBaseUncased(),
                                    tokenizer: try WordPieceTokenizer.bertBaseUncased())
        var c = KaleidoConfig()
        (c.hidden, c.layers, c.heads, c.intermediateSize, c.textLength, c.featureDim, c.dropout) = (32, 2, 2, 64, 16, 8, 0)
        Torch.manualSeed(seed)
        let model = try KaleidoBERT(c)
        let optimizer = AdamW(ParamGroup.decayAndNoDecay(model.namedParameters(), weightDecay: 0), lr: lr, betas: (0.9, 0.98), eps: 1e-6)
        let terms = KaleidoTerms(amlm: false, itm: false, rr: false, jps: false, cp: true, g2cm: false, b2cm: false)
        var rng = SeededRNG(seed: 11)
        for _ in 0..<steps {
            let l = try model.losses(b.build(rows: Array(0..<n), rng: &rng).tensors(device: .cpu), terms: terms)
            try l.total.backward()
            try optimizer.step()
            try optimizer.zeroGrad()
        }
        model.eval()
        var held = SeededRNG(seed: 999)
        var hits = 0.0
        try Torch.noGrad {
            for _ in 0..<4 {
                let l = try model.losses(b.build(rows: Array(0..<n), rng: &held).tensors(device: .cpu), terms: terms)
                hits += try XCTUnwrap(l.accuracies["cp_acc"]).item()
            }
        }
        return hits / 4
    }

    /// Positive control: when the swapped cell is the only odd one, a small model trained on CP alone finds it on
    /// fresh draws (measured: chance for the first ~150 steps, then 0.88–0.95 at 400 steps over seeds 1–3); a label
    /// that does not name the written slot, or a head reading other tokens than K3's, keeps it at chance (1/9).
    func testCamouflageIsLearnedWhenTheSwappedCellIsObvious() throws {
        let acc = try trainedAccuracy(.flat, steps: 400, lr: 3e-3, seed: 3)
        XCTAssertGreaterThan(acc, 0.5, "camouflage accuracy on fresh draws (chance 1/9)")
    }

    /// Not a check (skipped unless KALEIDO_CP_PROBE is set): CP accuracy of the same model on `crossLevel` features
    /// (or `flat` with KALEIDO_CP_PROBE=flat), KALEIDO_CP_STEPS steps (150) at KALEIDO_CP_LR (3e-3), seeds 1–3.
    func testCamouflageCrossLevelProbe() throws {
        guard ProcessInfo.processInfo.environment["KALEIDO_CP_PROBE"] != nil else { throw XCTSkip("set KALEIDO_CP_PROBE=1") }
        let env = ProcessInfo.processInfo.environment
        let kind: Source.Kind = env["KALEIDO_CP_PROBE"] == "flat" ? .flat : .crossLevel
        let steps = Int(env["KALEIDO_CP_STEPS"] ?? "") ?? 150, lr = Double(env["KALEIDO_CP_LR"] ?? "") ?? 3e-3
        for seed in UInt64(1)...3 {
            print("CP accuracy, \(kind) source, \(steps) steps, lr \(lr), seed \(seed): \(try trainedAccuracy(kind, steps: steps, lr: lr, seed: seed))")
        }
    }
}
