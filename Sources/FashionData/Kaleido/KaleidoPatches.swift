// The Kaleido Patch Generator's pixel side (spec/kaleido-bert.md §2): the foreground box by the spec's saliency
// substitute for studio catalogs (§2.1), the 1×1…5×5 grids of the box (§2.2), the 5-D positions (§2.4) and the
// crops the frozen backbone reads (§2.3: 55 colour cells, K1 rotated by 90°/180°/270°, the 16 K4 cells in grey).
// Pure functions of the image; the features themselves are computed in FashionTrain (KaleidoFeatureCache).

/// Bad input to the patch generator.
public enum KaleidoError: Error, Equatable, CustomStringConvertible {
    /// The image cannot hold 5 × 5 cells of at least one pixel.
    case imageTooSmall(width: Int, height: Int)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .imageTooSmall(w, h):
            return "kaleido patches: the image is \(w)x\(h) px, smaller than the 5x5 cells of level K5 (expected at least 5 px a side)"
        case let .invalidArgument(s): return "kaleido patches: \(s)"
        }
    }
}

/// A pixel rectangle, half-open: columns x0..<x1, rows y0..<y1.
public struct PixelRect: Sendable, Equatable, Codable {
    public var x0: Int, y0: Int, x1: Int, y1: Int
    public init(x0: Int, y0: Int, x1: Int, y1: Int) { (self.x0, self.y0, self.x1, self.y1) = (x0, y0, x1, y1) }
    public var width: Int { x1 - x0 }
    public var height: Int { y1 - y0 }
    public var area: Int { width * height }
}

/// The locked foreground box of one image.
public struct KaleidoBox: Sendable, Equatable {
    public var rect: PixelRect
    /// True when no usable foreground was found (nothing, or a box under 5 % of the image): the box is the image.
    public var isFullImageFallback: Bool
}

/// The spec's saliency substitute (§2.1): background = per-channel median of a 4-pixel border; foreground where
/// max_c |I_c − bg_c| > 0.08 (RGB in [0, 1]); one 3×3 opening and one 3×3 closing (pixels outside the image are
/// left out of the 3×3 window, so the image edge neither erodes nor dilates); the largest 8-connected component;
/// its bounding box padded by 4 % of the image side per axis and clamped; a box under 5 % of the image, or no
/// foreground, falls back to the full image. A box thinner than 5 px is widened about its centre to 5 px.
public enum KaleidoForeground {
    public static let border = 4
    public static let threshold: Float = 0.08
    public static let padFraction = 0.04
    public static let minAreaFraction = 0.05
    /// Smallest box side: one pixel per K5 cell.
    public static let minSide = 5

    public static func box(of image: RGBImage) throws -> KaleidoBox {
        let (w, h) = (image.width, image.height)
        guard w >= minSide, h >= minSide else { throw KaleidoError.imageTooSmall(width: w, height: h) }
        var mask = foregroundMask(image)
        mask = close(open(mask, w, h), w, h)
        let full = KaleidoBox(rect: PixelRect(x0: 0, y0: 0, x1: w, y1: h), isFullImageFallback: true)
        guard let c = largestComponent(mask, w, h) else { return full }
        let px = Int((padFraction * Double(w)).rounded()), py = Int((padFraction * Double(h)).rounded())
        var r = PixelRect(x0: max(0, c.x0 - px), y0: max(0, c.y0 - py), x1: min(w, c.x1 + px), y1: min(h, c.y1 + py))
        if Double(r.area) < minAreaFraction * Double(w * h) { return full }
        (r.x0, r.x1) = widened(r.x0, r.x1, limit: w)
        (r.y0, r.y1) = widened(r.y0, r.y1, limit: h)
        return KaleidoBox(rect: r, isFullImageFallback: false)
    }

    static func widened(_ a: Int, _ b: Int, limit: Int) -> (Int, Int) {
        guard b - a < minSide else { return (a, b) }
        let lo = max(0, min(limit - minSide, (a + b - minSide) / 2))
        return (lo, lo + minSide)
    }

    /// The background colour: per-channel median of every pixel within `border` px of an edge.
    public static func background(_ image: RGBImage) -> [UInt8] {
        let (w, h) = (image.width, image.height)
        var channels: [[UInt8]] = [[], [], []]
        for y in 0..<h {
            let rowIsBorder = y < border || y >= h - border
            for x in 0..<w where rowIsBorder || x < border || x >= w - border {
                for c in 0..<3 { channels[c].append(image.value(x: x, y: y, channel: c)) }
            }
        }
        return channels.map { v in
            let s = v.sorted()
            // The lower median for an even count (a pixel value that occurs).
            return s[(s.count - 1) / 2]
        }
    }

