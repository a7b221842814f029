import XCTest
@testable import FashionData

/// The Kaleido patch generator (spec/kaleido-bert.md §2, §9) and the alignment rules (§4.2), against
/// hand-computed values on synthetic images.
final class KaleidoPatchTests: XCTestCase {
    /// A `w × h` image of `background` with the rectangles filled.
    func image(_ w: Int, _ h: Int, background: UInt8 = 255, rects: [(PixelRect, (UInt8, UInt8, UInt8))]) -> RGBImage {
        var img = RGBImage(width: w, height: h, fill: (background, background, background))
        for (r, c) in rects {
            for y in r.y0..<r.y1 { for x in r.x0..<r.x1 {
                let i = (y * w + x) * 3
                img.pixels[i] = c.0; img.pixels[i + 1] = c.1; img.pixels[i + 2] = c.2
            } }
        }
        return img
    }

    func testFiftyFivePatchesInLevelOrderTileTheBox() throws {
        XCTAssertEqual(KaleidoPatchSet.levelSizes, [1, 4, 9, 16, 25])
        XCTAssertEqual(KaleidoPatchSet.patchCount, 55)
        XCTAssertEqual((1...5).map { KaleidoPatchSet.offset(level: $0) }, [0, 1, 5, 14, 30])
        let box = PixelRect(x0: 7, y0: 3, x1: 100, y1: 64)
        let all = KaleidoGrid.allCells(of: box)
        XCTAssertEqual(all.count, 55)
        for k in 1...5 {
            let cells = KaleidoGrid.cells(level: k, of: box)
            XCTAssertEqual(cells.count, k * k)
            XCTAssertEqual(Array(all[KaleidoPatchSet.offset(level: k)..<(KaleidoPatchSet.offset(level: k) + k * k)]), cells)
            // Row-major, top-left first; the cells tile the box exactly.
            XCTAssertEqual(cells.first?.x0, box.x0); XCTAssertEqual(cells.first?.y0, box.y0)
            XCTAssertEqual(cells.last?.x1, box.x1); XCTAssertEqual(cells.last?.y1, box.y1)
            XCTAssertEqual(cells.map(\.area).reduce(0, +), box.area)
            for i in 0..<(k * k - 1) where (i + 1) % k != 0 { XCTAssertEqual(cells[i].x1, cells[i + 1].x0) }
            for i in 0..<(k * (k - 1)) { XCTAssertEqual(cells[i].y1, cells[i + k].y0) }
        }
        // Edges at j·side/k rounded half up: side 93 in 2 → 0, 47 (46.5), 93.
        XCTAssertEqual(KaleidoGrid.cells(level: 2, of: box)[0].x1, 7 + 47)
        // The smallest box: 5 px a side gives 1-px cells at K5.
        XCTAssertEqual(Set(KaleidoGrid.cells(level: 5, of: PixelRect(x0: 0, y0: 0, x1: 5, y1: 5)).map(\.area)), [1])
    }

    func testForegroundBoxOfAKnownRectangleIsPaddedByFourPercent() throws {
        let img = image(100, 80, rects: [(PixelRect(x0: 30, y0: 20, x1: 60, y1: 50), (200, 30, 30))])
        let box = try KaleidoForeground.box(of: img)
        // Pad round(0.04·100) = 4 px horizontally, round(0.04·80) = 3 px vertically.
        XCTAssertEqual(box, KaleidoBox(rect: PixelRect(x0: 26, y0: 17, x1: 64, y1: 53), isFullImageFallback: false))
        // Clamped at the image edge.
        let edge = try KaleidoForeground.box(of: image(100, 80, rects: [(PixelRect(x0: 0, y0: 40, x1: 50, y1: 80), (0, 0, 0))]))
        XCTAssertEqual(edge.rect, PixelRect(x0: 0, y0: 37, x1: 54, y1: 80))
    }

    func testBackgroundIsTheBorderMedianAndTheThresholdIsStrict() throws {
        // Light-grey studio background 200; a difference of 20/255 = 0.078 is background, 21/255 = 0.082 is not.
        let faint = image(60, 60, background: 200, rects: [(PixelRect(x0: 10, y0: 10, x1: 50, y1: 50), (180, 200, 200))])
        XCTAssertTrue(try KaleidoForeground.box(of: faint).isFullImageFallback)
        let visible = image(60, 60, background: 200, rects: [(PixelRect(x0: 10, y0: 10, x1: 50, y1: 50), (179, 200, 200))])
        XCTAssertEqual(try KaleidoForeground.box(of: visible), KaleidoBox(rect: PixelRect(x0: 8, y0: 8, x1: 52, y1: 52), isFullImageFallback: false))
        XCTAssertEqual(KaleidoForeground.background(visible), [200, 200, 200])
    }

