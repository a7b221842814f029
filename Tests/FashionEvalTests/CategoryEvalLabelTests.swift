import XCTest
@testable import FashionEval

/// Class lists from the train split (sorted), validation labels remapped by name, unseen names scored as errors.
final class CategoryEvalLabelTests: XCTestCase {
    func testTrainClassListsAreSortedAndDeduplicated() {
        let c = CategoryClasses(categories: ["SHOES", "BAGS", "TOPS", "BAGS"], subcategories: ["JEANS", "BOOTS", "JEANS"])
        XCTAssertEqual(c.categories, ["BAGS", "SHOES", "TOPS"])
        XCTAssertEqual(c.subcategories, ["BOOTS", "JEANS"])
        XCTAssertEqual(c.list(.mcr).unknownIndex, 3)
        XCTAssertEqual(c.list(.scr).names, ["BOOTS", "JEANS"])
    }

    func testValidationLabelsAreRemappedByName() {
        let train = ClassList(trainLabels: ["BAGS", "SHOES", "TOPS"])
        // The validation file's own sorted list has a class train never had, which shifts every later index.
        let remap = LabelRemap(fileNames: ["BAGS", "CORSETS", "SHOES", "TOPS"], classes: train)
        XCTAssertEqual(remap.table, [0, 3, 1, 2])
        XCTAssertEqual(remap.unseenNames, ["CORSETS"])
        XCTAssertEqual(remap([0, 1, 2, 3]), [0, train.unknownIndex, 1, 2])
        XCTAssertEqual(remap(7), train.unknownIndex, "a label outside the file's list is unknown too")
        // Same names in the same order: the identity.
        XCTAssertEqual(LabelRemap(fileNames: ["BAGS", "SHOES", "TOPS"], classes: train).table, [0, 1, 2])
    }

    func testUnseenLabelsScoreAsErrors() throws {
        let train = ClassList(trainLabels: ["BAGS", "SHOES", "TOPS"])
        let remap = LabelRemap(fileNames: ["BAGS", "CORSETS", "SHOES", "TOPS"], classes: train)
        let truth = remap([0, 1, 2, 3, 1])                       // → [0, 3, 1, 2, 3]
        let m = try CategoryScoring.score(truth: truth, predicted: [0, 0, 1, 2, 2], classes: train)
        XCTAssertEqual(m.accuracy, 0.6, accuracy: 1e-12)          // both CORSETS samples are wrong whatever was predicted
        XCTAssertEqual(m.classCount, 4)
        XCTAssertEqual(m.confusion[3], [1, 0, 1, 0], "the unknown row holds the unseen samples' predictions")
        // sklearn f1_score(average='macro'): present labels {0,1,2,3} → (2/3 + 1 + 2/3 + 0) / 4.
        XCTAssertEqual(m.macroF1, (2.0 / 3 + 1 + 2.0 / 3 + 0) / 4, accuracy: 1e-12)
        // sklearn f1_score(labels=range(3), average='macro'): the unknown samples still count as false positives.
        XCTAssertEqual(m.macroF1AllClasses, (2.0 / 3 + 1 + 2.0 / 3) / 3, accuracy: 1e-12)
        XCTAssertEqual(CategoryScoring.axisNames(m, classes: train), ["BAGS", "SHOES", "TOPS", "unknown"])
    }

    func testWithoutUnseenLabelsThereIsNoUnknownClass() throws {
        let train = ClassList(trainLabels: ["BAGS", "SHOES", "TOPS"])
        let m = try CategoryScoring.score(truth: [0, 1, 2, 2], predicted: [0, 1, 2, 1], classes: train)
        XCTAssertEqual(m.classCount, 3)
        XCTAssertEqual(m.accuracy, 0.75)
        XCTAssertEqual(CategoryScoring.axisNames(m, classes: train), ["BAGS", "SHOES", "TOPS"])
        // Every class is present, so both forms agree: (1 + 2/3 + 2/3) / 3.
        XCTAssertEqual(m.macroF1, (1 + 2.0 / 3 + 2.0 / 3) / 3, accuracy: 1e-12)
        XCTAssertEqual(m.macroF1AllClasses, m.macroF1, accuracy: 1e-12)
    }
}
