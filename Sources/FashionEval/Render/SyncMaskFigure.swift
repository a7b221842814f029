// A PNG of SyncMask's choices (spec syncmask.md §3): one row per image–text pair with the image and its masked
// patches (tinted and outlined), optionally the chosen words' attention on the patches as a heat map, and the
// text with the chosen words highlighted.
import FashionData
import FashionTrain

public enum SyncMaskFigure {
    /// One image–text pair and its masks.
    public struct Pair: Sendable {
        /// (3, S, S) in [0, 1].
        public var image: [Float]
        public var imageSide: Int
        /// Token strings by position (WordPiece: "##" marks a continuation; bracketed specials are not drawn).
        public var tokens: [String]
        /// Masked text positions.
        public var chosenPositions: Set<Int>
        /// grid × grid, row-major, true = masked.
        public var patchMask: [Bool]
        public var grid: Int
        /// grid × grid non-negative weights (σ_p of the chosen words), drawn as a heat map when given.
        public var heat: [Float]?
        /// A caption above the text ("sync", "random", a product id).
        public var label: String

        public init(image: [Float], imageSide: Int, tokens: [String], chosenPositions: Set<Int>, patchMask: [Bool],
                    grid: Int, heat: [Float]? = nil, label: String = "") {
            self.image = image
            self.imageSide = imageSide
            self.tokens = tokens
            self.chosenPositions = chosenPositions
            self.patchMask = patchMask
            self.grid = grid
            self.heat = heat
            self.label = label
        }

        /// Sample `index` of a selector's batch; the heat map is σ for a sync sample, none for a random one.
        public init(batch: SyncMaskBatch, index: Int, image: [Float], imageSide: Int, tokens: [String], grid: Int) {
            let n = batch.patchCount
            let sync = batch.usedSync[index]
            let words = batch.chosenWords[index]
            self.init(image: image, imageSide: imageSide, tokens: tokens,
                      chosenPositions: Set(words.flatMap(\.positions)),
                      patchMask: Array(batch.patchMask[index * n..<(index + 1) * n]), grid: grid,
                      heat: sync ? Array(batch.patchScores[index * n..<(index + 1) * n]) : nil,
                      label: (sync ? "sync" : "random") + ": \(words.count) words, "
                          + "\(batch.patchMask[index * n..<(index + 1) * n].filter { $0 }.count) patches")
        }
    }

    static let highlight = RGB(255, 196, 64)
    static let patchColour = RGB(235, 110, 20)
    static let scale = 2
    static let textChars = 44
    static let lineHeight = 7 * 2 + 10
    static let gap = 16