    func testBlankAndTinyForegroundFallBackToTheFullImage() throws {
        let full = KaleidoBox(rect: PixelRect(x0: 0, y0: 0, x1: 64, y1: 48), isFullImageFallback: true)
        XCTAssertEqual(try KaleidoForeground.box(of: image(64, 48, rects: [])), full)
        // 6×6 object + 4 % pad (3 px across, 2 px down) = 12×10 = 120 px, under 5 % of 3,072 = 153.6; 8×8 → 168 is kept.
        XCTAssertEqual(try KaleidoForeground.box(of: image(64, 48, rects: [(PixelRect(x0: 20, y0: 20, x1: 26, y1: 26), (0, 0, 0))])), full)
        XCTAssertFalse(try KaleidoForeground.box(of: image(64, 48, rects: [(PixelRect(x0: 20, y0: 20, x1: 28, y1: 28), (0, 0, 0))])).isFullImageFallback)
    }

    func testOpeningRemovesSpecksAndTheLargestComponentWins() throws {
        let img = image(100, 100, rects: [
            (PixelRect(x0: 2, y0: 90, x1: 3, y1: 91), (0, 0, 0)),            // a one-pixel speck: opened away
            (PixelRect(x0: 70, y0: 5, x1: 80, y1: 15), (0, 0, 255)),          // a smaller object: not the largest
            (PixelRect(x0: 20, y0: 30, x1: 60, y1: 80), (0, 128, 0)),
        ])
        XCTAssertEqual(try KaleidoForeground.box(of: img).rect, PixelRect(x0: 16, y0: 26, x1: 64, y1: 84))
    }

    func testImagesSmallerThanFiveByFiveCellsAreRefused() throws {
        XCTAssertThrowsError(try KaleidoForeground.box(of: image(4, 40, rects: []))) { e in
            XCTAssertEqual(e as? KaleidoError, .imageTooSmall(width: 4, height: 40))
            XCTAssertTrue("\(e)".contains("smaller than the 5x5 cells"), "\(e)")
        }
        let generator = try KaleidoPatchGenerator(cropSize: 8)
        XCTAssertThrowsError(try generator.crops(of: image(40, 3, rects: [])))
        XCTAssertEqual(try generator.crops(of: image(5, 5, rects: [])).positions.count, 275)
        XCTAssertThrowsError(try KaleidoPatchGenerator(cropSize: 2))
    }

    func testPositionsAreNormalisedInFullImageSpace() throws {
        let img = image(100, 50, rects: [(PixelRect(x0: 24, y0: 2, x1: 76, y1: 48), (10, 10, 10))])
        let crops = try KaleidoPatchGenerator(cropSize: 8).crops(of: img)
        let box = crops.box.rect
        XCTAssertEqual(box, PixelRect(x0: 20, y0: 0, x1: 80, y1: 50))
        // K1 = the box: x 0.2…0.8, y 0…1, area 0.6.
        XCTAssertEqual(Array(crops.positions[0..<5]), [0.2, 0.8, 0, 1, 0.6 * 1.0], accuracy: 1e-6)
        // K2 patch 1 (top right): x 0.5…0.8, y 0…0.5 (25 of 50 rows), area 0.15.
        XCTAssertEqual(Array(crops.positions[10..<15]), [0.5, 0.8, 0, 0.5, 0.15], accuracy: 1e-6)
        XCTAssertEqual(crops.positions.count, 55 * 5)
    }

