// The SyncMask figure on a synthetic example: a striped navy shirt with a red collar, whose "striped" and
// "collar" tokens attend to the matching patches.
import FashionData
@testable import FashionEval
import FashionTrain
import Foundation
import XCTest

final class SyncMaskFigureTests: XCTestCase {
    /// (3, 64, 64): grey background, navy body with white stripes in the middle, a red collar at the top.
    static func shirt() -> [Float] {
        let s = 64
        var img = [Float](repeating: 0.85, count: 3 * s * s)
        for y in 0..<s {
            for x in 0..<s {
                var c: (Float, Float, Float)? = nil
                if (12..<60).contains(y), (14..<50).contains(x) { c = y % 8 < 2 ? (0.95, 0.95, 0.95) : (0.1, 0.15, 0.4) }
                if (6..<14).contains(y), (24..<40).contains(x) { c = (0.8, 0.1, 0.1) }
                if let c { img[y * s + x] = c.0; img[s * s + y * s + x] = c.1; img[2 * s * s + y * s + x] = c.2 }
            }
        }
        return img
    }

    func testFigureRendersAPNGOfTheExpectedSize() throws {
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let vocab = try SyncMaskVocab.bertBaseUncased()
        let texts = ["Navy striped shirt with a red collar, made in Italy from 100% cotton.",
                     "Striped cotton shirt in navy; pointed red collar and long sleeves."]
        let l = 24, n = 16, grid = 4
        var ids: [Int64] = [], mask: [Int64] = [], tokens: [[String]] = []
        for text in texts {
            let row = try tokenizer.encode(text, maxLength: l).map(Int64.init)
            ids += row + [Int64](repeating: 0, count: l - row.count)
            mask += [Int64](repeating: 1, count: row.count) + [Int64](repeating: 0, count: l - row.count)
            tokens.append(try tokenizer.decode(row.map(Int32.init)))
        }
        // Every row diffuse and mostly on [CLS]; "striped" on the body patches, "collar" on patch (0, 1)/(0, 2).
        var a = [Float](repeating: 0, count: 2 * l * (1 + n))
        for r in 0..<2 * l {
            a[r * (1 + n)] = 0.6
            for p in 0..<n { a[r * (1 + n) + 1 + p] = 0.4 / Float(n) }
        }
        func focus(_ i: Int, _ word: String, _ patches: [Int]) {
            for t in 0..<l where tokens[i].count > t && tokens[i][t] == word {
                let base = (i * l + t) * (1 + n)
                a[base] = 0.1
                for p in 0..<n { a[base + 1 + p] = patches.contains(p) ? 0.9 / Float(patches.count) : 0 }
            }
        }
        for i in 0..<2 {
            focus(i, "striped", [5, 6, 9, 10, 13, 14])
            focus(i, "collar", [1, 2])
        }
        var selector = SyncMaskSelector(vocab: vocab, textRatio: 0.2, poolFactor: 1, warmupFraction: 0)
        var rng = SeededRNG(seed: 1)
        let sync = try selector.select(attention: a, ids: ids, attentionMask: mask, batchSize: 2, patches: n,
                                       step: 0, totalSteps: 1, rng: &rng)
        XCTAssertEqual(Set(sync.chosenWordTexts), ["striped", "collar"])
        selector.mode = .random
        let random = try selector.select(attention: a, ids: ids, attentionMask: mask, batchSize: 2, patches: n,
                                         step: 0, totalSteps: 1, rng: &rng)
        let image = Self.shirt()
        var pairs = (0..<2).map {
            SyncMaskFigure.Pair(batch: sync, index: $0, image: image, imageSide: 64, tokens: tokens[$0], grid: grid)
        }
        pairs.append(.init(batch: random, index: 0, image: image, imageSide: 64, tokens: tokens[0], grid: grid))
        let png = try SyncMaskFigure.render(pairs)
        // panel 192 (64 × 3), text 44 chars × 12 px; header 66; rows of max(192, 24 · (1 + lines)) + 16.
        XCTAssertEqual(png.width, 16 + 2 * (192 + 16) + 528 + 16)
        XCTAssertEqual(png.height, 66 + 3 * (192 + 16) + 16)
        let path = NSTemporaryDirectory() + "syncmask-figure-test.png"
        try png.writePNG(to: path)
        let back = try ImageDecoder().decode(file: path)
        XCTAssertEqual(back.width, png.width)
        XCTAssertEqual(back.height, png.height)
        // Patch 1 (under the collar's attention) is masked: its background is tinted orange.
        XCTAssertTrue(sync.patchMask[1])
        let k = ((66 + 4) * png.width + 16 + 52) * 3
        XCTAssertGreaterThan(Int(png.pixels[k]), Int(png.pixels[k + 2]) + 60)
        XCTAssertThrowsError(try SyncMaskFigure.render([]))
        var bad = pairs[0]
        bad.patchMask = [true]
        XCTAssertThrowsError(try SyncMaskFigure.render([bad]))
    }
}
