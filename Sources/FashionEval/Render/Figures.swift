// PNG figures for the report: a confusion-matrix heatmap and the masked-image-generation grid.
import FashionData

public enum ConfusionMatrixImage {
    /// A heatmap of `matrix` (rows = true class, columns = predicted), each row shaded by its share of the true
    /// class, counts printed in the cells when they fit, class names on both axes.
    public static func render(_ matrix: [[Int]], labels: [String], title: String) throws -> RGBImage {
        let n = matrix.count
        guard n > 0, matrix.allSatisfy({ $0.count == n }), labels.count == n else {
            throw EvalError.invalidArgument("ConfusionMatrixImage: need a square n×n matrix and n labels, got "
                + "\(n) rows of \(matrix.map(\.count)) and \(labels.count) labels")
        }
        let big = n <= 12
        let scale = big ? 2 : 1
        let cell = big ? 44 : max(12, min(28, 900 / n))
        let maxLabel = big ? 18 : 26
        let names = labels.map { $0.count > maxLabel ? String($0.prefix(maxLabel - 2)) + ".." : $0 }
        let labelW = names.map { BitmapFont.width(of: $0, scale: scale) }.max() ?? 0
        let titleH = 7 * 2 + 16
        let left = 8 + 12 + labelW + 8, top = titleH + 12 + labelW + 8
        let grid = n * cell
        let legendH = 28
        var r = Raster(width: left + grid + 24, height: top + grid + legendH + 12)
        r.text(title, x: 8, y: 8, scale: 2)
        // Axis titles.
        r.text("predicted", x: left + grid / 2 - BitmapFont.width(of: "predicted", scale: 1) / 2, y: titleH, scale: 1, RGB.grey)
        r.text("true", x: 8, y: top + grid / 2 + BitmapFont.width(of: "true", scale: 1) / 2, scale: 1, vertical: true, RGB.grey)
        let rowTotals = matrix.map { max($0.reduce(0, +), 1) }
        for t in 0..<n {
            for p in 0..<n {
                let share = Double(matrix[t][p]) / Double(rowTotals[t])
                let x = left + p * cell, y = top + t * cell
                r.fill(x: x, y: y, w: cell, h: cell, shade(share))
                let count = String(matrix[t][p])
                if matrix[t][p] > 0, BitmapFont.width(of: count, scale: scale) <= cell - 4 {
                    let tw = BitmapFont.width(of: count, scale: scale)
                    r.text(count, x: x + (cell - tw) / 2, y: y + (cell - 7 * scale) / 2, scale: scale,
                           share > 0.5 ? .white : .ink)
                }
            }
            // Diagonal cells framed, so the eye finds them in large matrices.
            r.outline(x: left + t * cell, y: top + t * cell, w: cell, h: cell, RGB(120, 120, 120))
        }
        r.outline(x: left - 1, y: top - 1, w: grid + 2, h: grid + 2, RGB(90, 90, 90))
        for (i, name) in names.enumerated() {
            let w = BitmapFont.width(of: name, scale: scale)
            r.text(name, x: left - 6 - w, y: top + i * cell + (cell - 7 * scale) / 2, scale: scale)
            r.text(name, x: left + i * cell + (cell - 7 * scale) / 2, y: top - 6, scale: scale, vertical: true)
        }
        // Legend: 0 → 1 colour ramp.
        let ly = top + grid + 12
        r.text("row share 0", x: left, y: ly + 4, scale: 1, RGB.grey)
        let rampX = left + BitmapFont.width(of: "row share 0", scale: 1) + 6
        for i in 0..<120 { r.fill(x: rampX + i, y: ly, w: 1, h: 14, shade(Double(i) / 119)) }
        r.outline(x: rampX - 1, y: ly - 1, w: 122, h: 16, RGB(150, 150, 150))
        r.text("1", x: rampX + 126, y: ly + 4, scale: 1, RGB.grey)
        return r.image
    }

    /// White → deep blue.
    static func shade(_ v: Double) -> RGB {
        let t = max(0, min(1, v))
        func mix(_ a: Double, _ b: Double) -> UInt8 { UInt8((a + (b - a) * t).rounded()) }
        return RGB(mix(255, 16), mix(255, 62), mix(255, 138))
    }
}

