// A PNG of Kaleido-BERT's pre-alignments (spec/kaleido-bert.md §4.2): per product its title and the captioner's
// greedy caption, then one panel per aligned word: the image (upscaled), the locked foreground box in grey, and the
// word's patch at level 5 filled, level 4 outlined, level 3 dashed-outlined, with the word and its L5 strength.
import FashionData
import FashionTrain

public enum KaleidoAlignmentFigure {
    public struct Item: Sendable {
        public var image: RGBImage
        /// The foreground box [x1, x2, y1, y2], normalised.
        public var box: [Float]
        public var title: String
        public var caption: String
        /// (word, [(level, patch, strength)]) per aligned word, in order.
        public var words: [(word: String, patches: [(level: Int, patch: Int, strength: Float)])]

        public init(image: RGBImage, box: [Float], title: String, caption: String,
                    words: [(word: String, patches: [(level: Int, patch: Int, strength: Float)])]) {
            (self.image, self.box, self.title, self.caption, self.words) = (image, box, title, caption, words)
        }
    }

    static let colour = RGB(235, 60, 40)
    static let scale = 2
    static let gap = 14

    /// The items whose alignments the file holds, words grouped from token pairs (first piece of each word).
    public static func items(rows: [Int], file: FashionGenFile, inputs: KaleidoCatalogInputs, maxWords: Int = 4) throws -> [Item] {
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let titles = try file.names
        return try rows.map { row in
            let raw = try tokenizer.decode(tokenizer.encode(titles[row], maxLength: inputs.alignedTextLength))
            let pairs = try inputs.alignments(row: row)
            var words: [(word: String, patches: [(level: Int, patch: Int, strength: Float)])] = []
            var seen = Set<String>()
            for w in KaleidoAlignmentRules.words(raw) {
                let mine = pairs.filter { w.positions.contains($0.token) && $0.token == w.positions[0] }
                guard !mine.isEmpty, seen.insert(w.word).inserted, words.count < maxWords else { continue }
                words.append((w.word, mine.sorted { $0.level < $1.level }.map { ($0.level, $0.patch, $0.strength) }))
            }
            let caption = try tokenizer.decode(inputs.alignmentFile.caption(row: row))
                .reduce("") { $1.hasPrefix("##") ? $0 + $1.dropFirst(2) : ($0.isEmpty ? $1 : $0 + " " + $1) }
            return Item(image: try RGBImage(width: file.imageSize, height: file.imageSize, pixels: file.image(row)),
                        box: try inputs.features.box(row: row), title: titles[row],
                        caption: (inputs.alignmentFile.mode == .teacher ? "kept (teacher-forced p >= 0.1): " : "caption: ") + caption,
                        words: words)
        }
    }

    public static func render(_ items: [Item], title: String = "Kaleido-BERT pre-alignments (AAG): word -> patch") throws -> RGBImage {
        guard !items.isEmpty else { throw EvalError.invalidArgument("KaleidoAlignmentFigure: no items") }
        let side = items.map { $0.image.width * max(1, 160 / $0.image.width) }.max()!
        let maxWords = max(1, items.map(\.words.count).max()!)
        let textH = 2 * (7 * scale + 8)
        let rowH = textH + side + 7 * scale + 14
        let width = gap + maxWords * (side + gap)
        var r = Raster(width: max(width, 700), height: 16 + 7 * scale + 14 + items.count * (rowH + gap))
        r.text(Raster.fit(title, maxWidth: r.width - 2 * gap, scale: scale), x: gap, y: 12, scale: scale)
        var y = 16 + 7 * scale + 14
        for item in items {
            r.text(Raster.fit("title: " + item.title, maxWidth: r.width - 2 * gap, scale: scale), x: gap, y: y, scale: scale)
            r.text(Raster.fit(item.caption, maxWidth: r.width - 2 * gap, scale: scale), x: gap,
                   y: y + 7 * scale + 8, scale: scale, RGB.grey)
            let up = side / item.image.width
            for (i, w) in item.words.enumerated() {
                let x = gap + i * (side + gap)
                r.paste(panel(item, w.patches, up: up), x: x, y: y + textH)
                let s5 = w.patches.first { $0.level == 5 }?.strength ?? 0
                r.text(Raster.fit("\(w.word) (\(Int((s5 * 100).rounded()))%)", maxWidth: side, scale: scale), x: x,
                       y: y + textH + side + 6, scale: scale, colour)
            }
            if item.words.isEmpty {
                r.paste(panel(item, [], up: up), x: gap, y: y + textH)
                r.text("no aligned word", x: gap, y: y + textH + side + 6, scale: scale, RGB.grey)
            }
            y += rowH + gap
        }
        return r.image
    }

    static func panel(_ item: Item, _ patches: [(level: Int, patch: Int, strength: Float)], up: Int) -> RGBImage {
        let img = item.image, s = img.width * up
        var r = Raster(width: s, height: img.height * up)
        for y in 0..<r.height { for x in 0..<s {
            let i = ((y / up) * img.width + x / up) * 3
            r.set(x, y, RGB(img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]))
        } }
        let box = PixelRect(x0: Int((item.box[0] * Float(img.width)).rounded()), y0: Int((item.box[2] * Float(img.height)).rounded()),
                            x1: Int((item.box[1] * Float(img.width)).rounded()), y1: Int((item.box[3] * Float(img.height)).rounded()))
        r.outline(x: box.x0 * up, y: box.y0 * up, w: box.width * up, h: box.height * up, RGB(150, 150, 150))
        for p in patches {
            let cells = KaleidoGrid.cells(level: p.level, of: box)
            guard cells.indices.contains(p.patch) else { continue }
            let c = cells[p.patch]
            let (x, yy, w, h) = (c.x0 * up, c.y0 * up, c.width * up, c.height * up)
            switch p.level {
            case 5:
                for py in yy..<(yy + h) { for px in x..<(x + w) { r.blend(px, py, colour, 0.5) } }
                r.outline(x: x, y: yy, w: w, h: h, thickness: 2, colour)
            case 4: r.outline(x: x, y: yy, w: w, h: h, thickness: 2, RGB(40, 90, 220))
            default:
                for px in stride(from: x, to: x + w, by: 6) { r.fill(x: px, y: yy, w: 3, h: 2, RGB(30, 150, 70)); r.fill(x: px, y: yy + h - 2, w: 3, h: 2, RGB(30, 150, 70)) }
                for py in stride(from: yy, to: yy + h, by: 6) { r.fill(x: x, y: py, w: 2, h: 3, RGB(30, 150, 70)); r.fill(x: x + w - 2, y: py, w: 2, h: 3, RGB(30, 150, 70)) }
            }
        }
        return r.image
    }
}
