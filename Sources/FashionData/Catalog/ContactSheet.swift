// A contact sheet: equally sized images laid out in a grid on white, for `synth --preview`.

public enum ContactSheet {
    /// Tiles `images` (all `tile × tile`) into rows of `columns`, with `gap` white pixels between.
    public static func make(_ images: [RGBImage], columns: Int, gap: Int = 4) throws -> RGBImage {
        guard let first = images.first, columns > 0 else {
            throw ImageError.invalidArgument(operation: "contact sheet", reason: "expected at least one image and one column")
        }
        let tile = first.width
        guard images.allSatisfy({ $0.width == tile && $0.height == tile }) else {
            throw ImageError.invalidArgument(operation: "contact sheet", reason: "expected all images \(tile)x\(tile)")
        }
        let rows = (images.count + columns - 1) / columns
        let w = columns * tile + (columns + 1) * gap, h = rows * tile + (rows + 1) * gap
        var sheet = RGBImage(width: w, height: h)
        for (k, img) in images.enumerated() {
            let ox = gap + (k % columns) * (tile + gap), oy = gap + (k / columns) * (tile + gap)
            for y in 0..<tile {
                let dst = ((oy + y) * w + ox) * 3, src = y * tile * 3
                sheet.pixels.replaceSubrange(dst..<(dst + tile * 3), with: img.pixels[src..<(src + tile * 3)])
            }
        }
        return sheet
    }
}
