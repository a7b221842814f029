import FashionData
import FashionEval
import FashionTrain
import Foundation
import XCTest

/// Which rows `evaluate` scores: a folder's validation.h5; on the run's own single file only the products the
/// run held out (its DataSplit); any other file, or `allRows`, every row.
final class EvaluationDataTests: XCTestCase {
    func testRowsFollowTheRunsSplit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-evaldata-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SyntheticCatalog(.init(products: 30, imageSize: 32, seed: 2)).write(to: dir + "/data")
        let file = dir + "/data/train.h5"
        func run(_ name: String, data: String, seed: UInt64) throws -> String {
            let folder = dir + "/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let config = #"{"data": "\#(data)", "train": {"seed": \#(seed), "steps": 2}, "model": {}}"#
            try Data(config.utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
            return folder
        }

        let folder = try EvaluationData.open(dir + "/data", run: run("a", data: dir + "/data", seed: 0))
        XCTAssertNil(folder.rows)
        XCTAssertEqual(folder.split, "validation")
        XCTAssertTrue(folder.path.hasSuffix("/data/validation.h5"))

        // The run trained on this very file (named through a `..` path): its held-out products only.
        let own = try run("b", data: dir + "/data/../data/train.h5", seed: 3)
        let heldOut = try EvaluationData.open(file, run: own)
        let expected = try DataSplit.open(file, seed: 3).validationRows
        XCTAssertEqual(heldOut.rows, expected)
        XCTAssertLessThan(expected.count, try FashionGenFile(path: file).count)
        XCTAssertEqual(heldOut.split, "held-out products of train.h5 (the run's split, seed 3)")

        XCTAssertNil(try EvaluationData.open(file, run: own, allRows: true).rows)
        XCTAssertNil(try EvaluationData.open(file, run: run("c", data: dir + "/data/validation.h5", seed: 3)).rows)
        let bare = try EvaluationData.open(file, run: nil)
        XCTAssertNil(bare.rows)
        XCTAssertEqual(bare.split, "all rows of train.h5")
        XCTAssertThrowsError(try EvaluationData.open(dir + "/absent.h5", run: nil)) { e in
            XCTAssertTrue("\(e)".contains("absent.h5"), "\(e)")
        }
    }
}
