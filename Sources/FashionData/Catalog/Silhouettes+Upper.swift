// Silhouettes of TOPS, SHIRTS, JACKETS & COATS and DRESSES: a torso with sleeves, a neckline or collar,
// closures, pockets, logos and trims; back and side poses show what the front cannot.

extension Drawing {
    /// Body proportions for one upper-body garment.
    struct Upper {
        var shoulder: Float = 0.25, chest: Float = 0.22, waist: Float = 0.21, hem: Float = 0.22
        var length: Float = 0.8, neck: Float = 0.075, waistY: Float = 0.52
    }

    mutating func drawUpper(pose: PoseKind) {
        let p = product, sub = p.subcategory
        let lengthScale: Float = p.length == .cropped ? 0.86 : (p.length == .long ? 1.12 : 1)
        var b = Upper()
        switch sub {
        case .tshirt, .polo: b.length = 0.74
        case .tankTop: b.shoulder = 0.16; b.chest = 0.2; b.waist = 0.19; b.hem = 0.21; b.length = 0.76
        case .sweater, .hoodie: b.length = 0.76; b.hem = 0.2
        case .buttonDown: b.length = 0.84
        case .blazer: b.shoulder = 0.27; b.waist = 0.2; b.hem = 0.23; b.length = 0.86
        case .parka: b.shoulder = 0.28; b.chest = 0.25; b.waist = 0.25; b.hem = 0.28; b.length = 1.0
        case .bomber: b.shoulder = 0.28; b.chest = 0.26; b.waist = 0.26; b.hem = 0.22; b.length = 0.66
        case .shiftDress: b.shoulder = 0.2; b.waist = 0.19; b.hem = 0.26; b.length = 1.05; b.waistY = 0.45
        case .wrapDress: b.shoulder = 0.2; b.waist = 0.15; b.hem = 0.36; b.length = 1.1; b.waistY = 0.4
        case .maxiDress: b.shoulder = 0.15; b.chest = 0.19; b.waist = 0.15; b.hem = 0.4; b.length = 1.45; b.waistY = 0.38
        default: break
        }
        b.length *= lengthScale
        let f = fitRatio
        b.shoulder *= f; b.chest *= f; b.waist *= f; b.hem *= f
        let side = pose == .side
        let kx: Float = side ? 0.55 : 1
        let L = b.length

        // Hood behind the torso.
        if p.neckline == .hood && !side {
            fabric(Geo.ellipse(0, pose == .back ? 0.1 : 0.02, 0.14, pose == .back ? 0.16 : 0.1))
            if sub == .parka { solid(Geo.stroke(Geo.curve(Vec2(-0.14, 0.04), Vec2(0, -0.14), Vec2(0.14, 0.04)), width: 0.04), RGBf(214, 200, 176), textured: true) }
        }

        // Sleeves (behind the torso).
        let S = Vec2(-b.shoulder, 0.1), A = Vec2(-b.chest, 0.3)
        var cuffs: [[Vec2]] = []
        switch p.sleeve {
        case .none: break
        case .short:
            let o = S + Vec2(-0.15, 0.15), i = A + Vec2(-0.09, 0.06)
            let sleeve = [S, o, i, A]
            for s in side ? [sleeve] : [sleeve, Geo.flipX(sleeve)] { fabric(Geo.scaleX(s, kx)) }
            cuffs.append([o, i])
        case .long:
            let o = S + Vec2(-0.2, 0.62), i = o + Vec2(0.1, 0.03)
            let sleeve = [S, Vec2(S.x - 0.1, 0.35), o, i, Vec2(A.x - 0.04, 0.4), A]
            for s in side ? [Geo.translate(sleeve, 0.12, 0)] : [sleeve, Geo.flipX(sleeve)] { fabric(Geo.scaleX(s, kx)) }
            cuffs.append([o, i])
        }

        // Torso: neck, shoulder, armpit, waist, hem; dresses flare from the waist.
        var left: [Vec2] = [Vec2(-b.neck, 0.05), S, A, Vec2(-b.waist, b.waistY)]
        if p.category == .dresses { left.append(Vec2(-(b.waist + b.hem) / 2, b.waistY + (L - b.waistY) * 0.45)) }
        left.append(Vec2(-b.hem, L))
        if sub == .tankTop || p.neckline == .strap { left[1] = Vec2(-b.neck - 0.03, 0.02); left[2] = Vec2(-b.chest, 0.22) }
        fabric(Geo.scaleX(Geo.mirrored(left), kx))
        if sub == .parka, p.texture != .quilted, !side { seam([Vec2(-b.waist * kx, b.waistY), Vec2(b.waist * kx, b.waistY)], width: 0.012, k: 0.85) }

        // Trims: cuffs, hem band.
        let trimTextured = p.texture == .knit || sub == .bomber || sub == .sweater || sub == .hoodie
        let bandH: Float = sub == .bomber || sub == .sweater || sub == .hoodie ? 0.05 : 0.025
        if p.trimColour != nil || sub == .bomber || sub == .sweater || sub == .hoodie {
            let bands = side ? Array(cuffs.prefix(1)).map { $0.map { Vec2(($0.x + 0.12) * kx, $0.y) } } : cuffs + cuffs.map(Geo.flipX)
            if p.sleeve != .short || p.trimColour != nil {
                for c in bands { solid(Geo.stroke(c, width: 0.05), trim, textured: trimTextured) }
            }
            if p.category != .dresses || p.trimColour != nil {
                solid(Geo.scaleX([Vec2(-b.hem, L - bandH), Vec2(b.hem, L - bandH), Vec2(b.hem, L), Vec2(-b.hem, L)], kx), trim, textured: trimTextured)
            }
        }
        if side { drawUpperSide(b, kx: kx); return }
        if pose == .back { drawUpperBack(b); return }
        drawUpperFront(b)
    }