    func testRotationsAndGreyCropsAreThePixelsOfTheirSlots() throws {
        // 2×3 image rotated 90° counter-clockwise: the right column becomes the top row.
        let small = try RGBImage(width: 2, height: 3, pixels: [1, 2, 3, 4, 5, 6].flatMap { [UInt8($0), 0, 0] })
        let r = small.rotated90(times: 1)
        XCTAssertEqual(r.width, 3)
        XCTAssertEqual(r.height, 2)
        XCTAssertEqual(stride(from: 0, to: r.pixels.count, by: 3).map { r.pixels[$0] }, [2, 4, 6, 1, 3, 5])
        XCTAssertEqual(small.rotated90(times: 4), small)
        XCTAssertEqual(small.rotated90(times: 2).rotated90(times: 2), small)
        // Luma: 0.299·200 + 0.587·100 + 0.114·50 = 124.2 → 124.
        XCTAssertEqual(try RGBImage(width: 1, height: 1, pixels: [200, 100, 50]).greyscale().pixels, [124, 124, 124])

        var img = image(64, 64, rects: [(PixelRect(x0: 10, y0: 8, x1: 50, y1: 60), (220, 40, 90))])
        for y in 8..<60 { for x in 10..<50 { img.pixels[(y * 64 + x) * 3 + 1] = UInt8((x * 7 + y * 13) % 200) } }  // texture
        let c = 8, per = 3 * c * c
        let crops = try KaleidoPatchGenerator(cropSize: c).crops(of: img)
        XCTAssertEqual(crops.pixels.count, 74 * per)
        func slot(_ i: Int) throws -> RGBImage {          // CHW back to an image
            let p = Array(crops.pixels[(i * per)..<((i + 1) * per)])
            var hwc = [UInt8](repeating: 0, count: per)
            for j in 0..<(c * c) { for ch in 0..<3 { hwc[j * 3 + ch] = p[ch * c * c + j] } }
            return try RGBImage(width: c, height: c, pixels: hwc)
        }
        let cells = KaleidoGrid.allCells(of: crops.box.rect)
        for i in [0, 3, 20, 54] { XCTAssertEqual(try slot(i), try img.cropped(cells[i]).resizedForBackbone(c), "slot \(i)") }
        for q in 1...3 { XCTAssertEqual(try slot(54 + q), try slot(0).rotated90(times: q), "rotation \(q)") }
        for j in 0..<16 { XCTAssertEqual(try slot(58 + j), try slot(14 + j).greyscale(), "grey K4 cell \(j)") }
    }

    // MARK: alignment rules (§4.2)

    func testRegionIsTheSmallestSetReachingHalfTheMass() {
        XCTAssertEqual(KaleidoAlignmentRules.region([0.1, 0.4, 0.3, 0.2]), [1, 2])
        XCTAssertEqual(KaleidoAlignmentRules.region([0.5, 0.2, 0.3, 0]), [0])
        XCTAssertEqual(KaleidoAlignmentRules.region([0.25, 0.25, 0.25, 0.25]), [0, 1])  // ties: lower index first
    }

    func testOverlapsAndArgmaxInBoxCoordinates() {
        // A 2×2 map with all mass on the top-left cell [0, ½]²; level-3 patches are thirds.
        let alpha: [Float] = [1, 0, 0, 0]
        let o = KaleidoAlignmentRules.overlaps(alpha: alpha, grid: 2, region: [0], level: 3)
        let want: [Float] = [1.0 / 9, 1.0 / 18, 0, 1.0 / 18, 1.0 / 36, 0, 0, 0, 0]
        for (a, b) in zip(o, want) { XCTAssertEqual(a, b, accuracy: 1e-7) }
        let p = KaleidoAlignmentRules.patches(alpha: alpha, grid: 2)
        XCTAssertEqual(p.map(\.level), [3, 4, 5])
        XCTAssertEqual(p.map(\.patch), [0, 0, 0])
        XCTAssertEqual(p[0].strength, 4.0 / 9, accuracy: 1e-6)           // (1/9) / (1/4)
        XCTAssertEqual(p[1].strength, 0.25, accuracy: 1e-6)              // level 4: the cell covers 4 patches equally
        XCTAssertEqual(p[2].strength, (0.04 / 0.25), accuracy: 1e-6)     // level 5: patch 0 is 0.2²; ties → index 0
        // Mass on the bottom-right cell of a 5×5 map → the last patch at every level, strength 1 at level 5.
        var a5 = [Float](repeating: 0, count: 25); a5[24] = 1
        let q = KaleidoAlignmentRules.patches(alpha: a5, grid: 5)
        XCTAssertEqual(q.map(\.patch), [8, 15, 24])
        XCTAssertEqual(q.map(\.strength), [1, 1, 1])
        // Only the region counts: 0.6 on cell 0, 0.4 on cell 24 → region {0}.
        var b5 = [Float](repeating: 0, count: 25); b5[0] = 0.6; b5[24] = 0.4
        XCTAssertEqual(KaleidoAlignmentRules.patches(alpha: b5, grid: 5).map(\.patch), [0, 0, 0])
    }

