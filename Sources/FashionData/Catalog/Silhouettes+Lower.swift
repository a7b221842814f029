// Silhouettes of SKIRTS and PANTS: a waistband, then an A-line, pleated or two-legged body.

extension Drawing {
    mutating func drawSkirt(pose: PoseKind) {
        let p = product, f = fitRatio, kx: Float = pose == .side ? 0.6 : 1
        let waist = 0.2 * f
        var L: Float = p.length == .cropped ? 0.45 : (p.length == .regular ? 0.62 : 0.8)
        if p.subcategory == .midiSkirt { L = 0.82 }
        let hem: Float = (p.subcategory == .pleatedSkirt ? 0.36 : (p.subcategory == .miniSkirt ? 0.28 : 0.31)) * f
        let body = [Vec2(-waist, 0.06), Vec2(waist, 0.06), Vec2(hem, L), Vec2(-hem, L)]
        fabric(Geo.scaleX(body, kx))
        solid(Geo.scaleX(Geo.rect(-waist, 0, waist, 0.065), kx), trim, textured: true, shadow: true)
        if p.subcategory == .pleatedSkirt {
            for i in 1..<10 {
                let t = Float(i) / 10 * 2 - 1
                seam([Vec2(t * waist * kx, 0.07), Vec2(t * hem * kx, L)], width: 0.01, k: 0.76)
            }
        }
        if p.trimColour != nil { solid(Geo.scaleX([Vec2(-hem + 0.004, L - 0.03), Vec2(hem - 0.004, L - 0.03), Vec2(hem, L), Vec2(-hem, L)], kx), trim) }
        focus = Vec2(0, 0.15)
        switch pose {
        case .front, .detail:
            if p.closure == .buttons { seam([Vec2(0.02, 0.065), Vec2(0.03, L)], width: 0.005); buttons(p.buttons, x: 0.0, from: 0.12, to: L - 0.08) }
        case .back:
            zip(x: 0, from: 0.065, to: 0.26)
        case .side:
            if p.sidePocket { let pk = Geo.rect(-0.06, 0.14, 0.06, 0.3); fabric(pk, shadow: false); outline(pk, width: 0.01, k: 0.65) }
        }
    }

    mutating func drawPants(pose: PoseKind) {
        let p = product, sub = p.subcategory, f = fitRatio
        let kx: Float = pose == .side ? 0.55 : 1
        let waist: Float = 0.2 * f, hip: Float = 0.23 * f
        var L: Float = p.length == .cropped ? 0.86 : 1.0
        if sub == .shorts { L = 0.42 }
        let (outer, inner): (Float, Float)
        switch sub {
        case .joggers: (outer, inner) = (0.15 * f, 0.05)
        case .shorts: (outer, inner) = (0.26 * f, 0.02)
        case .jeans: (outer, inner) = (0.2 * f, 0.05)
        default: (outer, inner) = (0.21 * f, 0.035)
        }
        let crotch: Float = sub == .shorts ? 0.3 : 0.36
        let left = [Vec2(-waist, 0.05), Vec2(-hip, 0.22), Vec2(-outer, L), Vec2(-inner, L), Vec2(0, crotch)]
        let legs = left + [Vec2(inner, L), Vec2(outer, L), Vec2(hip, 0.22), Vec2(waist, 0.05)]
        fabric(Geo.scaleX(legs, kx))
        solid(Geo.scaleX(Geo.rect(-waist, 0, waist, 0.06), kx), sub == .joggers ? trim : main, textured: true, shadow: true)
        seam(Geo.scaleX([Vec2(-waist, 0.06), Vec2(waist, 0.06)], kx), width: 0.006, k: 0.8)
        if sub == .joggers {
            for s: Float in (pose == .side ? [0] : [-1, 1]) {
                let cuff = [Vec2(s * outer * kx, L - 0.06), Vec2(s * inner * kx, L - 0.06), Vec2(s * inner * kx, L), Vec2(s * outer * kx, L)]
                solid(cuff, trim, textured: true)
            }
            if pose == .front { for s: Float in [-1, 1] { solid(Geo.stroke([Vec2(s * 0.02, 0.05), Vec2(s * 0.03, 0.18)], width: 0.01), RGBf(240, 240, 236)) } }
        }
        focus = Vec2(-0.1, 0.12)
        switch pose {
        case .front, .detail:
            if p.closure == .buttons {
                seam(Geo.curve(Vec2(0.0, 0.06), Vec2(0.04, 0.22), Vec2(0.0, crotch - 0.02)), width: 0.006, k: 0.7)
                buttons(1, x: 0, from: 0.03, to: 0.03, radius: 0.014)
            }
            if sub == .jeans || p.pockets == .patch {
                for s: Float in [-1, 1] { seam(Geo.curve(Vec2(s * (waist - 0.08), 0.06), Vec2(s * (waist - 0.06), 0.15), Vec2(s * hip, 0.16)), width: 0.008, k: 0.7) }
            }
            if sub == .trousers { for s: Float in [-1, 1] { seam([Vec2(s * (hip + inner) / 2, 0.1), Vec2(s * (outer + inner) / 2, L)], width: 0.006, k: 0.82) } }
            if p.pockets == .flap, sub != .jeans {
                for s: Float in [-1, 1] { let fl = Geo.rect(s * (outer + 0.02), L * 0.5, s * (outer - 0.1), L * 0.56); fabric(fl, shadow: false); outline(fl, k: 0.65) }
            }
        case .back:
            for s: Float in [-1, 1] {
                let pk = [Vec2(s * 0.05, 0.1), Vec2(s * 0.17, 0.1), Vec2(s * 0.17, 0.22), Vec2(s * 0.11, 0.25), Vec2(s * 0.05, 0.22)]
                if sub == .jeans || sub == .trousers { outline(pk, width: 0.008, k: 0.7) }
            }
            seam([Vec2(0, 0.06), Vec2(0, crotch)], width: 0.006, k: 0.8)
        case .side:
            seam([Vec2(0, 0.06), Vec2(0, L)], width: 0.006, k: 0.8)
            if p.sidePocket { let pk = Geo.rect(-0.06, L * 0.42, 0.06, L * 0.58); fabric(pk, shadow: false); outline(pk, width: 0.01, k: 0.65) }
        }
    }
}