    private mutating func drawUpperFront(_ b: Upper) {
        let p = product, sub = p.subcategory, L = b.length, n = b.neck
        // Neckline.
        switch p.neckline {
        case .crew, .scoop:
            let depth: Float = p.neckline == .crew ? 0.05 : 0.11
            let arc = Geo.curve(Vec2(-n, 0.05), Vec2(0, 0.05 + depth * 2), Vec2(n, 0.05))
            solid(arc + [Vec2(n, 0.035), Vec2(-n, 0.035)], interior)
            solid(Geo.stroke(arc, width: 0.022), trim, textured: true)
        case .vNeck:
            solid([Vec2(-n, 0.05), Vec2(0, 0.2), Vec2(n, 0.05), Vec2(n, 0.035), Vec2(-n, 0.035)], interior)
            solid(Geo.stroke([Vec2(-n, 0.05), Vec2(0, 0.2), Vec2(n, 0.05)], width: 0.022), trim, textured: true)
        case .turtle:
            solid(Geo.rect(-n * 1.05, -0.05, n * 1.05, 0.075), trim, textured: true)
            seam([Vec2(-n * 1.05, 0.0), Vec2(n * 1.05, 0.0)], width: 0.006, k: 0.8)
        case .strap:
            solid(Geo.curve(Vec2(-n, 0.05), Vec2(0, 0.2), Vec2(n, 0.05)) + [Vec2(n, 0.035), Vec2(-n, 0.035)], interior)
            for s: Float in [-1, 1] { solid(Geo.stroke([Vec2(s * (n + 0.02), 0.06), Vec2(s * (n + 0.015), -0.12)], width: 0.02), trim) }
        case .hood:
            solid(Geo.ellipse(0, 0.065, 0.075, 0.05), interior)
            if p.closure != .zip {
                for s: Float in [-1, 1] { solid(Geo.stroke([Vec2(s * 0.035, 0.1), Vec2(s * 0.04, 0.3)], width: 0.012), trim) }
            }
        case .collar:
            solid(Geo.ellipse(0, 0.055, n, 0.03), interior)
            for s: Float in [-1, 1] {
                solid([Vec2(s * (n + 0.01), 0.035), Vec2(s * 0.005, 0.085), Vec2(s * 0.085, 0.16), Vec2(s * (n + 0.03), 0.09)], trim, textured: true)
                outline([Vec2(s * (n + 0.01), 0.035), Vec2(s * 0.005, 0.085), Vec2(s * 0.085, 0.16), Vec2(s * (n + 0.03), 0.09)], width: 0.006)
            }
        case .lapel:
            solid([Vec2(-n, 0.04), Vec2(n, 0.04), Vec2(0, 0.36)], RGBf(238, 236, 230))
            for s: Float in [-1, 1] {
                let lapel = [Vec2(s * n, 0.04), Vec2(s * 0.005, 0.36), Vec2(s * 0.13, 0.2), Vec2(s * 0.1, 0.14), Vec2(s * 0.13, 0.12), Vec2(s * (n + 0.02), 0.05)]
                fabric(lapel, shadow: false)
                outline(lapel, width: 0.006, k: 0.7)
            }
            seam([Vec2(0, 0.36), Vec2(0.02, L)], width: 0.006, k: 0.7)
        case .none: break
        }
        if sub == .wrapDress {
            seam(Geo.curve(Vec2(n, 0.05), Vec2(-0.02, 0.3), Vec2(-b.waist, b.waistY)), width: 0.01, k: 0.7)
            solid(Geo.rect(-b.waist - 0.01, b.waistY - 0.025, b.waist + 0.01, b.waistY + 0.015), trim, textured: true)
            for dx: Float in [0.02, 0.07] { solid(Geo.stroke([Vec2(-b.waist + 0.02, b.waistY), Vec2(-b.waist + dx, b.waistY + 0.22)], width: 0.025), trim, textured: true) }
        }
        if sub == .maxiDress { for t: Float in [0.62, 0.9] { seam([Vec2(-b.hem * (t + 0.1), b.waistY + (L - b.waistY) * t * 0.8), Vec2(b.hem * (t + 0.1), b.waistY + (L - b.waistY) * t * 0.8)], width: 0.01, k: 0.82) } }

        // Closures.
        switch p.closure {
        case .buttons:
            let top: Float = sub == .blazer ? 0.4 : (p.neckline == .collar ? 0.1 : 0.12)
            let bottom: Float = sub == .polo ? 0.27 : (sub == .blazer ? 0.4 + Float(p.buttons - 1) * 0.1 : L - 0.07)
            if sub != .blazer { seam([Vec2(0.02, 0.06), Vec2(0.02, sub == .polo ? 0.3 : L)], width: 0.005, k: 0.8) }
            buttons(p.buttons, x: sub == .blazer ? 0.03 : 0, from: top, to: bottom)
        case .zip where p.category != .dresses:
            zip(x: 0, from: p.neckline == .hood ? 0.1 : 0.045, to: L - 0.01)
        default: break
        }

        // Pockets.
        switch p.pockets {
        case .chest:
            let pk = Geo.rect(0.07, 0.2, 0.16, 0.31)
            fabric(pk, shadow: false); outline(pk)
        case .patch:
            for s: Float in [-1, 1] { let pk = Geo.rect(s * 0.06, L * 0.62, s * 0.17, L * 0.8); fabric(pk, shadow: false); outline(pk) }
        case .flap:
            for s: Float in [-1, 1] {
                let flap = Geo.rect(s * 0.07, L * 0.62, s * 0.19, L * 0.68)
                fabric(flap, shadow: false); outline(flap, k: 0.65)
            }
        case .kangaroo:
            let pk = [Vec2(-0.12, L * 0.62), Vec2(0.12, L * 0.62), Vec2(0.17, L * 0.9), Vec2(-0.17, L * 0.9)]
            fabric(pk, shadow: false); outline(pk, width: 0.01)
        case .none: break
        }
        switch p.logo {
        case .chestLogo: logo(x: p.closure == .zip || p.closure == .buttons ? -0.12 : 0.11, y: 0.22); focus = Vec2(0, 0.22)
        case .graphic: graphic(x: 0, y: min(0.4, L * 0.45), r: 0.1); focus = Vec2(0, 0.38)
        case .none: focus = Vec2(0.05, 0.2)
        }
    }

