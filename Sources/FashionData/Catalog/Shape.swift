// Shapes of the procedural garments, in the garment's local frame: x ∈ [−0.5, 0.5] left to right,
// y ∈ [0, 1] top to bottom. A shape is a closed polygon (even–odd fill) plus how to paint it.

import Foundation

typealias Vec2 = SIMD2<Float>
typealias RGBf = SIMD3<Float>

/// How the pixels a shape covers are painted.
enum Fill {
    /// The product's fabric: pattern in main/secondary colour, texture, fold shading.
    case fabric
    /// A flat colour, with the product texture when `textured`.
    case solid(RGBf, textured: Bool)
    /// Multiplies what is already there (seams, creases, pleats, folds, stitch lines).
    case shade(Float)
}

struct Shape {
    var points: [Vec2]
    var fill: Fill
    /// Whether the shape contributes to the drop shadow (outer silhouette parts).
    var castsShadow: Bool = false
}

/// Geometry helpers that build polygons in the local frame.
enum Geo {
    static func rect(_ x0: Float, _ y0: Float, _ x1: Float, _ y1: Float) -> [Vec2] {
        [Vec2(x0, y0), Vec2(x1, y0), Vec2(x1, y1), Vec2(x0, y1)]
    }

    static func ellipse(_ cx: Float, _ cy: Float, _ rx: Float, _ ry: Float, segments: Int = 20) -> [Vec2] {
        (0..<segments).map { i in
            let a = Float(i) / Float(segments) * 2 * .pi
            return Vec2(cx + rx * cos(a), cy + ry * sin(a))
        }
    }

    /// A rounded rectangle (corner radius r), as a polygon.
    static func roundedRect(_ x0: Float, _ y0: Float, _ x1: Float, _ y1: Float, r: Float) -> [Vec2] {
        var pts: [Vec2] = []
        let corners = [(x1 - r, y0 + r, -Float.pi / 2), (x1 - r, y1 - r, 0), (x0 + r, y1 - r, Float.pi / 2), (x0 + r, y0 + r, Float.pi)]
        for (cx, cy, a0) in corners {
            for k in 0...4 {
                let a = a0 + Float(k) / 4 * .pi / 2
                pts.append(Vec2(cx + r * cos(a), cy + r * sin(a)))
            }
        }
        return pts
    }

    /// The outline of a polyline drawn with the given width (for straps, handles, seams, laces).
    static func stroke(_ line: [Vec2], width: Float) -> [Vec2] {
        guard line.count >= 2 else { return [] }
        var left: [Vec2] = [], right: [Vec2] = []
        for i in 0..<line.count {
            let a = line[max(0, i - 1)], b = line[min(line.count - 1, i + 1)]
            var d = b - a
            let len = (d * d).sum().squareRoot()
            d = len > 0 ? d / len : Vec2(1, 0)
            let n = Vec2(-d.y, d.x) * (width / 2)
            left.append(line[i] + n); right.append(line[i] - n)
        }
        return left + right.reversed()
    }

    /// Points along a quadratic Bézier from a to b with control c.
    static func curve(_ a: Vec2, _ c: Vec2, _ b: Vec2, segments: Int = 10) -> [Vec2] {
        (0...segments).map { i in
            let t = Float(i) / Float(segments), s = 1 - t
            return a * (s * s) + c * (2 * s * t) + b * (t * t)
        }
    }

    /// Mirrors the left half of a symmetric outline (given top to bottom on the left, x ≤ 0) into a
    /// closed polygon.
    static func mirrored(_ leftHalf: [Vec2]) -> [Vec2] {
        leftHalf + leftHalf.reversed().map { Vec2(-$0.x, $0.y) }
    }

    static func flipX(_ pts: [Vec2]) -> [Vec2] { pts.map { Vec2(-$0.x, $0.y) } }

    static func translate(_ pts: [Vec2], _ dx: Float, _ dy: Float) -> [Vec2] { pts.map { $0 + Vec2(dx, dy) } }

    /// Scales x about 0 (for fit and side-view narrowing).
    static func scaleX(_ pts: [Vec2], _ k: Float) -> [Vec2] { pts.map { Vec2($0.x * k, $0.y) } }
}

extension NamedColour {
    var rgbf: RGBf { RGBf(Float(rgb[0]), Float(rgb[1]), Float(rgb[2])) }
}
