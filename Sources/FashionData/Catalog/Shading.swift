// Procedural fabric: the pattern (which colour at local point u, v) and the texture (a brightness factor)
// of a product. Everything is a pure function of the coordinates and the product's salt.

@inline(__always) private func fract(_ x: Float) -> Float { x - x.rounded(.down) }

/// Smooth value noise in [0, 1) on an integer lattice.
@inline(__always) func valueNoise(_ x: Float, _ y: Float, _ salt: UInt32) -> Float {
    let xf = x.rounded(.down), yf = y.rounded(.down)
    let xi = Int32(truncatingIfNeeded: Int(xf)), yi = Int32(truncatingIfNeeded: Int(yf))
    var tx = x - xf, ty = y - yf
    tx = tx * tx * (3 - 2 * tx); ty = ty * ty * (3 - 2 * ty)
    let a = hash2(xi, yi, salt), b = hash2(xi &+ 1, yi, salt)
    let c = hash2(xi, yi &+ 1, salt), d = hash2(xi &+ 1, yi &+ 1, salt)
    let top = a + (b - a) * tx, bottom = c + (d - c) * tx
    return top + (bottom - top) * ty
}

struct FabricShader {
    var primary: RGBf
    var secondary: RGBf
    var pattern: Pattern
    var texture: Texture
    /// Pattern repeats per local unit.
    var frequency: Float
    /// Texture repeats per local unit (about one per 4 px in a front view).
    var textureFrequency: Float
    var salt: UInt32

    /// The pattern colour at local (u, v).
    @inline(__always) func colour(_ u: Float, _ v: Float) -> RGBf {
        let f = frequency
        switch pattern {
        case .solid:
            return primary
        case .horizontalStripes:
            return fract(v * f) < 0.45 ? secondary : primary
        case .verticalStripes:
            return fract(u * f * 1.4) < 0.16 ? secondary : primary
        case .polkaDots:
            let row = (v * f).rounded(.down)
            let cu = fract(u * f + (Int(row) & 1 == 0 ? 0 : 0.5)) - 0.5, cv = fract(v * f) - 0.5
            return cu * cu + cv * cv < 0.05 ? secondary : primary
        case .check:
            let a = fract(u * f) < 0.5, b = fract(v * f) < 0.5
            if a && b { return secondary }
            return a || b ? (primary + secondary) * 0.5 : primary
        case .chevron:
            let t = v * f + abs(fract(u * f * 0.7) - 0.5) * 1.1
            return fract(t) < 0.45 ? secondary : primary
        case .colourBlock:
            return v + 0.35 * u > 0.52 ? secondary : primary
        case .floral:
            let g = f * 0.7
            let cx = (u * g).rounded(.down), cy = (v * g).rounded(.down)
            let ix = Int32(truncatingIfNeeded: Int(cx)), iy = Int32(truncatingIfNeeded: Int(cy))
            let ox = 0.3 + 0.4 * hash2(ix, iy, salt), oy = 0.3 + 0.4 * hash2(iy, ix, salt &+ 7)
            let du = u * g - cx - ox, dv = v * g - cy - oy
            let d2 = du * du + dv * dv
            if d2 > 0.1 { return primary }
            if d2 < 0.006 { return RGBf(246, 214, 92) }
            // Five petals: radius modulated by cos(5θ), via the angle's cosine polynomial.
            let d = d2.squareRoot(), c = du / d
            let c5 = c * (16 * c * c * c * c - 20 * c * c + 5)  // cos 5θ
            return d < 0.2 + 0.11 * c5 ? secondary : primary
        case .camouflage:
            let n = valueNoise(u * f * 0.5, v * f * 0.5, salt) * 0.65 + valueNoise(u * f * 1.2, v * f * 1.2, salt &+ 3) * 0.35
            if n < 0.38 { return primary * 0.55 + secondary * 0.15 }
            if n < 0.58 { return primary }
            return secondary * 0.8 + primary * 0.2
        }
    }

    /// The texture's brightness factor at local (u, v).
    @inline(__always) func texture(_ u: Float, _ v: Float) -> Float {
        let t = textureFrequency
        switch texture {
        case .smooth:
            return 1
        case .knit:
            let x = u * t * 0.8 + abs(fract(v * t * 1.2) - 0.5) * 0.9
            return 0.88 + 0.16 * abs(fract(x) - 0.5) * 2
        case .denim:
            let twill: Float = fract((u + v * 0.8) * t * 1.1) < 0.5 ? 1.03 : 0.9
            return twill * (0.94 + 0.1 * valueNoise(u * t * 0.3, v * t * 2.0, salt))
        case .leather:
            return 0.9 + 0.16 * valueNoise(u * t * 0.45, v * t * 0.45, salt)
        case .quilted:
            let a = fract((u + v) * 7), b = fract((u - v) * 7)
            let seam = min(min(a, 1 - a), min(b, 1 - b))
            return seam < 0.035 ? 0.72 : 0.86 + 0.14 * min(1, seam * 6)
        }
    }
}
