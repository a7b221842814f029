// Renders one pose of a product: builds the drawing, fits it into the frame with scale/rotation jitter,
// paints a studio background with a soft drop shadow, the garment shapes, and a mild lighting gradient.

import Foundation

public struct CatalogRenderer: Sendable {
    public let size: Int
    public let difficulty: Difficulty

    public init(size: Int, difficulty: Difficulty = .medium) {
        self.size = size
        self.difficulty = difficulty
    }

    /// The shapes of a product in one pose, in the local frame.
    func drawing(of product: Product, pose: PoseKind) -> Drawing {
        var d = Drawing(product: product)
        switch product.category {
        case .tops, .shirts, .jackets, .dresses: d.drawUpper(pose: pose == .detail ? .front : pose)
        case .skirts: d.drawSkirt(pose: pose)
        case .pants: d.drawPants(pose: pose)
        case .shoes: d.drawShoe(pose: pose)
        case .bags: d.drawBag(pose: pose == .detail ? .front : pose)
        }
        return d
    }

    /// The RGB bytes (`size × size × 3`) of `product` in `pose`.
    public func render(_ product: Product, pose: PoseKind) -> RGBImage {
        let d = drawing(of: product, pose: pose)
        var rng = SeededRNG(seed: product.renderSeed, stream: UInt64(pose.hashSeed))
        let n = Float(size)

        // Fit the drawing's bounding box into 80 % of the frame, with jitter.
        var lo = Vec2(repeating: .infinity), hi = Vec2(repeating: -.infinity)
        for s in d.shapes { for p in s.points { lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p) } }
        let extent = max(hi.x - lo.x, hi.y - lo.y, 0.1)
        let jitter: Float = difficulty == .hard ? 0.14 : 0.1
        var scale = n * 0.8 / extent * Float(rng.uniform(Double(1 - jitter), Double(1 + jitter)))
        var anchor = (lo + hi) / 2
        if pose == .detail && product.category != .shoes { scale *= 2.2; anchor = d.focus }
        let angle = Float(rng.uniform(-5, 5)) * .pi / 180
        let shift = Vec2(Float(rng.uniform(-0.03, 0.03)), Float(rng.uniform(-0.03, 0.03))) * n
        let centre = Vec2(n / 2, n / 2) + shift
        let ca = cos(angle), sa = sin(angle)
        func toPixel(_ p: Vec2) -> Vec2 {
            let q = (p - anchor) * scale
            return centre + Vec2(ca * q.x - sa * q.y, sa * q.x + ca * q.y)
        }

        // Studio background, drop shadow, lighting.
        let background = Float(rng.uniform(238, 254))
        let light = Vec2(Float(rng.uniform(-1, 1)), Float(rng.uniform(-1, 1))) * 0.05
        let shadowRes = max(8, size / 4)
        let down = Float(shadowRes) / n
        let shadowPolys = d.shapes.filter { $0.castsShadow }.map { $0.points.map { toPixel($0) * down } }
        let shadow = ShadowMask(size: shadowRes, polygons: shadowPolys)
        let offset = Vec2(0.012, 0.02) * n
        var canvas = Canvas(size: size, background: background)
        canvas.rgb.withUnsafeMutableBufferPointer { buf in
            for y in 0..<size {
                for x in 0..<size {
                    let m = shadow.sample((Float(x) + 0.5 - offset.x) * down - 0.5, (Float(y) + 0.5 - offset.y) * down - 0.5)
                    let v = background * (1 - 0.2 * m)
                    let i = (y * size + x) * 3
                    buf[i] = v; buf[i + 1] = v; buf[i + 2] = v * 0.995
                }
            }
        }

        // Garment shapes, painter's order.
        let shader = FabricShader(
            primary: d.main, secondary: d.secondary, pattern: product.pattern, texture: product.texture,
            frequency: 11 + Float(product.renderSeed % 5), textureFrequency: n * 0.8 * 0.25 / 1.2,
            salt: UInt32(truncatingIfNeeded: product.renderSeed >> 20))
        let inv = 1 / scale
        for shape in d.shapes {
            let poly = shape.points.map(toPixel)
            switch shape.fill {
            case .fabric:
                canvas.fill(poly) { buf, x, y, c in
                    let q = Vec2(Float(x) + 0.5, Float(y) + 0.5) - centre
                    let u = anchor.x + (ca * q.x + sa * q.y) * inv, v = anchor.y + (-sa * q.x + ca * q.y) * inv
                    let fold = 1 - 0.35 * u * u
                    let col = shader.colour(u, v) * (shader.texture(u, v) * fold)
                    let i = (y * size + x) * 3
                    buf[i] += (col.x - buf[i]) * c; buf[i + 1] += (col.y - buf[i + 1]) * c; buf[i + 2] += (col.z - buf[i + 2]) * c
                }
            case let .solid(colour, textured):
                canvas.fill(poly) { buf, x, y, c in
                    var col = colour
                    if textured {
                        let q = Vec2(Float(x) + 0.5, Float(y) + 0.5) - centre
                        col *= shader.texture(anchor.x + (ca * q.x + sa * q.y) * inv, anchor.y + (-sa * q.x + ca * q.y) * inv)
                    }
                    let i = (y * size + x) * 3
                    buf[i] += (col.x - buf[i]) * c; buf[i + 1] += (col.y - buf[i + 1]) * c; buf[i + 2] += (col.z - buf[i + 2]) * c
                }
            case let .shade(k):
                canvas.fill(poly) { buf, x, y, c in
                    let f = 1 - c * (1 - k), i = (y * size + x) * 3
                    buf[i] *= f; buf[i + 1] *= f; buf[i + 2] *= f
                }
            }
        }

        // Lighting gradient and quantisation.
        let pixels = [UInt8](unsafeUninitializedCapacity: size * size * 3) { out, count in
            canvas.rgb.withUnsafeBufferPointer { src in
                for y in 0..<size {
                    let ly = light.y * (Float(y) / n - 0.5)
                    for x in 0..<size {
                        let g = 1 + light.x * (Float(x) / n - 0.5) + ly
                        let i = (y * size + x) * 3
                        for c in 0..<3 { out[i + c] = UInt8(max(0, min(255, src[i + c] * g + 0.5))) }
                    }
                }
            }
            count = size * size * 3
        }
        return RGBImage(uncheckedWidth: size, height: size, pixels: pixels)
    }
}

extension PoseKind {
    /// A fixed per-pose stream index (not Swift's per-process hash).
    var hashSeed: Int {
        switch self {
        case .front: return 1
        case .back: return 2
        case .side: return 3
        case .detail: return 4
        }
    }
}
