// The loader: batches reproducible per (seed, epoch) whatever the thread count, every row once per epoch,
// MLM statistics, the MVLT grid-mask rule against numpy, ITM negatives of other products, PIL-like resizing.
import FashionData
import Foundation
import XCTest

final class LoaderTests: XCTestCase {
    private typealias T = HDF5TestSupport

    /// Test tokenizer: `[CLS]`, one id in 1000..<21000 per space-separated word, `[SEP]`.
    static let tokenize: CaptionTokenizer = { text, maxLength in
        let words = text.split(separator: " ").map { w in Int32(1000 + w.unicodeScalars.reduce(0) { ($0 * 31 + Int($1.value)) % 20_000 }) }
        return [101] + words.prefix(maxLength - 2) + [102]
    }

    /// 41 rows of 8-px images; product p has 1–3 poses; captions name their row and product.
    private func catalogFile() throws -> FashionGenFile {
        var records: [FashionGenRecord] = []
        var product: Int64 = 500
        while records.count < 41 {
            for pose in 0 ..< Int(product % 3) + 1 where records.count < 41 {
                let row = records.count
                records.append(FashionGenRecord(
                    image: T.fixturePixels(row: row, size: 8), name: "item \(row)",
                    description: "row \(row) product \(product) soft cotton knit with ribbed cuffs and a relaxed fit",
                    category: ["TOPS", "SHOES"][Int(product) % 2], subcategory: ["A", "B", "C", "D"][Int(product) % 4],
                    pose: "id_gridfs_\(pose + 1)", productID: product, index: Int64(row)))
            }
            product += 1
        }
        let path = try T.tempDir().appendingPathComponent("catalog.h5").path
        try T.write(records, to: path, size: 8)
        return try FashionGenFile(path: path)
    }

    private func loader(_ file: FashionGenFile, seed: UInt64 = 7, threads: Int = 2, imageSize: Int = 8,
                        transforms: [any SampleTransform] = [ITMNegatives(), MLMMasking(), GridMask()],
                        padToLongest: Bool = false, caption: LoaderConfig.Caption = .description) throws -> FashionGenLoader {
        var config = LoaderConfig()
        config.padToLongest = padToLongest
        config.caption = caption
        config.batchSize = 6
        config.imageSize = imageSize
        config.textLength = 16
        config.seed = seed
        config.threads = threads
        return try FashionGenLoader(file: file, config: config, tokenize: Self.tokenize, transforms: transforms)
    }

    private func all(_ loader: FashionGenLoader, epoch: Int) throws -> [HostBatch] {
        let e = loader.epoch(epoch)
        var out: [HostBatch] = []
        while let b = try e.next() { out.append(b) }
        return out
    }

    private func fingerprint(_ batches: [HostBatch]) -> [[Int64]] {
        batches.map { $0.rows.map(Int64.init) + $0.inputIds + $0.mlmLabels + $0.itmLabels
            + ($0.imageMask ?? []).map { Int64($0) } + $0.images.map { Int64($0 * 255) } }
    }

    func testSameSeedAndEpochGiveSameBatchesWhateverTheThreads() throws {
        let file = try catalogFile()
        let a = try all(loader(file, threads: 1), epoch: 3)
        let b = try all(loader(file, threads: 3), epoch: 3)
        XCTAssertEqual(a.count, 7)
        XCTAssertEqual(fingerprint(a), fingerprint(b))
        XCTAssertEqual(fingerprint(a), fingerprint([try loader(file).batch(epoch: 3, index: 0)]) + fingerprint(Array(a[1...])))
        let otherEpoch = try all(loader(file, threads: 2), epoch: 4)
        let otherSeed = try all(loader(file, seed: 8, threads: 2), epoch: 3)
        XCTAssertNotEqual(a.flatMap(\.rows), otherEpoch.flatMap(\.rows))
        XCTAssertNotEqual(a.flatMap(\.rows), otherSeed.flatMap(\.rows))
    }

