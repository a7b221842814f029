// RGB bytes (row-major, 3 per pixel) → planar floats (3 × S × S) in [0,1], resized with a bilinear (triangle)
// filter that widens when shrinking, as PIL's `Image.resize(BILINEAR)` does (computed in float, without
// PIL's intermediate rounding to 8 bits). The source may be a box of the image (MVLT's product crop).

public struct ImageResampler: Sendable {
    /// Per output pixel: first input pixel and `width` weights (zero-padded), flattened for the inner loops.
    struct Taps: Sendable {
        var start: [Int]
        var width: Int
        var weights: [Float]
    }

    public let inputSize: Int
    public let outputSize: Int
    private let taps: Taps?  // nil when no resize is needed

    public init(inputSize: Int, outputSize: Int) {
        self.inputSize = inputSize
        self.outputSize = outputSize
        taps = inputSize == outputSize ? nil : Self.coefficients(input: inputSize, output: outputSize)
    }

    /// PIL's `precompute_coeffs` for the bilinear filter: for each output pixel, first input pixel and weights.
    static func coefficients(input: Int, output: Int) -> Taps {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = filterScale
        let rows: [(Int, [Float])] = (0..<output).map { o in
            let center = (Double(o) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), input)
            var w = (lo..<hi).map { x in max(0, 1 - abs((Double(x) - center + 0.5) / filterScale)) }
            let total = w.reduce(0, +)
            if total > 0 { w = w.map { $0 / total } }
            return (lo, w.map(Float.init))
        }
        let width = rows.map(\.1.count).max() ?? 0
        var taps = Taps(start: [], width: width, weights: [])
        for (lo, w) in rows {  // shift windows that would run past the end left, keeping weights aligned
            let start = max(0, min(lo, input - width))
            var padded = [Float](repeating: 0, count: width)
            for (k, v) in w.enumerated() { padded[lo - start + k] = v }
            taps.start.append(start)
            taps.weights += padded
        }
        return taps
    }

    /// Writes 3 · S · S floats to `out` from the `inputSize² · 3` bytes at `src`, or from the `box` of them.
    public func convert(_ src: UnsafePointer<UInt8>, box: ProductCrop.Box? = nil, into out: UnsafeMutablePointer<Float>) {
        var scratch: [Float] = []
        convert(src, box: box, into: out, scratch: &scratch)
    }

    /// As `convert(_:box:into:)`, reusing `scratch` for the intermediate rows (grown when needed).
    public func convert(_ src: UnsafePointer<UInt8>, box: ProductCrop.Box?, into out: UnsafeMutablePointer<Float>,
                        scratch: inout [Float]) {
        let s = outputSize, plane = s * s
        let whole = ProductCrop.Box(x: 0, y: 0, width: inputSize, height: inputSize)
        if box != nil || taps != nil, scratch.count < (box ?? whole).height * s * 3 {
            scratch = [Float](repeating: 0, count: (box ?? whole).height * s * 3)
        }
        if let box {
            scratch.withUnsafeMutableBufferPointer { tmp in
                Self.resample(src, stride: inputSize, box: box, xTaps: Self.coefficients(input: box.width, output: s),
                              yTaps: Self.coefficients(input: box.height, output: s), size: s, tmp: tmp.baseAddress!, into: out)
            }
        } else if let taps {
            scratch.withUnsafeMutableBufferPointer { tmp in
                Self.resample(src, stride: inputSize, box: whole, xTaps: taps, yTaps: taps, size: s, tmp: tmp.baseAddress!, into: out)
            }
        } else {
            let inv: Float = 1 / 255
            for i in 0..<plane {
                out[i] = Float(src[3 * i]) * inv
                out[plane + i] = Float(src[3 * i + 1]) * inv
                out[2 * plane + i] = Float(src[3 * i + 2]) * inv
            }
        }
    }

    /// Horizontal pass over the box's rows into `tmp` (box.height × S × 3), then vertical pass into the planes.
    private static func resample(_ src: UnsafePointer<UInt8>, stride: Int, box: ProductCrop.Box, xTaps: Taps,
                                 yTaps: Taps, size s: Int, tmp: UnsafeMutablePointer<Float>,
                                 into out: UnsafeMutablePointer<Float>) {
        let plane = s * s, inv: Float = 1 / 255
        xTaps.start.withUnsafeBufferPointer { xs in xTaps.weights.withUnsafeBufferPointer { xw in
            let kw = xTaps.width
            for y in 0..<box.height {
                let line = src + ((box.y + y) * stride + box.x) * 3
                var t = tmp + y * s * 3
                for x in 0..<s {
                    var p = line + xs[x] * 3
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    for k in 0..<kw {
                        let w = xw[x * kw + k]
                        r += w * Float(p[0]); g += w * Float(p[1]); b += w * Float(p[2])
                        p += 3
                    }
                    t[0] = r; t[1] = g; t[2] = b
                    t += 3
                }
            }
        } }
        yTaps.start.withUnsafeBufferPointer { ys in yTaps.weights.withUnsafeBufferPointer { yw in
            let kh = yTaps.width
            for y in 0..<s {
                let rowOut = out + y * s
                for x in 0..<s {
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    var t = tmp + (ys[y] * s + x) * 3
                    for k in 0..<kh {
                        let w = yw[y * kh + k]
                        r += w * t[0]; g += w * t[1]; b += w * t[2]
                        t += s * 3
                    }
                    rowOut[x] = min(max(r * inv, 0), 1)
                    rowOut[plane + x] = min(max(g * inv, 0), 1)
                    rowOut[2 * plane + x] = min(max(b * inv, 0), 1)
                }
            }
        } }
    }
}
