// RGB bytes (S_in × S_in × 3, row-major) → planar floats (3 × S × S) in [0,1], resized with a bilinear
// (triangle) filter that widens when shrinking, as PIL's `Image.resize(BILINEAR)` does (computed in float,
// without PIL's intermediate rounding to 8 bits).

public struct ImageResampler: Sendable {
    public let inputSize: Int
    public let outputSize: Int
    private let taps: [(start: Int, weights: [Float])]

    public init(inputSize: Int, outputSize: Int) {
        self.inputSize = inputSize
        self.outputSize = outputSize
        taps = inputSize == outputSize ? [] : Self.coefficients(input: inputSize, output: outputSize)
    }

    /// PIL's `precompute_coeffs` for the bilinear filter: for each output pixel, first input pixel and weights.
    static func coefficients(input: Int, output: Int) -> [(start: Int, weights: [Float])] {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = filterScale
        return (0..<output).map { o in
            let center = (Double(o) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), input)
            var w = (lo..<hi).map { x in max(0, 1 - abs((Double(x) - center + 0.5) / filterScale)) }
            let total = w.reduce(0, +)
            if total > 0 { w = w.map { $0 / total } }
            return (lo, w.map(Float.init))
        }
    }

    /// Writes 3 · S · S floats to `out` from `inputSize² · 3` bytes at `src`.
    public func convert(_ src: UnsafePointer<UInt8>, into out: UnsafeMutablePointer<Float>) {
        let s = outputSize, plane = s * s
        let inv: Float = 1 / 255
        if taps.isEmpty {
            for i in 0..<plane {
                out[i] = Float(src[3 * i]) * inv
                out[plane + i] = Float(src[3 * i + 1]) * inv
                out[2 * plane + i] = Float(src[3 * i + 2]) * inv
            }
            return
        }
        // Horizontal pass: inputSize rows × s columns × 3 channels, then vertical pass into planes.
        let n = inputSize
        var rows = [Float](repeating: 0, count: n * s * 3)
        rows.withUnsafeMutableBufferPointer { tmp in
            for y in 0..<n {
                let line = src + y * n * 3
                for x in 0..<s {
                    let (start, w) = taps[x]
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    for k in 0..<w.count {
                        let p = line + (start + k) * 3
                        r += w[k] * Float(p[0]); g += w[k] * Float(p[1]); b += w[k] * Float(p[2])
                    }
                    let t = (y * s + x) * 3
                    tmp[t] = r; tmp[t + 1] = g; tmp[t + 2] = b
                }
            }
            for y in 0..<s {
                let (start, w) = taps[y]
                for x in 0..<s {
                    var r: Float = 0, g: Float = 0, b: Float = 0
                    for k in 0..<w.count {
                        let t = ((start + k) * s + x) * 3
                        r += w[k] * tmp[t]; g += w[k] * tmp[t + 1]; b += w[k] * tmp[t + 2]
                    }
                    let i = y * s + x
                    out[i] = min(max(r * inv, 0), 1)
                    out[plane + i] = min(max(g * inv, 0), 1)
                    out[2 * plane + i] = min(max(b * inv, 0), 1)
                }
            }
        }
    }
}
