// A float RGB raster with an anti-aliased scanline polygon filler (even–odd rule, 4 sub-scanlines,
// exact horizontal coverage). Shapes arrive in pixel coordinates; the painter decides each pixel's colour.

struct Canvas {
    let size: Int
    /// `size × size × 3` values in [0, 255].
    var rgb: [Float]
    private var coverage: [Float]
    private var crossings: [Float] = []

    init(size: Int, background: Float) {
        self.size = size
        rgb = [Float](repeating: background, count: size * size * 3)
        coverage = [Float](repeating: 0, count: size + 2)
        crossings.reserveCapacity(64)
    }

    static let subsamples = 4

    /// Rasterises `poly` (pixel coordinates); for every touched pixel calls `paint(x, y, coverage)`.
    /// Returns without calling when the polygon is off-canvas.
    @inline(__always)
    mutating func fill(_ poly: [Vec2], paint: (inout [Float], Int, Int, Float) -> Void) {
        guard poly.count >= 3 else { return }
        var minY = Float.infinity, maxY = -Float.infinity
        for p in poly { minY = min(minY, p.y); maxY = max(maxY, p.y) }
        let y0 = max(0, Int(minY.rounded(.down))), y1 = min(size - 1, Int(maxY.rounded(.down)))
        guard y0 <= y1 else { return }
        let n = poly.count, sub = Canvas.subsamples, w = 1 / Float(sub)
        for y in y0...y1 {
            var lo = size, hi = -1
            for s in 0..<sub {
                let yc = Float(y) + (Float(s) + 0.5) * w
                crossings.removeAll(keepingCapacity: true)
                var j = n - 1
                for i in 0..<n {
                    let a = poly[j], b = poly[i]
                    if (a.y <= yc) != (b.y <= yc) {
                        crossings.append(a.x + (yc - a.y) * (b.x - a.x) / (b.y - a.y))
                    }
                    j = i
                }
                guard crossings.count >= 2 else { continue }
                crossings.sort()
                var k = 0
                while k + 1 < crossings.count {
                    let xa = max(0, crossings[k]), xb = min(Float(size), crossings[k + 1])
                    k += 2
                    guard xb > xa else { continue }
                    let ia = Int(xa), ib = min(size - 1, Int(xb))
                    lo = min(lo, ia); hi = max(hi, ib)
                    if ia == ib {
                        coverage[ia] += (xb - xa) * w
                    } else {
                        coverage[ia] += (Float(ia + 1) - xa) * w
                        if ib > ia + 1 { for x in (ia + 1)..<ib { coverage[x] += w } }
                        if ib < size { coverage[ib] += (xb - Float(ib)) * w }
                    }
                }
            }
            guard hi >= lo else { continue }
            for x in lo...hi {
                let c = min(1, coverage[x])
                coverage[x] = 0
                if c > 0.002 { paint(&rgb, x, y, c) }
            }
        }
    }
}

/// A low-resolution coverage mask, blurred, for the soft drop shadow.
struct ShadowMask {
    let size: Int
    var mask: [Float]

    init(size: Int, polygons: [[Vec2]]) {
        self.size = size
        var canvas = Canvas(size: size, background: 0)
        for poly in polygons {
            canvas.fill(poly) { buf, x, y, c in
                let i = (y * size + x) * 3
                buf[i] = min(1, buf[i] + c)
            }
        }
        mask = (0..<(size * size)).map { canvas.rgb[$0 * 3] }
        blur(); blur()
    }

    /// Separable box blur of radius 1 (two passes ≈ a small Gaussian).
    private mutating func blur() {
        var tmp = mask
        for y in 0..<size {
            for x in 0..<size {
                var s: Float = 0
                for d in -1...1 { s += mask[y * size + min(size - 1, max(0, x + d))] }
                tmp[y * size + x] = s / 3
            }
        }
        for y in 0..<size {
            for x in 0..<size {
                var s: Float = 0
                for d in -1...1 { s += tmp[min(size - 1, max(0, y + d)) * size + x] }
                mask[y * size + x] = s / 3
            }
        }
    }

    /// Bilinear sample at mask coordinates; 0 outside.
    @inline(__always) func sample(_ x: Float, _ y: Float) -> Float {
        let xf = x.rounded(.down), yf = y.rounded(.down)
        let xi = Int(xf), yi = Int(yf)
        guard xi >= 0, yi >= 0, xi + 1 < size, yi + 1 < size else { return 0 }
        let tx = x - xf, ty = y - yf
        let a = mask[yi * size + xi], b = mask[yi * size + xi + 1]
        let c = mask[(yi + 1) * size + xi], d = mask[(yi + 1) * size + xi + 1]
        let top = a + (b - a) * tx, bottom = c + (d - c) * tx
        return top + (bottom - top) * ty
    }
}
