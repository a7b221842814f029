// A small RGB raster for evaluation figures: filled rectangles, outlines, bitmap text (horizontal or turned
// 90° for column labels) and pasted images. Everything outside the raster is clipped.
import FashionData

public struct RGB: Sendable, Equatable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)
    public static let ink = RGB(34, 38, 46)
    public static let grey = RGB(128, 128, 128)
    public static let green = RGB(30, 150, 70)
    public static let red = RGB(200, 50, 50)
}

struct Raster {
    let width: Int, height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int, background: RGB = .white) {
        self.width = max(1, width)
        self.height = max(1, height)
        pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
        fill(x: 0, y: 0, w: self.width, h: self.height, background)
    }

    var image: RGBImage {
        var img = RGBImage(width: width, height: height)
        img.pixels = pixels
        return img
    }

    mutating func set(_ x: Int, _ y: Int, _ c: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.r; pixels[i + 1] = c.g; pixels[i + 2] = c.b
    }

    mutating func fill(x: Int, y: Int, w: Int, h: Int, _ c: RGB) {
        let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 {
            var i = (yy * width + x0) * 3
            for _ in x0..<x1 {
                pixels[i] = c.r; pixels[i + 1] = c.g; pixels[i + 2] = c.b
                i += 3
            }
        }
    }

    mutating func outline(x: Int, y: Int, w: Int, h: Int, thickness: Int = 1, _ c: RGB) {
        fill(x: x, y: y, w: w, h: thickness, c)
        fill(x: x, y: y + h - thickness, w: w, h: thickness, c)
        fill(x: x, y: y, w: thickness, h: h, c)
        fill(x: x + w - thickness, y: y, w: thickness, h: h, c)
    }

    /// Draws `text` with its top-left corner at (x, y). `vertical` turns it 90° counter-clockwise (reads bottom
    /// to top), starting at the bottom-left corner (x, y).
    mutating func text(_ text: String, x: Int, y: Int, scale: Int = 1, vertical: Bool = false, _ c: RGB = .ink) {
        var pen = 0
        for ch in text {
            let rows = BitmapFont.rows(ch)
            for (gy, bits) in rows.enumerated() {
                for gx in 0..<BitmapFont.glyphWidth where bits & (1 << UInt8(BitmapFont.glyphWidth - 1 - gx)) != 0 {
                    let u = (pen + gx) * scale, v = gy * scale
                    if vertical {
                        fill(x: x + v, y: y - u - scale, w: scale, h: scale, c)
                    } else {
                        fill(x: x + u, y: y + v, w: scale, h: scale, c)
                    }
                }
            }
            pen += BitmapFont.advance
        }
    }

    /// Pastes an image with its top-left corner at (x, y).
    mutating func paste(_ image: RGBImage, x: Int, y: Int) {
        for yy in 0..<image.height where y + yy >= 0 && y + yy < height {
            for xx in 0..<image.width where x + xx >= 0 && x + xx < width {
                let s = (yy * image.width + xx) * 3, d = ((y + yy) * width + x + xx) * 3
                pixels[d] = image.pixels[s]; pixels[d + 1] = image.pixels[s + 1]; pixels[d + 2] = image.pixels[s + 2]
            }
        }
    }

    /// Shortens `text` with "..." so it is at most `maxWidth` pixels wide at `scale`.
    static func fit(_ text: String, maxWidth: Int, scale: Int) -> String {
        if BitmapFont.width(of: text, scale: scale) <= maxWidth { return text }
        let chars = max(0, (maxWidth / scale + 1) / BitmapFont.advance - 2)
        return String(text.prefix(chars)) + ".."
    }
}