    /// Renders the pairs as rows: image + M_I | attention of M_T (when any pair has heat) | text + M_T.
    public static func render(_ pairs: [Pair], title: String = "SyncMask: chosen words and patches") throws -> RGBImage {
        guard !pairs.isEmpty else { throw EvalError.invalidArgument("SyncMaskFigure: no pairs") }
        for (i, p) in pairs.enumerated() {
            let s = p.imageSide
            guard s > 0, p.grid > 0, s % p.grid == 0, p.image.count == 3 * s * s, p.patchMask.count == p.grid * p.grid,
                  p.heat.map({ $0.count == p.grid * p.grid }) ?? true else {
                throw EvalError.invalidArgument("SyncMaskFigure: pair \(i) needs a (3,S,S) image with S divisible by the "
                    + "grid and grid² patch values; got S = \(s), grid = \(p.grid), \(p.image.count) image values, "
                    + "\(p.patchMask.count) patch flags, \(p.heat?.count ?? 0) heat values")
            }
        }
        let panel = pairs.map { panelSide($0.imageSide) }.max()!
        let showHeat = pairs.contains { $0.heat != nil }
        let textW = textChars * BitmapFont.advance * scale
        let lines = pairs.map { layout($0.tokens, width: textW).lines }
        let rowHeights = zip(pairs, lines).map { max(panel, lineHeight * (1 + $1)) }
        let columns = showHeat ? 2 : 1
        let width = gap + columns * (panel + gap) + textW + gap
        let headerH = 16 + 7 * scale + 12 + 7 * scale + 10
        var r = Raster(width: width, height: headerH + rowHeights.reduce(0) { $0 + $1 + gap } + gap)
        r.text(Raster.fit(title, maxWidth: width - 2 * gap, scale: scale), x: gap, y: 12, scale: scale)
        let titlesY = 16 + 7 * scale + 12
        r.text(Raster.fit("masked patches", maxWidth: panel, scale: scale), x: gap, y: titlesY, scale: scale, RGB.grey)
        if showHeat {
            r.text(Raster.fit("word attention", maxWidth: panel, scale: scale), x: 2 * gap + panel, y: titlesY,
                   scale: scale, RGB.grey)
        }
        r.text("masked words", x: gap + columns * (panel + gap), y: titlesY, scale: scale, RGB.grey)

        var y = headerH
        for (i, pair) in pairs.enumerated() {
            let img = upscaled(pair, to: panel)
            r.paste(tinted(img, pair), x: gap, y: y)
            if let heat = pair.heat { r.paste(heatMap(img, pair, heat), x: 2 * gap + panel, y: y) }
            drawText(pair, into: &r, x: gap + columns * (panel + gap), y: y, width: textW)
            y += rowHeights[i] + gap
            if i + 1 < pairs.count { r.fill(x: gap, y: y - gap / 2, w: width - 2 * gap, h: 1, RGB(220, 220, 220)) }
        }
        return r.image
    }

    /// The side an image is drawn at: an integer upscale to at least 192 pixels.
    static func panelSide(_ s: Int) -> Int { s * max(1, (192 + s - 1) / s) }

    /// Nearest-neighbour upscale of the (3,S,S) image to a `side`-pixel square.
    static func upscaled(_ p: Pair, to side: Int) -> RGBImage {
        let s = p.imageSide, plane = s * s
        var img = RGBImage(width: side, height: side)
        for y in 0..<side {
            for x in 0..<side {
                let src = (y * s / side) * s + x * s / side
                for c in 0..<3 {
                    let v = p.image[c * plane + src]
                    img.pixels[(y * side + x) * 3 + c] = UInt8((max(0, min(1, v.isNaN ? 0 : v)) * 255).rounded())
                }
            }
        }
        return img
    }

    /// Patch p's pixel rectangle in a `side`-pixel panel.
    static func cell(_ p: Int, grid: Int, side: Int) -> (x: Int, y: Int, w: Int, h: Int) {
        let r = p / grid, c = p % grid
        let x0 = c * side / grid, y0 = r * side / grid
        return (x0, y0, (c + 1) * side / grid - x0, (r + 1) * side / grid - y0)
    }

    /// Masked patches blended 45 % with orange and outlined.
    static func tinted(_ img: RGBImage, _ p: Pair) -> RGBImage {
        var r = Raster(width: img.width, height: img.height)
        r.paste(img, x: 0, y: 0)
        for q in 0..<p.grid * p.grid where p.patchMask[q] {
            let c = cell(q, grid: p.grid, side: img.width)
            for y in c.y..<c.y + c.h { for x in c.x..<c.x + c.w { r.blend(x, y, patchColour, 0.45) } }
        }
        for q in 0..<p.grid * p.grid where p.patchMask[q] {
            let c = cell(q, grid: p.grid, side: img.width)
            r.outline(x: c.x, y: c.y, w: c.w, h: c.h, thickness: 2, patchColour)
        }
        r.outline(x: 0, y: 0, w: img.width, h: img.height, RGB(160, 160, 160))
        return r.image
    }