    func testGeneratedWordsMatchRawTokensThroughWholeWords() {
        XCTAssertEqual(KaleidoAlignmentRules.words(["[CLS]", "navy", "strip", "##ed", "shirt", "[SEP]"]).map(\.word),
                       ["navy", "striped", "shirt"])
        var top = [Float](repeating: 0, count: 25); top[2] = 1       // top middle
        var bottom = [Float](repeating: 0, count: 25); bottom[22] = 1
        let raw = ["[CLS]", "navy", "strip", "##ed", "shirt", "with", "navy", "collar", "[SEP]"]
        let pairs = KaleidoAlignmentRules.align(generated: ["the", "strip", "##ed", "navy", "coat", "navy"],
                                                heat: [bottom, top, top, bottom, top, top], grid: 5, raw: raw)
        // "the" is a stopword, "coat" is not in the text, the second "navy" is ignored; "striped" → tokens 2 and 3,
        // "navy" → tokens 1 and 6; 3 levels each.
        XCTAssertEqual(pairs.count, 12)
        XCTAssertEqual(Set(pairs.map(\.token)), [1, 2, 3, 6])
        XCTAssertEqual(Set(pairs.filter { $0.token == 2 && $0.level == 5 }.map(\.patch)), [2])
        XCTAssertEqual(Set(pairs.filter { $0.token == 6 && $0.level == 5 }.map(\.patch)), [22])
        XCTAssertEqual(Set(pairs.filter { $0.token == 1 && $0.level == 3 }.map(\.patch)), [7])
        XCTAssertTrue(zip(pairs, pairs.dropFirst()).allSatisfy { $0.strength >= $1.strength })
        XCTAssertTrue(KaleidoAlignmentRules.align(generated: [], heat: [], grid: 5, raw: raw).isEmpty)
    }

    /// Teacher mode (spec §4.2): a content word is kept when each of its pieces got p ≥ 0.1 at its step; its
    /// pieces carry their own steps' maps; words past a truncated caption are dropped.
    func testTeacherModeKeepsTheWordsTheCaptionerWouldHaveGenerated() {
        let maps = (0..<6).map { i -> [Float] in var m = [Float](repeating: 0, count: 25); m[i] = 1; return m }
        let raw = ["[CLS]", "the", "strip", "##ed", "navy", "coat", "navy", "[SEP]"]
        // steps: the 0.9, strip 0.5, ##ed 0.05, navy 0.2, coat 0.09, navy 0.1
        let kept = KaleidoAlignmentRules.teacherKept(raw: raw, probabilities: [0.9, 0.5, 0.05, 0.2, 0.09, 0.1], heat: maps)
        XCTAssertEqual(kept.pieces, ["navy", "navy"])
        XCTAssertEqual(kept.heat, [maps[3], maps[5]])
        let both = KaleidoAlignmentRules.teacherKept(raw: raw, probabilities: [0.9, 0.5, 0.5, 0.2, 0.5, 0.1], heat: maps)
        XCTAssertEqual(both.pieces, ["strip", "##ed", "navy", "coat", "navy"])
        XCTAssertEqual(both.heat, [maps[1], maps[2], maps[3], maps[4], maps[5]])
        // A caption truncated after 3 pieces: only "the strip ##ed" were scored.
        XCTAssertEqual(KaleidoAlignmentRules.teacherKept(raw: raw, probabilities: [0.9, 0.5, 0.5], heat: Array(maps.prefix(3))).pieces,
                       ["strip", "##ed"])
        // Aligned like a greedy caption: the first "navy" (step 3, cell 3) aligns both raw "navy" tokens.
        let pairs = KaleidoAlignmentRules.align(generated: kept.pieces, heat: kept.heat, grid: 5, raw: raw)
        XCTAssertEqual(Set(pairs.map(\.token)), [4, 6])
        XCTAssertEqual(Set(pairs.filter { $0.level == 5 }.map(\.patch)), [3])
    }
}

func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
