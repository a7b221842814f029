// Silhouettes of SHOES (profile, rear, top pair, sole) and BAGS (front, back, side).

extension Drawing {
    /// The midsole/edge colour of shoes: white, or the trim colour when there is one.
    private var edge: RGBf { product.trimColour?.rgbf ?? RGBf(236, 234, 228) }

    mutating func drawShoe(pose: PoseKind) {
        let p = product, sub = p.subcategory
        switch pose {
        case .front: shoeProfile(sub)
        case .back:
            let top: Float = sub == .boots ? 0.0 : 0.35
            fabric(Geo.roundedRect(-0.16, top, 0.16, 0.92, r: 0.12))
            solid(Geo.rect(-0.17, 0.86, 0.17, 0.95), sub == .heels ? main * 0.5 : edge, shadow: true)
            solid(Geo.rect(-0.04, top, 0.04, top + 0.14), trim, textured: true)
        case .side:
            for s: Float in [-1, 1] {
                let body = Geo.ellipse(s * 0.19, 0.5, 0.15, 0.46, segments: 28)
                fabric(body)
                solid(Geo.ellipse(s * 0.19, 0.3, 0.08, 0.13, segments: 18), interior)
                if p.closure == .laces { for k in 0..<4 { solid(Geo.stroke([Vec2(s * 0.19 - 0.06, 0.46 + Float(k) * 0.06), Vec2(s * 0.19 + 0.06, 0.46 + Float(k) * 0.06)], width: 0.015), edge) } }
            }
        case .detail:
            let sole = Geo.ellipse(0, 0.5, 0.2, 0.47, segments: 30)
            solid(sole, (p.soleColour ?? p.colour).rgbf, textured: false, shadow: true)
            for k in 0..<9 { seam([Vec2(-0.16, 0.12 + Float(k) * 0.09), Vec2(0.16, 0.16 + Float(k) * 0.09)], width: 0.014, k: 0.78) }
        }
        focus = Vec2(0.2, 0.55)
    }

    private mutating func shoeProfile(_ sub: Subcategory) {
        let p = product
        switch sub {
        case .sneakers:
            fabric([Vec2(-0.45, 0.64), Vec2(-0.46, 0.42), Vec2(-0.4, 0.35), Vec2(-0.22, 0.37), Vec2(0.0, 0.42), Vec2(0.22, 0.47),
                    Vec2(0.4, 0.52), Vec2(0.47, 0.6), Vec2(0.47, 0.64)])
            solid(Geo.roundedRect(-0.47, 0.62, 0.49, 0.74, r: 0.04), edge, shadow: true)
            seam([Vec2(-0.46, 0.66), Vec2(0.48, 0.66)], width: 0.006, k: 0.8)
            solid([Vec2(0.25, 0.49), Vec2(0.4, 0.52), Vec2(0.47, 0.6), Vec2(0.47, 0.63), Vec2(0.28, 0.63)], main * 0.9, textured: true)
            for k in 0..<5 {
                let x = -0.16 + Float(k) * 0.075
                solid(Geo.stroke([Vec2(x, 0.395 + Float(k) * 0.017), Vec2(x + 0.05, 0.43 + Float(k) * 0.017)], width: 0.014), edge)
            }
            if p.logo == .chestLogo { solid(Geo.stroke(Geo.curve(Vec2(-0.3, 0.58), Vec2(-0.05, 0.62), Vec2(0.15, 0.47)), width: 0.03), secondary) }
        case .boots:
            fabric([Vec2(-0.42, 0.64), Vec2(-0.44, 0.06), Vec2(-0.12, 0.06), Vec2(-0.1, 0.38), Vec2(0.2, 0.46), Vec2(0.4, 0.52),
                    Vec2(0.47, 0.6), Vec2(0.47, 0.64)])
            solid(Geo.rect(-0.44, 0.06, -0.12, 0.1), trim, textured: true)
            solid(Geo.rect(-0.43, 0.63, 0.47, 0.68), main * 0.35 + RGBf(repeating: 20), shadow: true)
            solid(Geo.rect(-0.43, 0.63, -0.25, 0.76), main * 0.35 + RGBf(repeating: 20), shadow: true)
            if p.closure == .laces {
                for k in 0..<6 { solid(Geo.stroke([Vec2(-0.16, 0.12 + Float(k) * 0.05), Vec2(-0.1, 0.14 + Float(k) * 0.05)], width: 0.014), edge) }
            } else if p.closure == .zip {
                zip(x: -0.3, from: 0.08, to: 0.55)
            }
        case .heels:
            fabric([Vec2(-0.42, 0.46), Vec2(-0.43, 0.3), Vec2(-0.32, 0.33), Vec2(-0.08, 0.5), Vec2(0.14, 0.62), Vec2(0.3, 0.62),
                    Vec2(0.46, 0.72), Vec2(0.47, 0.8), Vec2(0.2, 0.8), Vec2(-0.1, 0.54)])
            solid(Geo.stroke([Vec2(-0.43, 0.46), Vec2(-0.1, 0.54), Vec2(0.2, 0.79), Vec2(0.47, 0.8)], width: 0.025), main * 0.3, shadow: true)
            solid([Vec2(-0.43, 0.46), Vec2(-0.33, 0.48), Vec2(-0.36, 0.9), Vec2(-0.39, 0.9)], main * 0.5 + RGBf(repeating: 20), shadow: true)
            if p.trimColour != nil { solid(Geo.stroke([Vec2(-0.43, 0.31), Vec2(-0.32, 0.34), Vec2(-0.08, 0.5), Vec2(0.14, 0.62)], width: 0.02), trim) }
        default:  // sandals
            solid(Geo.stroke([Vec2(-0.45, 0.72), Vec2(0.47, 0.72)], width: 0.05), edge, shadow: true)
            solid(Geo.rect(-0.44, 0.72, -0.3, 0.8), edge * 0.8, shadow: true)
            for (a, c, bb) in [(Vec2(-0.35, 0.7), Vec2(-0.4, 0.35), Vec2(-0.2, 0.7)), (Vec2(-0.05, 0.7), Vec2(0.05, 0.4), Vec2(0.18, 0.7)),
                              (Vec2(0.2, 0.7), Vec2(0.3, 0.5), Vec2(0.42, 0.7))] {
                fabric(Geo.stroke(Geo.curve(a, c, bb), width: 0.05))
            }
            if p.trimColour != nil { solid(Geo.ellipse(-0.3, 0.53, 0.025, 0.025, segments: 10), hardware) }
        }
    }

