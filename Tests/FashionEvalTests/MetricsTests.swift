import XCTest
@testable import FashionEval

final class RetrievalMetricsTests: XCTestCase {
    func testRanksWithPessimisticTies() throws {
        let scores: [[Double]] = [
            [0.9, 0.1, 0.5, 0.3],  // positive highest → 1
            [0.2, 0.2, 0.1, 0.2],  // two negatives tie the positive → pessimistic 3, optimistic 1
            [0.1, 0.3, 0.9, 0.0],  // positive at index 2, highest → 1
            [0.4, 0.8, 0.4, 0.9],  // positive at 0: two above, one tie → pessimistic 4, optimistic 3
            [7, 7, 7, 7],          // degenerate scores: pessimistic 4, optimistic 1
        ]
        let r = try Retrieval.ranks(scores: scores, positives: [0, 0, 2, 0, 3])
        XCTAssertEqual(r.pessimistic, [1, 3, 1, 4, 4])
        XCTAssertEqual(r.optimistic, [1, 1, 1, 3, 1])
        let m = DirectionMetrics(ranks: r)
        XCTAssertEqual(m.r1, 40); XCTAssertEqual(m.optimisticR1, 80)
        XCTAssertEqual(m.r5, 100)
        XCTAssertEqual(m.medianRank, 3)
        XCTAssertEqual(m.meanRank, 13.0 / 5)
    }

    func testNaNScoresRankLastPessimistically() throws {
        let r = try Retrieval.ranks(scores: [[Double.nan, 0.1, 0.2], [0.5, .nan, 0.1]] as [[Double]], positives: [0, 0])
        XCTAssertEqual(r.pessimistic, [3, 2])
        XCTAssertEqual(r.optimistic, [1, 1])
    }

    func testRecallAtKFromKnownRanks() throws {
        // Positive at index 0 of 21 candidates; rank r means r − 1 negatives score above it.
        let wanted = [1, 2, 5, 6, 10, 11, 1, 3, 20, 1]
        let scores: [[Float]] = wanted.map { r in [0.5] + (1...20).map { j in j < r ? 0.9 : 0.1 } }
        let ranks = try Retrieval.ranks(scores: scores, positives: Array(repeating: 0, count: 10))
        XCTAssertEqual(ranks.pessimistic, wanted)
        let m = DirectionMetrics(ranks: ranks)
        XCTAssertEqual(m.r1, 30); XCTAssertEqual(m.r5, 60); XCTAssertEqual(m.r10, 80); XCTAssertEqual(m.sum, 170)
        XCTAssertEqual(m.medianRank, 4)  // 1 1 1 2 3 | 5 6 10 11 20
    }

    func testMeanStdAndSumROverDraws() throws {
        let s = MeanStd([1, 3])
        XCTAssertEqual(s.mean, 2); XCTAssertEqual(s.std, 1); XCTAssertEqual(s.n, 2)
        XCTAssertEqual(MeanStd([2, 4, 4, 4, 5, 5, 7, 9]).std, 2)
        // Two seeds × two directions of 2 queries each.
        func draw(_ d: RetrievalDirection, _ seed: UInt64) -> S100Draw {
            let q = S100Query(queryProduct: 1, queryRow: 0, candidateProducts: [1, 2], candidateRows: [0, 1], positiveIndex: 0,
                              fromSubcategory: 1, fromCategory: 0, fromRandom: 0)
            return S100Draw(direction: d, seed: seed, requestedQueries: 2, negativesPerQuery: 1, productCount: 2,
                            queries: [q, q], fillFraction: 0, filledQueryFraction: 0, notes: [])
        }
        let set = S100DrawSet(source: "x", draws: [draw(.tir, 0), draw(.itr, 0), draw(.tir, 1), draw(.itr, 1)])
        let ranks = [QueryRanks(pessimistic: [1, 2], optimistic: [1, 1]), QueryRanks(pessimistic: [1, 1], optimistic: [1, 1]),
                     QueryRanks(pessimistic: [2, 2], optimistic: [1, 2]), QueryRanks(pessimistic: [1, 2], optimistic: [1, 2])]
        let r = try RetrievalResult(method: "m", dataset: "d", split: "validation", textField: "title", scorer: "itm",
                                    draws: set, ranks: ranks)
        // Seed 0: TIR 50+100+100, ITR 100+100+100 → 550. Seed 1: TIR 0+100+100, ITR 50+100+100 → 450.
        XCTAssertEqual(r.tir.r1.mean, 25); XCTAssertEqual(r.tir.r1.std, 25)
        XCTAssertEqual(r.sumR.mean, 500); XCTAssertEqual(r.sumR.std, 50)
        XCTAssertEqual(r.seeds, [0, 1])
        XCTAssertThrowsError(try RetrievalResult(method: "m", dataset: "d", split: "v", textField: "title", scorer: "itm",
                                                 draws: set, ranks: Array(ranks.prefix(3))))
    }