    /// The image in faded grey under a black → red → yellow ramp of heat / max(heat).
    static func heatMap(_ img: RGBImage, _ p: Pair, _ heat: [Float]) -> RGBImage {
        let top = max(heat.max() ?? 0, 1e-12)
        var r = Raster(width: img.width, height: img.height)
        for q in 0..<p.grid * p.grid {
            let c = cell(q, grid: p.grid, side: img.width)
            let t = Double(max(0, heat[q]) / top)
            let ramp = RGB(UInt8(255 * min(1, 2 * t)), UInt8(255 * max(0, min(1, 2 * t - 1))), 40)
            for y in c.y..<c.y + c.h {
                for x in c.x..<c.x + c.w {
                    let i = (y * img.width + x) * 3
                    let grey = (Int(img.pixels[i]) * 3 + Int(img.pixels[i + 1]) * 6 + Int(img.pixels[i + 2])) / 10
                    let g = UInt8(150 + grey * 100 / 255)
                    r.set(x, y, RGB(g, g, g))
                    r.blend(x, y, ramp, 0.25 + 0.7 * t)
                }
            }
        }
        r.outline(x: 0, y: 0, w: img.width, h: img.height, RGB(160, 160, 160))
        return r.image
    }

    /// Where each drawn piece goes: (position, text, x, line), wrapping at whole words.
    static func layout(_ tokens: [String], width: Int) -> (pieces: [(t: Int, text: String, x: Int, line: Int)], lines: Int) {
        let adv = BitmapFont.advance * scale, space = adv
        // Whole words as runs of (position, piece text); no space before closing punctuation or around - and /.
        var words: [(pieces: [(Int, String)], glue: Bool)] = []
        var lastWasJoiner = false
        for (t, token) in tokens.enumerated() {
            if token.count > 2, token.hasPrefix("["), token.hasSuffix("]") { lastWasJoiner = false; continue }
            if token.hasPrefix("##"), token.count > 2, !words.isEmpty {
                words[words.count - 1].pieces.append((t, String(token.dropFirst(2))))
                continue
            }
            let joiner = token == "-" || token == "/"
            let glue = joiner || lastWasJoiner || [".", ",", ";", ":", "!", "?", ")", "%", "'"].contains(token)
            words.append(([(t, token)], glue))
            lastWasJoiner = joiner
        }
        var pieces: [(t: Int, text: String, x: Int, line: Int)] = []
        var x = 0, line = 0
        for word in words {
            let w = word.pieces.reduce(0) { $0 + $1.1.count } * adv
            var start = x == 0 || word.glue ? x : x + space
            if start + w > width, x > 0 { line += 1; start = 0 }
            var px = start
            for (t, text) in word.pieces {
                pieces.append((t, text, px, line))
                px += text.count * adv
            }
            x = px
        }
        return (pieces, words.isEmpty ? 0 : line + 1)
    }

    static func drawText(_ p: Pair, into r: inout Raster, x: Int, y: Int, width: Int) {
        r.text(Raster.fit(p.label, maxWidth: width, scale: scale), x: x, y: y + 2, scale: scale, RGB.grey)
        let adv = BitmapFont.advance * scale
        for piece in layout(p.tokens, width: width).pieces {
            let py = y + (piece.line + 1) * lineHeight
            if p.chosenPositions.contains(piece.t) {
                r.fill(x: x + piece.x - 2, y: py - 4, w: piece.text.count * adv + 2, h: 7 * scale + 8, highlight)
                r.fill(x: x + piece.x - 2, y: py + 7 * scale + 2, w: piece.text.count * adv + 2, h: 2, patchColour)
            }
            r.text(piece.text, x: x + piece.x, y: py, scale: scale, .ink)
        }
    }
}

extension Raster {
    /// Mixes colour `c` into pixel (x, y) with weight `a` in [0, 1].
    mutating func blend(_ x: Int, _ y: Int, _ c: RGB, _ a: Double) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3, a = max(0, min(1, a))
        for (k, v) in [c.r, c.g, c.b].enumerated() {
            pixels[i + k] = UInt8((Double(pixels[i + k]) * (1 - a) + Double(v) * a).rounded())
        }
    }
}