    /// True where a pixel differs from the background by more than the threshold in some channel.
    public static func foregroundMask(_ image: RGBImage) -> [Bool] {
        let bg = background(image).map(Float.init)
        let n = image.width * image.height
        var mask = [Bool](repeating: false, count: n)
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<n {
                var d: Float = 0
                for c in 0..<3 { d = max(d, abs(Float(p[i * 3 + c]) - bg[c]) / 255) }
                mask[i] = d > threshold
            }
        }
        return mask
    }

    /// 3×3 erosion (`all`) or dilation (any) over the in-image neighbours.
    static func morph(_ m: [Bool], _ w: Int, _ h: Int, erode: Bool) -> [Bool] {
        var out = m
        for y in 0..<h {
            for x in 0..<w {
                var v = erode
                for yy in max(0, y - 1)...min(h - 1, y + 1) {
                    for xx in max(0, x - 1)...min(w - 1, x + 1) where m[yy * w + xx] != erode { v = !erode }
                }
                out[y * w + x] = v
            }
        }
        return out
    }

    static func open(_ m: [Bool], _ w: Int, _ h: Int) -> [Bool] {
        morph(morph(m, w, h, erode: true), w, h, erode: false)
    }

    static func close(_ m: [Bool], _ w: Int, _ h: Int) -> [Bool] {
        morph(morph(m, w, h, erode: false), w, h, erode: true)
    }

    /// Bounding box of the largest 8-connected component (the first found, in raster order, among equals).
    static func largestComponent(_ m: [Bool], _ w: Int, _ h: Int) -> PixelRect? {
        var seen = [Bool](repeating: false, count: m.count)
        var best: (size: Int, rect: PixelRect)?
        var stack: [Int] = []
        for start in 0..<m.count where m[start] && !seen[start] {
            seen[start] = true
            stack.append(start)
            var size = 0
            var r = PixelRect(x0: w, y0: h, x1: 0, y1: 0)
            while let i = stack.popLast() {
                size += 1
                let (x, y) = (i % w, i / w)
                r = PixelRect(x0: min(r.x0, x), y0: min(r.y0, y), x1: max(r.x1, x + 1), y1: max(r.y1, y + 1))
                for yy in max(0, y - 1)...min(h - 1, y + 1) {
                    for xx in max(0, x - 1)...min(w - 1, x + 1) {
                        let j = yy * w + xx
                        if m[j] && !seen[j] { seen[j] = true; stack.append(j) }
                    }
                }
            }
            if size > (best?.size ?? 0) { best = (size, r) }
        }
        return best?.rect
    }
}

/// The kaleido grids of a box (§2.2) and their positions (§2.4).
public enum KaleidoGrid {
    /// The box split into k × k cells, row-major, top-left first. Cell edges are the box edges at j·side/k
    /// rounded to the nearest pixel (half up), so a side of at least k px gives every cell at least one pixel.
    public static func cells(level k: Int, of box: PixelRect) -> [PixelRect] {
        func edge(_ start: Int, _ side: Int, _ j: Int) -> Int { start + (2 * j * side + k) / (2 * k) }
        var out: [PixelRect] = []
        for r in 0..<k {
            for c in 0..<k {
                out.append(PixelRect(x0: edge(box.x0, box.width, c), y0: edge(box.y0, box.height, r),
                                     x1: edge(box.x0, box.width, c + 1), y1: edge(box.y0, box.height, r + 1)))
            }
        }
        return out
    }

    /// All 55 cells, K1 … K5.
    public static func allCells(of box: PixelRect) -> [PixelRect] {
        (1...5).flatMap { cells(level: $0, of: box) }
    }

    /// `[x1, x2, y1, y2, (x2 − x1)(y2 − y1)]` of a cell, normalised by the image size (full-image space).
    public static func position(_ r: PixelRect, imageWidth w: Int, imageHeight h: Int) -> [Float] {
        let x1 = Float(r.x0) / Float(w), x2 = Float(r.x1) / Float(w)
        let y1 = Float(r.y0) / Float(h), y2 = Float(r.y1) / Float(h)
        return [x1, x2, y1, y2, (x2 - x1) * (y2 - y1)]
    }
}

/// The 74 backbone inputs of one image and its patch geometry.
public struct KaleidoCrops: Sendable {
    /// Crops per image: 55 colour, 3 rotated K1, 16 grey K4.
    public static let count = 74
    public var box: KaleidoBox
    /// 55 × 5 positions, patch order.
    public var positions: [Float]
    /// 74 × 3 × C × C bytes (CHW per crop, RGB in [0, 255]): 55 colour crops (patch order), K1 rotated by 90°,
    /// 180°, 270° counter-clockwise, then the 16 K4 crops in grey (luma replicated).
    public var pixels: [UInt8]
    public var cropSize: Int
}