    /// Padding each batch to its longest text keeps every real token and drops only padding columns.
    func testPadToLongestDropsOnlyPadding() throws {
        let file = try catalogFile()
        // Titles ("item 12": 4 tokens) are shorter than the 16 of textLength; descriptions fill it.
        let fixed = try all(loader(file, transforms: [], caption: .name), epoch: 2)
        let trimmed = try all(loader(file, transforms: [], padToLongest: true, caption: .name), epoch: 2)
        let long = try all(loader(file, transforms: [], padToLongest: true), epoch: 2)
        XCTAssertEqual(Set(long.map(\.textLength)), [16], "never longer than textLength")
        XCTAssertEqual(fixed.count, trimmed.count)
        var lengths = Set<Int>()
        for (f, t) in zip(fixed, trimmed) {
            XCTAssertEqual(f.rows, t.rows)
            XCTAssertEqual(f.images, t.images)
            let l = t.textLength
            lengths.insert(l)
            XCTAssertLessThan(l, f.textLength)
            let longest = (0 ..< t.batchSize).map { i in t.attentionMask[(i * l) ..< ((i + 1) * l)].reduce(0, +) }.max()
            XCTAssertEqual(Int(longest ?? 0), l, "the longest text fills the batch's length")
            for i in 0 ..< t.batchSize {
                let row = f.inputIds[(i * f.textLength) ..< ((i + 1) * f.textLength)]
                XCTAssertEqual(Array(row.prefix(l)), Array(t.inputIds[(i * l) ..< ((i + 1) * l)]))
                XCTAssertTrue(row.dropFirst(l).allSatisfy { $0 == 0 }, "only padding is dropped")
                XCTAssertEqual(Array(f.attentionMask[(i * f.textLength) ..< (i * f.textLength + l)]),
                               Array(t.attentionMask[(i * l) ..< ((i + 1) * l)]))
            }
        }
        XCTAssertGreaterThan(lengths.count, 0)
    }

    func testRecycledBuffersGiveTheSameBatches() throws {
        let file = try catalogFile()
        let plain = try all(loader(file), epoch: 1)
        let l = try loader(file)
        let e = l.epoch(1)
        var recycled: [[Int64]] = []
        while let b = try e.next() {
            recycled += fingerprint([b])
            l.recycle(b)
        }
        XCTAssertEqual(recycled, fingerprint(plain))
    }

    func testCropToProductIsApplied() throws {
        let file = try catalogFile()
        var config = LoaderConfig()
        config.batchSize = 4
        config.imageSize = 8
        config.shuffle = false
        config.cropToProduct = true
        let cropped = try FashionGenLoader(file: file, config: config, tokenize: Self.tokenize).batch(epoch: 0, index: 0)
        config.cropToProduct = false
        let whole = try FashionGenLoader(file: file, config: config, tokenize: Self.tokenize).batch(epoch: 0, index: 0)
        var expected = [Float](repeating: 0, count: 3 * 64)
        var pixels = T.fixturePixels(row: 2, size: 8)
        let box = try XCTUnwrap(pixels.withUnsafeMutableBufferPointer { ProductCrop.box($0.baseAddress!, size: 8) })
        pixels.withUnsafeBufferPointer { src in expected.withUnsafeMutableBufferPointer {
            ImageResampler(inputSize: 8, outputSize: 8).convert(src.baseAddress!, box: box, into: $0.baseAddress!)
        } }
        XCTAssertEqual(Array(cropped.images[2 * 192 ..< 3 * 192]), expected)
        XCTAssertNotEqual(cropped.images, whole.images)
    }

