import FashionTrain
import XCTest

/// `DataParallel.share`: how distributed evaluation cuts n items across the ranks (docs/DISTRIBUTED.md).
final class DataParallelShareTests: XCTestCase {
    /// The shares are contiguous, in rank order, cover 0..<n exactly once, start on a unit boundary, and differ by
    /// at most one unit, for even and uneven splits and for more ranks than units.
    func testSharesPartitionTheItemsInWholeUnits() {
        for n in [0, 1, 7, 37, 95, 96] {
            for unit in [1, 4, 64] {
                for world in [1, 2, 3, 8] {
                    let shares = (0..<world).map { DataParallel.share(of: n, unit: unit, rank: $0, worldSize: world) }
                    var next = 0
                    for s in shares {
                        XCTAssertEqual(s.lowerBound, next, "n \(n) unit \(unit) world \(world): \(shares)")
                        XCTAssertTrue(s.isEmpty || s.lowerBound % unit == 0, "\(shares)")
                        next = s.upperBound
                    }
                    XCTAssertEqual(next, n, "n \(n) unit \(unit) world \(world): \(shares)")
                    let units = shares.map { ($0.count + unit - 1) / unit }
                    XCTAssertLessThanOrEqual((units.max() ?? 0) - (units.min() ?? 0), 1, "\(shares)")
                }
            }
        }
        // 95 rows in batches of 4 on 2 ranks: 12 batches and 11 (the last one short).
        XCTAssertEqual(DataParallel.share(of: 95, unit: 4, rank: 0, worldSize: 2), 0..<48)
        XCTAssertEqual(DataParallel.share(of: 95, unit: 4, rank: 1, worldSize: 2), 48..<95)
    }
}