/// Makes the crops of images for a backbone of input side `cropSize`.
public struct KaleidoPatchGenerator: Sendable {
    public var cropSize: Int

    public init(cropSize: Int) throws {
        guard (8...1024).contains(cropSize) else {
            throw KaleidoError.invalidArgument("crop size must be 8...1024 px, got \(cropSize)")
        }
        self.cropSize = cropSize
    }

    public func crops(of image: RGBImage) throws -> KaleidoCrops {
        let box = try KaleidoForeground.box(of: image)
        let cells = KaleidoGrid.allCells(of: box.rect)
        let c = cropSize, plane = c * c, per = 3 * plane
        var pixels = [UInt8](repeating: 0, count: KaleidoCrops.count * per)
        var positions: [Float] = []
        positions.reserveCapacity(55 * 5)
        var k1 = RGBImage(width: 1, height: 1)
        for (i, cell) in cells.enumerated() {
            positions += KaleidoGrid.position(cell, imageWidth: image.width, imageHeight: image.height)
            let crop = try image.cropped(cell).resizedForBackbone(c)
            Self.writeCHW(crop, into: &pixels, at: i * per)
            if i == 0 { k1 = crop }
            if (14..<30).contains(i) { Self.writeCHW(crop.greyscale(), into: &pixels, at: (58 + i - 14) * per) }
        }
        for q in 1...3 { Self.writeCHW(k1.rotated90(times: q), into: &pixels, at: (54 + q) * per) }
        return KaleidoCrops(box: box, positions: positions, pixels: pixels, cropSize: c)
    }

    static func writeCHW(_ img: RGBImage, into out: inout [UInt8], at offset: Int) {
        let plane = img.width * img.height
        img.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<plane {
                    dst[offset + i] = src[i * 3]
                    dst[offset + plane + i] = src[i * 3 + 1]
                    dst[offset + 2 * plane + i] = src[i * 3 + 2]
                }
            }
        }
    }
}

extension RGBImage {
    /// The pixels of `r` (which must lie inside the image) as a new image.
    public func cropped(_ r: PixelRect) throws -> RGBImage {
        guard r.x0 >= 0, r.y0 >= 0, r.x1 <= width, r.y1 <= height, r.width > 0, r.height > 0 else {
            throw ImageError.invalidArgument(operation: "crop", reason: "rectangle \(r) is not inside the \(width)x\(height) image")
        }
        var out = [UInt8](repeating: 0, count: r.area * 3)
        for y in 0..<r.height {
            let s = ((r.y0 + y) * width + r.x0) * 3
            out.replaceSubrange((y * r.width * 3)..<((y + 1) * r.width * 3), with: pixels[s..<(s + r.width * 3)])
        }
        return try RGBImage(width: r.width, height: r.height, pixels: out)
    }

    /// Resized to `side × side`: area averaging when both sides shrink (or stay), bilinear otherwise.
    public func resizedForBackbone(_ side: Int) throws -> RGBImage {
        try resized(width: side, height: side, filter: width >= side && height >= side ? .area : .bilinear)
    }

    /// Rotated by `times` × 90° counter-clockwise (as `numpy.rot90(image, times)`): output (i, j) = input
    /// (j, W−1−i) for one turn.
    public func rotated90(times: Int) -> RGBImage {
        var img = self
        for _ in 0..<((times % 4) + 4) % 4 {
            let (w, h) = (img.width, img.height)
            var out = [UInt8](repeating: 0, count: w * h * 3)
            for i in 0..<w {                   // output rows = input columns, from the right
                for j in 0..<h {               // output columns = input rows
                    let s = (j * w + (w - 1 - i)) * 3, d = (i * h + j) * 3
                    out[d] = img.pixels[s]; out[d + 1] = img.pixels[s + 1]; out[d + 2] = img.pixels[s + 2]
                }
            }
            img = RGBImage(uncheckedWidth: h, height: w, pixels: out)
        }
        return img
    }

    /// Luma (ITU-R 601: 0.299 R + 0.587 G + 0.114 B, rounded) replicated to the three channels.
    public func greyscale() -> RGBImage {
        var out = pixels
        for i in stride(from: 0, to: out.count, by: 3) {
            let l = 0.299 * Float(pixels[i]) + 0.587 * Float(pixels[i + 1]) + 0.114 * Float(pixels[i + 2])
            let v = UInt8(min(255, (l + 0.5).rounded(.down)))
            out[i] = v; out[i + 1] = v; out[i + 2] = v
        }
        return RGBImage(uncheckedWidth: width, height: height, pixels: out)
    }
}
