import Foundation
import XCTest
@testable import FashionData

/// Decoding fixtures written by Tests/reference/img_fixtures.py (Pillow), with hand-known pixels.
final class ImageDecodeTests: XCTestCase {
    static var fixtures: URL?

    override class func setUp() {
        super.setUp()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-img-fixtures-\(getpid())")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("reference/img_fixtures.py")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [script.path, dir.path]
        p.standardError = FileHandle.nullDevice
        if (try? p.run()) != nil {
            p.waitUntilExit()
            if p.terminationStatus == 0 { fixtures = dir }
        }
    }

    func fixture(_ name: String) throws -> String {
        guard let dir = Self.fixtures else { throw XCTSkip("/usr/bin/python3 with Pillow is needed for the image fixtures") }
        return dir.appendingPathComponent(name).path
    }

    func testRGBPNG() throws {
        let img = try ImageDecoder().decode(file: try fixture("rgb.png"))
        XCTAssertEqual(img.width, 3)
        XCTAssertEqual(img.height, 2)
        XCTAssertEqual(img.pixels, [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 128, 128, 128, 255, 255, 255])
    }

    func testGreyPNGExpandsToRGB() throws {
        let img = try ImageDecoder().decode(file: try fixture("grey.png"))
        XCTAssertEqual(img.pixels, [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255])
    }

    func testRGBAPNGCompositesOnWhite() throws {
        // (255,0,0,a=128) over white: 255 and (255·127 + 127) / 255 = 127; alpha 0 → white.
        let img = try ImageDecoder().decode(file: try fixture("rgba.png"))
        XCTAssertEqual(img.pixels, [255, 127, 127, 255, 255, 255])
    }

    func test16BitPNGKeepsHighByte() throws {
        let img = try ImageDecoder().decode(file: try fixture("grey16.png"))
        XCTAssertEqual(img.pixels, [0x12, 0x12, 0x12, 0xFF, 0xFF, 0xFF])
    }

    func testAdobeCMYKJPEGConvertsToRGB() throws {
        let img = try ImageDecoder().decode(file: try fixture("cmyk.jpg"))
        XCTAssertEqual(img.width, 16)
        let (r, g, b) = (img.value(x: 8, y: 8, channel: 0), img.value(x: 8, y: 8, channel: 1), img.value(x: 8, y: 8, channel: 2))
        XCTAssertGreaterThan(r, 240, "cyan 0, magenta 255, yellow 255 is red")
        XCTAssertLessThan(g, 15)
        XCTAssertLessThan(b, 15)
    }

    func testCMYKJPEGWithoutAdobeMarkerIsRefused() throws {
        let path = try fixture("cmyk_no_adobe.jpg")
        XCTAssertThrowsError(try ImageDecoder().decode(file: path)) { error in
            XCTAssertEqual(error as? ImageError, .unsupportedCMYK(file: path))
        }
    }

    func testJPEGDecodes() throws {
        let img = try ImageDecoder().decode(file: try fixture("green.jpg"))
        XCTAssertEqual(Int(img.value(x: 5, y: 5, channel: 0)), 40, accuracy: 4)
        XCTAssertEqual(Int(img.value(x: 5, y: 5, channel: 1)), 160, accuracy: 4)
        XCTAssertEqual(Int(img.value(x: 5, y: 5, channel: 2)), 90, accuracy: 4)
    }

    func testCorruptFilesGiveTypedErrorsNamingTheFile() throws {
        for name in ["corrupt.jpg", "truncated.png", "not_an_image.jpg"] {
            let path = try fixture(name)
            XCTAssertThrowsError(try ImageDecoder().decode(file: path), name) { error in
                guard case let .corrupt(file, reason)? = error as? ImageError else { return XCTFail("\(name): \(error)") }
                XCTAssertEqual(file, path)
                XCTAssertFalse(reason.isEmpty)
            }
        }
    }

    func testBombHeadersAreRefusedBeforeDecoding() throws {
        let bomb = try fixture("bomb.png")
        XCTAssertThrowsError(try ImageDecoder().decode(file: bomb)) { error in
            guard case let .tooLarge(file, w, h, _)? = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertEqual([file, "\(w)", "\(h)"], [bomb, "100000", "100000"])
        }
        let wide = try fixture("wide.png")
        XCTAssertThrowsError(try ImageDecoder().decode(file: wide)) { error in
            guard case let .tooLarge(_, w, h, _)? = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertEqual([w, h], [20_000, 10])
        }
        // A tighter guard applies to ordinary images too.
        XCTAssertThrowsError(try ImageDecoder(maxSide: 2, maxPixels: 100).decode(file: try fixture("rgb.png")))
    }

    func testMissingFileIsUnreadable() {
        XCTAssertThrowsError(try ImageDecoder().decode(file: "/nonexistent/x.png")) { error in
            guard case let .unreadable(file, _)? = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "/nonexistent/x.png")
        }
    }

    func testEmptyDataIsCorrupt() {
        XCTAssertThrowsError(try ImageDecoder().decode(data: Data(), name: "empty.png")) { error in
            XCTAssertEqual(error as? ImageError, .corrupt(file: "empty.png", reason: "empty file"))
        }
    }

    func testPNGWriteReadRoundTrip() throws {
        var pixels: [UInt8] = []
        for i in 0..<(7 * 5 * 3) { pixels.append(UInt8((i * 37) % 256)) }
        let img = try RGBImage(width: 7, height: 5, pixels: pixels)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-roundtrip-\(getpid()).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try img.writePNG(to: path)
        XCTAssertEqual(try ImageDecoder().decode(file: path), img)
    }

    func testJPEGMarkerScan() throws {
        let path = try fixture("cmyk.jpg")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let markers = data.withUnsafeBytes { JPEGMarkers.scan($0) }
        XCTAssertEqual(markers, JPEGMarkers(components: 4, adobeTransform: 0, width: 16, height: 16))
    }
}
