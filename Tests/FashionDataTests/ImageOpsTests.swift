import XCTest
@testable import FashionData

/// Resize, pad, flip and normalise on tiny images, against hand-computed values.
final class ImageOpsTests: XCTestCase {
    /// A greyscale row/column image: every value repeated over R, G, B.
    func grey(_ values: [UInt8], width: Int, height: Int) throws -> RGBImage {
        try RGBImage(width: width, height: height, pixels: values.flatMap { [$0, $0, $0] })
    }

    func reds(_ img: RGBImage) -> [UInt8] { stride(from: 0, to: img.pixels.count, by: 3).map { img.pixels[$0] } }

    func testBilinearUpsample() throws {
        // Half-pixel centres: source x = (x + 0.5)·0.5 − 0.5 → −0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
        let img = try grey([0, 100], width: 2, height: 1).resized(width: 4, height: 1, filter: .bilinear)
        XCTAssertEqual(reds(img), [0, 25, 75, 100])
    }

    func testAreaDownsample() throws {
        XCTAssertEqual(reds(try grey([10, 20, 30, 50], width: 4, height: 1).resized(width: 2, height: 1, filter: .area)), [15, 40])
        // Non-integer ratio 1.5: (0 + 90·0.5) / 1.5 = 30, (90·0.5 + 180) / 1.5 = 150.
        XCTAssertEqual(reds(try grey([0, 90, 180], width: 3, height: 1).resized(width: 2, height: 1, filter: .area)), [30, 150])
        // 2×2 → 1×1 averages all four.
        XCTAssertEqual(reds(try grey([0, 10, 20, 30], width: 2, height: 2).resized(width: 1, height: 1, filter: .area)), [15])
    }

    func testResizeRejectsZero() throws {
        XCTAssertThrowsError(try grey([1], width: 1, height: 1).resized(width: 0, height: 3))
    }

    func testPadToSquareOnWhite() throws {
        let wide = try grey([7, 9], width: 2, height: 1).paddedToSquare()
        XCTAssertEqual([wide.width, wide.height], [2, 2])
        XCTAssertEqual(reds(wide), [7, 9, 255, 255])
        let tall = try grey([1, 2, 3], width: 1, height: 3).paddedToSquare()
        XCTAssertEqual(reds(tall), [255, 1, 255, 255, 2, 255, 255, 3, 255])
    }

    func testSquaredPadsThenResizes() throws {
        // 2×1 [0, 100] → pad → [[0,100],[255,255]] → area to 1×1 = (0 + 100 + 255 + 255) / 4 = 152.5 → 153.
        XCTAssertEqual(reds(try grey([0, 100], width: 2, height: 1).squared(size: 1)), [153])
    }

    func testHorizontalFlip() throws {
        let img = try RGBImage(width: 3, height: 1, pixels: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(img.flippedHorizontally().pixels, [7, 8, 9, 4, 5, 6, 1, 2, 3])
        XCTAssertEqual(img.flippedHorizontally().flippedHorizontally(), img)
    }

    func testNormaliseCHW() throws {
        let img = try RGBImage(width: 2, height: 1, pixels: [255, 0, 51, 0, 255, 102])
        let out = try img.normalized(mean: ImageNorm.halfMean, std: ImageNorm.halfStd)
        let expected: [Float] = [1, -1, /* G */ -1, 1, /* B */ -0.6, -0.2]
        for (a, b) in zip(out, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        let imagenet = try img.normalized()
        XCTAssertEqual(imagenet[0], (1 - 0.485) / 0.229, accuracy: 1e-5)
        XCTAssertThrowsError(try img.normalized(mean: [0, 0, 0], std: [1, 0, 1]))
    }

    func testRGBImageRejectsWrongByteCount() {
        XCTAssertThrowsError(try RGBImage(width: 2, height: 2, pixels: [0, 0, 0]))
    }
}