    func testExplicitOrderIsBatchedConsecutively() throws {
        let file = try catalogFile()
        let l = try loader(file)
        let order = Array((0..<41).reversed().prefix(20))
        let e = l.epoch(2, order: order)
        XCTAssertEqual(e.count, 4)
        XCTAssertEqual(l.batchesPerEpoch(rows: 20), 4)
        var rows: [[Int]] = []
        while let b = try e.next() { rows.append(b.rows) }
        XCTAssertEqual(rows, stride(from: 0, to: 20, by: 6).map { Array(order[$0 ..< min($0 + 6, 20)]) })
        let resumed = l.epoch(2, start: 2, order: order)  // mid-epoch resume of the same order
        var rest: [[Int]] = []
        while let b = try resumed.next() { rest.append(b.rows) }
        XCTAssertEqual(rest, Array(rows[2...]))
        XCTAssertThrowsError(try l.batch(epoch: 0, index: 0, order: [0, 41]))
    }

    func testEveryRowOncePerEpochAndLayout() throws {
        let file = try catalogFile()
        let l = try loader(file)
        for epoch in 0..<2 {
            let batches = try all(l, epoch: epoch)
            XCTAssertEqual(batches.map(\.batchSize), [6, 6, 6, 6, 6, 6, 5])
            XCTAssertEqual(batches.flatMap(\.rows).sorted(), Array(0..<41))
        }
        let b = try l.batch(epoch: 0, index: 0)
        let row = b.rows[1]
        let pixels = T.fixturePixels(row: row, size: 8)
        for (c, y, x) in [(0, 0, 0), (1, 3, 5), (2, 7, 7)] {  // (B,3,S,S) planar from (S,S,3) bytes
            XCTAssertEqual(b.images[1 * 192 + c * 64 + y * 8 + x], Float(pixels[(y * 8 + x) * 3 + c]) / 255, accuracy: 1e-6)
        }
        XCTAssertEqual(b.imageMask?.count, 6 * 64)
        XCTAssertEqual(Array(b.attentionMask[0..<16]), [Int64](repeating: 1, count: 16))  // 14 words + 2 specials
        XCTAssertEqual(b.inputIds.count, 6 * 16)
        XCTAssertEqual(b.originalInputIds[0], 101)
        XCTAssertEqual(b.originalInputIds[15], 102)
    }

    func testMLMStatisticsAndSpecialsNeverMasked() throws {
        let catalog = try loader(try catalogFile()).catalog
        var rng = SeededRNG(seed: 42)
        var selected = 0, content = 0, toMask = 0, unchanged = 0
        let original: [Int32] = [101] + (0..<200).map { Int32(1000 + $0) } + [102, 0, 0, 0]
        for row in 0..<1_000 {
            var s = LoaderSample(row: row % 41, productID: 0, caption: "", inputIds: original)
            MLMMasking().apply(to: &s, catalog: catalog, rng: &rng)
            let labels: [Int32] = try XCTUnwrap(s.mlmLabels)
            for i in original.indices {
                if [0, 101, 102].contains(original[i]) {
                    XCTAssertEqual(labels[i], -100)
                    XCTAssertEqual(s.inputIds[i], original[i])
                    continue
                }
                content += 1
                guard labels[i] != -100 else { XCTAssertEqual(s.inputIds[i], original[i]); continue }
                XCTAssertEqual(labels[i], original[i])
                selected += 1
                if s.inputIds[i] == 103 { toMask += 1 } else if s.inputIds[i] == original[i] { unchanged += 1 }
            }
        }
        let p = Double(selected) / Double(content)  // 200,000 tokens: σ ≈ 0.0008
        XCTAssertEqual(p, 0.15, accuracy: 0.004)
        XCTAssertEqual(Double(toMask) / Double(selected), 0.8, accuracy: 0.01)
        XCTAssertEqual(Double(unchanged) / Double(selected), 0.1, accuracy: 0.008)
        XCTAssertEqual(Double(selected - toMask - unchanged) / Double(selected), 0.1, accuracy: 0.008)
    }

