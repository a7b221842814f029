import FashionData
import XCTest

final class TextHashTests: XCTestCase {
    func testNormalisationAndKnownValue() {
        XCTAssertEqual(TextHash.of("  Navy   Wool\tBlazer "), TextHash.of("navy wool blazer"))
        XCTAssertNotEqual(TextHash.of("navy wool blazer"), TextHash.of("navy wool blazers"))
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; masked to 62 bits.
        XCTAssertEqual(TextHash.of("A"), Int64(bitPattern: 0xaf63_dc4c_8601_ec8c & 0x3FFF_FFFF_FFFF_FFFF))
        XCTAssertGreaterThanOrEqual(TextHash.of(""), 0)
    }
}