    private mutating func drawUpperBack(_ b: Upper) {
        let p = product
        if p.neckline != .hood && p.neckline != .turtle && p.neckline != .strap {
            solid(Geo.stroke(Geo.curve(Vec2(-b.neck, 0.05), Vec2(0, 0.075), Vec2(b.neck, 0.05)), width: 0.022), trim, textured: true)
        }
        if p.neckline == .collar || p.neckline == .lapel { solid(Geo.rect(-b.neck - 0.02, 0.03, b.neck + 0.02, 0.07), trim, textured: true) }
        seam([Vec2(-b.shoulder * 0.8, 0.12), Vec2(b.shoulder * 0.8, 0.12)], width: 0.006, k: 0.85)
        if p.subcategory == .shiftDress { zip(x: 0, from: 0.06, to: b.waistY + 0.08) }
        if p.backPrint { graphic(x: 0, y: 0.38, r: 0.15) }
    }

    private mutating func drawUpperSide(_ b: Upper, kx: Float) {
        seam([Vec2(0.0, 0.2), Vec2(0.0, b.length)], width: 0.007, k: 0.8)
        if product.sidePocket {
            let pk = Geo.rect(-0.07, b.length * 0.6, 0.05, b.length * 0.75)
            fabric(pk, shadow: false); outline(pk, width: 0.01, k: 0.65)
        }
    }
}