    func testGridMaskMatchesNumpyOriginalRule() throws {
        var rng = SeededRNG(seed: 2023)
        let n = 16, masked = 128
        let perm = GridMask.randomPermutation(n * n, rng: &rng)
        let rowPerms = (0..<n).map { _ in GridMask.randomPermutation(n, rng: &rng) }
        let args = try JSONSerialization.data(withJSONObject: ["n": n, "masked": masked, "perm": perm, "row_perms": rowPerms])
        let json = try T.python("h5_grid_mask_ref.py", [String(decoding: args, as: UTF8.self)])
        let ref = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [[Int]]])
        let sliding = GridMask.cells(rule: .slidingWindow, n: n, masked: masked, permutation: perm, rowPermutations: rowPerms)
        let paper = GridMask.cells(rule: .randomCells, n: n, masked: masked, permutation: perm, rowPermutations: [])
        XCTAssertEqual(sliding.map(Int.init), ref["sliding"]?.flatMap { $0 })
        XCTAssertEqual(paper.map(Int.init), ref["paper"]?.flatMap { $0 })
        XCTAssertEqual(paper.reduce(0) { $0 + Int($1) }, 128)

        // Scaled to 64 px: 4×4-px cells.
        let pixels = GridMask.pixels(cells: sliding, n: n, size: 64)
        for (y, x) in [(0, 0), (5, 9), (63, 63), (17, 42)] {
            XCTAssertEqual(pixels[y * 64 + x], Float(sliding[(y / 4) * n + x / 4]))
        }
        // The sliding-window rule masks half the cells only on average (spec: std ≈ 0.10 at 256 px).
        var fractions: [Double] = []
        for _ in 0..<2_000 {
            let p = GridMask.randomPermutation(n * n, rng: &rng)
            let rp = (0..<n).map { _ in GridMask.randomPermutation(n, rng: &rng) }
            let cells = GridMask.cells(rule: .slidingWindow, n: n, masked: masked, permutation: p, rowPermutations: rp)
            fractions.append(Double(cells.reduce(0) { $0 + Int($1) }) / 256)
        }
        let mean = fractions.reduce(0, +) / 2_000
        let std = (fractions.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 2_000).squareRoot()
        XCTAssertEqual(mean, 0.5, accuracy: 0.01)
        XCTAssertEqual(std, 0.10, accuracy: 0.02)
    }

    func testITMNegativesAreOtherProducts() throws {
        let l = try loader(try catalogFile(), transforms: [])
        let catalog = l.catalog
        for sameSub in [false, true] {
            var rng = SeededRNG(seed: 5)
            var negatives = 0
            for trial in 0..<4_000 {
                let row = trial % 41
                var s = LoaderSample(row: row, productID: catalog.productIDs[row], caption: catalog.captions[row],
                                     inputIds: Self.tokenize(catalog.captions[row], 16))
                ITMNegatives(sameSubcategory: sameSub).apply(to: &s, catalog: catalog, rng: &rng)
                if s.itmLabel == 1 { XCTAssertEqual(s.caption, catalog.captions[row]); continue }
                negatives += 1
                let other = try XCTUnwrap(catalog.captions.firstIndex(of: s.caption))
                XCTAssertNotEqual(catalog.productIDs[other], s.productID)
                XCTAssertEqual(s.inputIds, Self.tokenize(s.caption, 16))
                if sameSub { XCTAssertEqual(catalog.subcategoryOfRow[other], catalog.subcategoryOfRow[row]) }
            }
            XCTAssertEqual(Double(negatives) / 4_000, 0.5, accuracy: 0.03)
        }
    }

    func testResizeFollowsPILBilinear() throws {
        for (n, out) in [(8, 4), (8, 13), (16, 6)] {
            var src = [UInt8]()
            for y in 0..<n { for x in 0..<n { for c in 0..<3 { src.append(UInt8((37 * y + 11 * x + 67 * c) % 256)) } } }
            let json = try T.python("h5_resize_ref.py", [String(n), String(out)])
            let pil = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Int])
            var planar = [Float](repeating: 0, count: 3 * out * out)
            let r = ImageResampler(inputSize: n, outputSize: out)
            src.withUnsafeBufferPointer { s in planar.withUnsafeMutableBufferPointer { r.convert(s.baseAddress!, into: $0.baseAddress!) } }
            var worst: Float = 0
            for i in 0..<(out * out) { for c in 0..<3 { worst = max(worst, abs(planar[c * out * out + i] * 255 - Float(pil[i * 3 + c]))) } }
            XCTAssertLessThanOrEqual(worst, 1.01, "\(n)→\(out)")
        }
    }

    func testProductCropMatchesPIL() throws {
        let n = 40, out = 16
        var src = [UInt8](repeating: 255, count: n * n * 3)
        for y in 2..<4 { for x in 2..<6 { for c in 0..<3 { src[(y * n + x) * 3 + c] = 170 } } }
        for y in 7..<(n - 9) {
            for x in 9..<(n - 5) {
                let p = (y * n + x) * 3
                src[p] = UInt8((200 - 3 * x) % 256); src[p + 1] = UInt8((120 + 2 * y) % 256); src[p + 2] = UInt8((x * y) % 256)
            }
        }
        let json = try T.python("h5_crop_ref.py", [String(n), String(out)])
        let pil = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [Int]])
        let bits = src.withUnsafeBufferPointer { ProductCrop.blackPixels($0.baseAddress!, size: n) }
        XCTAssertEqual(bits.map(Int.init), pil["bits"])
        let box = try XCTUnwrap(src.withUnsafeBufferPointer { ProductCrop.box($0.baseAddress!, size: n) })
        XCTAssertEqual(box, ProductCrop.Box(x: 2, y: 2, width: 32, height: 28))
        XCTAssertEqual([box.x, box.y, box.x + box.width, box.y + box.height], pil["box"])
        var planar = [Float](repeating: 0, count: 3 * out * out)
        let r = ImageResampler(inputSize: n, outputSize: out)
        src.withUnsafeBufferPointer { s in planar.withUnsafeMutableBufferPointer { r.convert(s.baseAddress!, box: box, into: $0.baseAddress!) } }
        let resized = try XCTUnwrap(pil["resized"])
        var worst: Float = 0
        for i in 0..<(out * out) { for c in 0..<3 { worst = max(worst, abs(planar[c * out * out + i] * 255 - Float(resized[i * 3 + c]))) } }
        XCTAssertLessThanOrEqual(worst, 1.01)
        let blank = [UInt8](repeating: 255, count: n * n * 3)
        XCTAssertNil(blank.withUnsafeBufferPointer { ProductCrop.box($0.baseAddress!, size: n) })
    }

    func testLoaderResizesToModelSize() throws {
        let b = try loader(try catalogFile(), imageSize: 16).batch(epoch: 0, index: 1)
        XCTAssertEqual(b.images.count, 6 * 3 * 16 * 16)
        XCTAssertEqual(b.imageMask?.count, 6 * 16 * 16)
        XCTAssertTrue(b.images.allSatisfy { (0...1).contains($0) })
    }

    func testProductSplitKeepsPosesTogether() throws {
        let ids = try catalogFile().productIDs
        let (train, validation) = ProductSplit.split(productIDs: ids, validationFraction: 0.2, seed: 1)
        XCTAssertEqual((train + validation).sorted(), Array(0..<41))
        XCTAssertTrue(Set(train.map { ids[$0] }).isDisjoint(with: Set(validation.map { ids[$0] })))
        let products = Set(ids).count
        XCTAssertEqual(Set(validation.map { ids[$0] }).count, Int((0.2 * Double(products)).rounded()))
        XCTAssertEqual(ProductSplit.split(productIDs: ids, validationFraction: 0.2, seed: 1).validation, validation)
        XCTAssertNotEqual(ProductSplit.split(productIDs: ids, validationFraction: 0.2, seed: 2).validation, validation)
    }

    func testBadConfigIsRejected() throws {
        var config = LoaderConfig()
        config.batchSize = 0
        XCTAssertThrowsError(try FashionGenLoader(file: try catalogFile(), config: config, tokenize: Self.tokenize)) {
            XCTAssertEqual($0 as? LoaderError, .badConfig(field: "batchSize", expected: "> 0", actual: "0"))
        }
    }
}