    mutating func drawBag(pose: PoseKind) {
        let p = product, sub = p.subcategory
        let side = pose == .side, kx: Float = side ? 0.35 : 1
        focus = Vec2(0, 0.5)
        switch sub {
        case .tote:
            solid(Geo.scaleX(Geo.stroke(Geo.curve(Vec2(-0.2, 0.37), Vec2(0, -0.15), Vec2(0.2, 0.37)), width: 0.04), kx), trim * 0.8, textured: true, shadow: true)
            fabric(Geo.scaleX([Vec2(-0.36, 0.35), Vec2(0.36, 0.35), Vec2(0.42, 0.95), Vec2(-0.42, 0.95)], kx))
            if !side { solid(Geo.stroke(Geo.curve(Vec2(-0.24, 0.37), Vec2(0, -0.08), Vec2(0.24, 0.37)), width: 0.04), trim, textured: true, shadow: true) }
            solid(Geo.scaleX(Geo.rect(-0.36, 0.35, 0.36, 0.39), kx), trim, textured: true)
            focus = Vec2(0, 0.45)
        case .backpack:
            if !side { for s: Float in [-1, 1] { solid(Geo.stroke([Vec2(s * 0.25, 0.2), Vec2(s * 0.36, 0.55), Vec2(s * 0.33, 0.9)], width: 0.06), main * 0.7, shadow: true) } }
            fabric(Geo.scaleX(Geo.roundedRect(-0.3, 0.12, 0.3, 0.95, r: 0.14), kx))
            solid(Geo.scaleX(Geo.stroke(Geo.curve(Vec2(-0.07, 0.14), Vec2(0, 0.0), Vec2(0.07, 0.14)), width: 0.025), kx), trim)
            if !side { seam(Geo.curve(Vec2(-0.25, 0.35), Vec2(0, 0.12), Vec2(0.25, 0.35)), width: 0.012, k: 0.6) }
        case .clutch:
            fabric(Geo.scaleX(Geo.roundedRect(-0.46, 0.36, 0.46, 0.66, r: 0.035), kx))
            focus = Vec2(0, 0.5)
        default:  // crossbody
            if !side { solid(Geo.stroke(Geo.curve(Vec2(-0.23, 0.48), Vec2(0, -0.55), Vec2(0.23, 0.48)), width: 0.018), trim * 0.85, shadow: true) }
            fabric(Geo.scaleX(Geo.roundedRect(-0.25, 0.45, 0.25, 0.86, r: 0.05), kx))
            focus = Vec2(0, 0.6)
        }
        if side {
            if p.sidePocket { let pk = Geo.rect(-0.09, 0.55, 0.09, 0.8); fabric(pk, shadow: false); outline(pk, width: 0.01, k: 0.6) }
            return
        }
        guard pose != .back else { seam([Vec2(-0.2, 0.6), Vec2(0.2, 0.6)], width: 0.008, k: 0.8); return }
        // Front: closure, pocket, logo plaque.
        let top: Float = sub == .clutch ? 0.36 : (sub == .crossbody ? 0.45 : (sub == .tote ? 0.4 : 0.14))
        if p.closure == .flap {
            let bottom: Float = sub == .clutch ? 0.56 : 0.7
            let flap = [Vec2(-0.47, top), Vec2(0.47, top), Vec2(0.47, top + 0.06), Vec2(0, bottom), Vec2(-0.47, top + 0.06)]
            let clipped = sub == .clutch ? flap : flap.map { Vec2($0.x * 0.535, $0.y) }
            fabric(clipped, shadow: false); outline(clipped, width: 0.008, k: 0.6)
            solid(Geo.ellipse(0, bottom - 0.04, 0.025, 0.025, segments: 12), RGBf(214, 182, 92))
        } else if p.closure == .zip {
            zip(x: 0, from: top + 0.005, to: top + 0.02)
            solid(Geo.rect(sub == .backpack ? -0.22 : -0.3, top + 0.03, sub == .backpack ? 0.22 : 0.3, top + 0.045), hardware)
        }
        if p.pockets == .patch {
            let pk = sub == .backpack ? Geo.roundedRect(-0.2, 0.55, 0.2, 0.88, r: 0.06) : Geo.rect(-0.15, top + 0.2, 0.15, top + 0.38)
            fabric(pk, shadow: false); outline(pk, width: 0.01, k: 0.65)
        }
        if p.logo == .chestLogo { solid(Geo.roundedRect(-0.06, 0.5, 0.06, 0.54, r: 0.01), RGBf(214, 182, 92)) }
    }
}
