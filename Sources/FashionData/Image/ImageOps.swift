// Pixel operations on `RGBImage`: bilinear and area resize, pad to square, horizontal flip, and
// normalisation into a CHW `[Float]` tensor buffer. All are pure functions of the input.

public enum ResizeFilter: String, Sendable, CaseIterable {
    /// Half-pixel-centre bilinear interpolation (as PyTorch `align_corners=False`, no antialias).
    case bilinear
    /// Box average over the source area each output pixel covers (as OpenCV `INTER_AREA`).
    case area
}

extension RGBImage {
    /// Resizes to `width × height` with the given filter.
    public func resized(width ow: Int, height oh: Int, filter: ResizeFilter = .area) throws -> RGBImage {
        guard ow > 0, oh > 0, ow <= 16_384, oh <= 16_384 else {
            throw ImageError.invalidArgument(operation: "resize", reason: "target \(ow)x\(oh) must be 1...16384 a side")
        }
        if ow == width && oh == height { return self }
        switch filter {
        case .bilinear: return bilinear(ow, oh)
        case .area: return area(ow, oh)
        }
    }

    private func bilinear(_ ow: Int, _ oh: Int) -> RGBImage {
        let sx = Double(width) / Double(ow), sy = Double(height) / Double(oh)
        // Precompute per-column source indices and weights.
        var x0 = [Int](repeating: 0, count: ow), x1 = x0, fx = [Double](repeating: 0, count: ow)
        for x in 0..<ow {
            let s = max(0, (Double(x) + 0.5) * sx - 0.5)
            let i = min(Int(s), width - 1)
            x0[x] = i; x1[x] = min(i + 1, width - 1); fx[x] = s - Double(i)
        }
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        for y in 0..<oh {
            let s = max(0, (Double(y) + 0.5) * sy - 0.5)
            let j0 = min(Int(s), height - 1), j1 = min(j0 + 1, height - 1), fy = s - Double(j0)
            for x in 0..<ow {
                for c in 0..<3 {
                    let a = Double(pixels[(j0 * width + x0[x]) * 3 + c]), b = Double(pixels[(j0 * width + x1[x]) * 3 + c])
                    let d = Double(pixels[(j1 * width + x0[x]) * 3 + c]), e = Double(pixels[(j1 * width + x1[x]) * 3 + c])
                    let top = a + (b - a) * fx[x], bottom = d + (e - d) * fx[x]
                    out[(y * ow + x) * 3 + c] = Self.clampByte(top + (bottom - top) * fy)
                }
            }
        }
        return RGBImage(uncheckedWidth: ow, height: oh, pixels: out)
    }

    /// Overlap weights of the source cells [i, i+1) with the output cell [o·s, (o+1)·s).
    private static func areaWeights(source: Int, target: Int) -> [[(Int, Double)]] {
        let scale = Double(source) / Double(target)
        return (0..<target).map { o in
            let lo = Double(o) * scale, hi = Double(o + 1) * scale
            var ws: [(Int, Double)] = []
            var i = Int(lo)
            while i < source && Double(i) < hi {
                let w = min(hi, Double(i + 1)) - max(lo, Double(i))
                if w > 1e-12 { ws.append((i, w / scale)) }
                i += 1
            }
            return ws
        }
    }

    private func area(_ ow: Int, _ oh: Int) -> RGBImage {
        let wx = Self.areaWeights(source: width, target: ow), wy = Self.areaWeights(source: height, target: oh)
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        var acc = [Double](repeating: 0, count: 3)
        for y in 0..<oh {
            for x in 0..<ow {
                acc[0] = 0; acc[1] = 0; acc[2] = 0
                for (j, wj) in wy[y] {
                    for (i, wi) in wx[x] {
                        let w = wj * wi, p = (j * width + i) * 3
                        acc[0] += w * Double(pixels[p]); acc[1] += w * Double(pixels[p + 1]); acc[2] += w * Double(pixels[p + 2])
                    }
                }
                for c in 0..<3 { out[(y * ow + x) * 3 + c] = Self.clampByte(acc[c]) }
            }
        }
        return RGBImage(uncheckedWidth: ow, height: oh, pixels: out)
    }

    /// Pads the shorter side with `fill` (white by default) so the image is square, content centred
    /// (an odd remainder goes to the right/bottom).
    public func paddedToSquare(fill: (UInt8, UInt8, UInt8) = (255, 255, 255)) -> RGBImage {
        if width == height { return self }
        let side = max(width, height)
        var out = RGBImage(width: side, height: side, fill: fill)
        let ox = (side - width) / 2, oy = (side - height) / 2
        for y in 0..<height {
            let src = y * width * 3, dst = ((y + oy) * side + ox) * 3
            out.pixels.replaceSubrange(dst..<(dst + width * 3), with: pixels[src..<(src + width * 3)])
        }
        return out
    }

    /// Pads to square on white, then resizes to `size × size`: the import and synthetic pipeline's shape.
    public func squared(size: Int, filter: ResizeFilter = .area) throws -> RGBImage {
        try paddedToSquare().resized(width: size, height: size, filter: filter)
    }

    /// Mirrors left-right.
    public func flippedHorizontally() -> RGBImage {
        var out = pixels
        for y in 0..<height {
            for x in 0..<width {
                let s = (y * width + x) * 3, d = (y * width + (width - 1 - x)) * 3
                out[d] = pixels[s]; out[d + 1] = pixels[s + 1]; out[d + 2] = pixels[s + 2]
            }
        }
        return RGBImage(uncheckedWidth: width, height: height, pixels: out)
    }

    /// `(v / 255 − mean[c]) / std[c]` as a CHW buffer of `3 × height × width` floats.
    public func normalized(mean: [Float] = ImageNorm.imagenetMean, std: [Float] = ImageNorm.imagenetStd) throws -> [Float] {
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 != 0 && $0.isFinite }) else {
            throw ImageError.invalidArgument(operation: "normalize",
                                             reason: "expected 3 means and 3 finite non-zero stds, got \(mean) and \(std)")
        }
        let plane = width * height
        var out = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 {
                out[c * plane + i] = (Float(pixels[i * 3 + c]) / 255 - mean[c]) / std[c]
            }
        }
        return out
    }

    @inline(__always) static func clampByte(_ v: Double) -> UInt8 {
        UInt8(max(0, min(255, (v + 0.5).rounded(.down))))
    }
}

/// Common normalisation constants.
public enum ImageNorm {
    public static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imagenetStd: [Float] = [0.229, 0.224, 0.225]
    /// Maps [0, 255] to [−1, 1].
    public static let halfMean: [Float] = [0.5, 0.5, 0.5]
    public static let halfStd: [Float] = [0.5, 0.5, 0.5]
}