/// An RGB image of floats in [0, 1] (values outside are clamped), as a model returns it.
public struct FloatImage: Sendable {
    public enum Layout: Sendable { case chw, hwc }
    public var width: Int, height: Int
    /// HWC order after init.
    public var values: [Float]

    public init(width: Int, height: Int, values: [Float], layout: Layout = .chw) throws {
        guard width > 0, height > 0, values.count == width * height * 3 else {
            throw EvalError.invalidArgument("FloatImage: expected 3×\(height)×\(width) = \(3 * width * height) values, got \(values.count)")
        }
        self.width = width
        self.height = height
        switch layout {
        case .hwc: self.values = values
        case .chw:
            var hwc = [Float](repeating: 0, count: values.count)
            let plane = width * height
            for i in 0..<plane { for c in 0..<3 { hwc[i * 3 + c] = values[c * plane + i] } }
            self.values = hwc
        }
    }

    /// Rescaled so that its minimum is 0 and maximum 1 (how MVLT shows the MIR output, mvlt.md §7).
    public func minMaxNormalized() -> FloatImage {
        guard let lo = values.min(), let hi = values.max(), hi > lo else { return self }
        var copy = self
        copy.values = values.map { ($0 - lo) / (hi - lo) }
        return copy
    }

    public var rgb: RGBImage {
        var img = RGBImage(width: width, height: height)
        img.pixels = values.map { v in UInt8((max(0, min(1, v.isNaN ? 0 : v)) * 255).rounded()) }
        return img
    }
}

public enum ImageGrid {
    /// Rows of images side by side (e.g. original | masked | reconstruction), with optional column titles above
    /// and row labels to the left. Images in one column may differ in size; cells take the largest.
    public static func render(rows: [[RGBImage]], columnTitles: [String] = [], rowLabels: [String] = [],
                              gap: Int = 6) throws -> RGBImage {
        guard !rows.isEmpty, let columns = rows.map(\.count).max(), columns > 0 else {
            throw EvalError.invalidArgument("ImageGrid: no images")
        }
        let imageW = rows.flatMap { $0 }.map(\.width).max() ?? 1
        let cellH = rows.flatMap { $0 }.map(\.height).max() ?? 1
        let scale = imageW >= 96 ? 2 : 1
        // Columns widen to fit their titles.
        let cellW = max(imageW, columnTitles.map { BitmapFont.width(of: $0, scale: scale) }.max() ?? 0)
        let titleH = columnTitles.isEmpty ? 0 : 7 * scale + 10
        let labelW = rowLabels.isEmpty ? 0 : (rowLabels.map { BitmapFont.width(of: $0, scale: scale) }.max() ?? 0) + 10
        var r = Raster(width: labelW + columns * (cellW + gap) + gap,
                       height: titleH + rows.count * (cellH + gap) + gap)
        for (c, title) in columnTitles.prefix(columns).enumerated() {
            let t = Raster.fit(title, maxWidth: cellW, scale: scale)
            let w = BitmapFont.width(of: t, scale: scale)
            r.text(t, x: labelW + gap + c * (cellW + gap) + (cellW - w) / 2, y: 6, scale: scale)
        }
        for (i, row) in rows.enumerated() {
            let y = titleH + gap + i * (cellH + gap)
            if i < rowLabels.count {
                r.text(rowLabels[i], x: 4, y: y + (cellH - 7 * scale) / 2, scale: scale)
            }
            for (c, img) in row.enumerated() {
                r.paste(img, x: labelW + gap + c * (cellW + gap) + (cellW - img.width) / 2, y: y + (cellH - img.height) / 2)
            }
        }
        return r.image
    }

    /// One MIG row: the original, the masked input (masked pixels shown as 0.5 grey) and the min–max-normalised
    /// reconstruction. `mask` holds one value per pixel (row-major), true where the input was masked.
    public static func migRow(original: FloatImage, mask: [Bool], reconstruction: FloatImage) throws -> [RGBImage] {
        guard mask.count == original.width * original.height else {
            throw EvalError.invalidArgument("ImageGrid.migRow: mask has \(mask.count) values, image has \(original.width * original.height) pixels")
        }
        var masked = original
        for (i, m) in mask.enumerated() where m { for c in 0..<3 { masked.values[i * 3 + c] = 0.5 } }
        return [original.rgb, masked.rgb, reconstruction.minMaxNormalized().rgb]
    }
}