    func testBadInputsThrow() {
        XCTAssertThrowsError(try Retrieval.ranks(scores: [[1, 2]] as [[Double]], positives: [2]))
        XCTAssertThrowsError(try Retrieval.ranks(scores: [[1, 2]] as [[Double]], positives: [0, 0]))
    }
}

final class ClassificationTests: XCTestCase {
    // Expected values worked out by hand below and by Tests/reference/eval_metrics_ref.py (sklearn semantics).
    func testAccuracyMacroF1AndConfusion() throws {
        // truth 0 0 1 1 2, predicted 0 1 1 1 0, 4 classes (class 3 never occurs).
        // F1 = 2tp / (2tp + fp + fn): class 0: 2/(2+1+1) = .5; class 1: 4/(4+1+0) = .8; class 2: 0; class 3: 0/0 → 0.
        let m = try Classification.evaluate(truth: [0, 0, 1, 1, 2], predicted: [0, 1, 1, 1, 0], classCount: 4)
        XCTAssertEqual(m.accuracy, 0.6, accuracy: 1e-12)
        XCTAssertEqual(m.perClassF1, [0.5, 0.8, 0, 0])
        XCTAssertEqual(m.presentClasses, [0, 1, 2])
        XCTAssertEqual(m.macroF1, 1.3 / 3, accuracy: 1e-12)           // sklearn f1_score(average='macro') = 0.43333
        XCTAssertEqual(m.macroF1AllClasses, 1.3 / 4, accuracy: 1e-12) // labels=range(4) = 0.325
        XCTAssertEqual(m.confusion, [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    }

    func testClassOnlyInPredictionsCountsInTheMacroAverage() throws {
        // truth 0 0 1, predicted 0 2 1: class 2 is predicted but never true → F1 0, still averaged.
        // class 0: 2/(2+0+1) = 2/3; class 1: 1; class 2: 0 → (2/3 + 1 + 0) / 3 = 0.5556.
        let m = try Classification.evaluate(truth: [0, 0, 1], predicted: [0, 2, 1], classCount: 5)
        XCTAssertEqual(m.presentClasses, [0, 1, 2])
        XCTAssertEqual(m.macroF1, (2.0 / 3 + 1) / 3, accuracy: 1e-12)
        XCTAssertEqual(m.macroF1AllClasses, (2.0 / 3 + 1) / 5, accuracy: 1e-12)
        XCTAssertEqual(m.accuracy, 2.0 / 3, accuracy: 1e-12)
    }

    func testTrueClassNeverPredicted() throws {
        // truth 0 1 2 2, predicted 0 1 1 1: class 2 absent from predictions.
        // class 0: 1; class 1: 2/(2+2+0) = .5; class 2: 0/(0+0+2) = 0 → 0.5.
        let m = try Classification.evaluate(truth: [0, 1, 2, 2], predicted: [0, 1, 1, 1], classCount: 3)
        XCTAssertEqual(m.macroF1, 0.5, accuracy: 1e-12)
        XCTAssertEqual(m.accuracy, 0.5)
    }

    func testClassListMapsUnseenLabelsToUnknown() throws {
        let classes = ClassList(trainLabels: ["TOPS", "BAGS", "TOPS", "SHOES"])
        XCTAssertEqual(classes.names, ["BAGS", "SHOES", "TOPS"])
        XCTAssertEqual(classes.index(of: "SHOES"), 1)
        XCTAssertEqual(classes.index(of: "HATS"), 3)
        XCTAssertEqual(classes.index(of: "ZZZ"), classes.unknownIndex)
        // An unknown truth label is always an error.
        let truth = ["TOPS", "HATS"].map(classes.index(of:))
        let m = try Classification.evaluate(truth: truth, predicted: [2, 2], classCount: classes.count + 1)
        XCTAssertEqual(m.accuracy, 0.5)
        XCTAssertEqual(Classification.argmax([[0.1, 0.7, 0.2], [3, 3, 1]]), [1, 0])
        XCTAssertThrowsError(try Classification.evaluate(truth: [0, 5], predicted: [0, 0], classCount: 3))
        XCTAssertThrowsError(try Classification.evaluate(truth: [0], predicted: [0, 0], classCount: 3))
    }
}
