// A garment drawing under construction: shapes in the local frame, the point a detail pose zooms on, and
// the product colours every silhouette builder uses.

struct Drawing {
    var shapes: [Shape] = []
    /// Local point the detail pose centres on.
    var focus = Vec2(0, 0.3)
    let product: Product
    let main: RGBf, secondary: RGBf, trim: RGBf, interior: RGBf, hardware: RGBf, buttonColour: RGBf

    init(product p: Product) {
        product = p
        main = p.colour.rgbf
        secondary = p.secondaryColour.rgbf
        trim = (p.trimColour ?? p.colour).rgbf
        interior = main * 0.55 + RGBf(repeating: 8)
        hardware = RGBf(196, 192, 184)
        let lum = 0.3 * main.x + 0.59 * main.y + 0.11 * main.z
        buttonColour = lum > 120 ? main * 0.35 : main * 0.4 + RGBf(repeating: 140)
    }

    var fitRatio: Float { product.fit.widthRatio }

    mutating func fabric(_ pts: [Vec2], shadow: Bool = true) { shapes.append(Shape(points: pts, fill: .fabric, castsShadow: shadow)) }
    mutating func solid(_ pts: [Vec2], _ c: RGBf, textured: Bool = false, shadow: Bool = false) {
        shapes.append(Shape(points: pts, fill: .solid(c, textured: textured), castsShadow: shadow))
    }
    mutating func shade(_ pts: [Vec2], _ k: Float) { shapes.append(Shape(points: pts, fill: .shade(k))) }
    /// A stitched or seam line.
    mutating func seam(_ line: [Vec2], width: Float = 0.008, k: Float = 0.78) { shade(Geo.stroke(line, width: width), k) }
    /// Outline of a closed polygon (pocket edges, flaps).
    mutating func outline(_ pts: [Vec2], width: Float = 0.008, k: Float = 0.75) { seam(pts + [pts[0]], width: width, k: k) }

    /// `n` buttons evenly spaced on x = `x` between y0 and y1.
    mutating func buttons(_ n: Int, x: Float, from y0: Float, to y1: Float, radius r: Float = 0.016) {
        guard n > 0 else { return }
        for i in 0..<n {
            let y = n == 1 ? y0 : y0 + (y1 - y0) * Float(i) / Float(n - 1)
            solid(Geo.ellipse(x, y, r, r, segments: 12), buttonColour)
            shade(Geo.ellipse(x, y, r * 0.35, r * 0.35, segments: 8), 0.7)
        }
    }

    /// A zip from y0 to y1 on x = `x`, with a pull tab.
    mutating func zip(x: Float, from y0: Float, to y1: Float) {
        solid(Geo.rect(x - 0.008, y0, x + 0.008, y1), hardware)
        seam([Vec2(x, y0), Vec2(x, y1)], width: 0.004, k: 0.7)
        solid(Geo.roundedRect(x - 0.012, y0 + 0.01, x + 0.012, y0 + 0.055, r: 0.006), hardware * 0.85)
    }

    /// A small chest logo (secondary colour) centred at (x, y).
    mutating func logo(x: Float, y: Float, r: Float = 0.03) {
        let kind = Int(product.renderSeed % 3)
        switch kind {
        case 0: solid(Geo.ellipse(x, y, r, r, segments: 14), secondary)
        case 1: solid(Geo.roundedRect(x - r, y - r * 0.7, x + r, y + r * 0.7, r: r * 0.25), secondary)
        default: solid([Vec2(x, y - r), Vec2(x + r, y + r * 0.8), Vec2(x - r, y + r * 0.8)], secondary)
        }
    }

    /// A large graphic (front graphic or back print) centred at (x, y).
    mutating func graphic(x: Float, y: Float, r: Float) {
        let kind = Int((product.renderSeed >> 8) % 4)
        switch kind {
        case 0:
            solid(Geo.ellipse(x, y, r, r, segments: 24), secondary)
            solid(Geo.ellipse(x, y, r * 0.55, r * 0.55, segments: 20), main)
        case 1:
            var star: [Vec2] = []
            for i in 0..<10 {
                let a = Float(i) * .pi / 5 - .pi / 2, rr = i % 2 == 0 ? r : r * 0.45
                star.append(Vec2(x + rr * cos(a), y + rr * sin(a)))
            }
            solid(star, secondary)
        case 2:
            for k in 0..<3 {
                let yy = y - r * 0.7 + Float(k) * r * 0.55
                solid(Geo.rect(x - r, yy, x + r, yy + r * 0.32), secondary)
            }
        default:
            solid([Vec2(x, y - r), Vec2(x + r, y + r * 0.8), Vec2(x - r, y + r * 0.8)], secondary)
        }
    }
}

import Foundation
