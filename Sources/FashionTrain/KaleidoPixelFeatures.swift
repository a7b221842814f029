// A stand-in Kaleido patch feature source for tests and for runs without the feature cache: each of the 55
// kaleido cells of the whole image (no foreground box) is average-pooled to a g×g grid of RGB values, D = 3·g²
// (48 for g = 4), normalised as (x/255 − 0.5)/0.25. K1 rotated = the pooled K1 grid rotated by 90°/180°/270°
// (= pooling the rotated image when g divides the side); grey K4 = the cell's luma (0.299 R + 0.587 G + 0.114 B)
// in all three channels. No alignments (AGM falls back to random masks). NOT the paper's ResNet / the issue's
// EfficientNet-Lite0 features: results on it are labelled "pixel-grid features".
import FashionData
import Foundation

public final class KaleidoPixelFeatures: KaleidoInputSource, @unchecked Sendable {
    public let file: FashionGenFile
    public let grid: Int
    public var featureDim: Int { 3 * grid * grid }
    public let alignedTextField: String
    public let alignedTextLength: Int
    private let lock = NSLock()
    private var cache: [Int: KaleidoPatchSet] = [:]

    /// The source name recorded in run configs.
    public static let name = "pixel-grid"

    public init(file: FashionGenFile, grid: Int = 4, textField: String = "title", textLength: Int = 64) throws {
        guard grid >= 1, file.imageSize >= 5 * grid else {
            throw TrainError.badArgument("\(file.path): pixel-grid Kaleido features need images of at least \(5 * grid) px (5 × 5 cells of \(grid) × \(grid)), got \(file.imageSize)")
        }
        self.file = file
        self.grid = grid
        alignedTextField = textField
        alignedTextLength = textLength
    }

    public func alignments(row: Int) throws -> [KaleidoAlignment] { [] }

    public func patches(row: Int) throws -> KaleidoPatchSet {
        lock.lock()
        if let hit = cache[row] { lock.unlock(); return hit }
        lock.unlock()
        let set = try compute(row: row)
        lock.lock(); cache[row] = set; lock.unlock()
        return set
    }

    private func compute(row: Int) throws -> KaleidoPatchSet {
        let s = file.imageSize, g = grid
        let pixels = try file.image(row)   // S × S × 3, row-major
        /// g×g×3 mean values (channel-major: c, y, x) of the pixel box [x0, x1) × [y0, y1).
        func pooled(_ x0: Int, _ x1: Int, _ y0: Int, _ y1: Int) -> [Float] {
            var out = [Float](repeating: 0, count: 3 * g * g)
            for gy in 0..<g {
                let (ya, yb) = (y0 + (y1 - y0) * gy / g, y0 + (y1 - y0) * (gy + 1) / g)
                for gx in 0..<g {
                    let (xa, xb) = (x0 + (x1 - x0) * gx / g, x0 + (x1 - x0) * (gx + 1) / g)
                    var sum: (Float, Float, Float) = (0, 0, 0)
                    for y in ya..<max(yb, ya + 1) {
                        for x in xa..<max(xb, xa + 1) {
                            let i = (y * s + x) * 3
                            sum.0 += Float(pixels[i]); sum.1 += Float(pixels[i + 1]); sum.2 += Float(pixels[i + 2])
                        }
                    }
                    let n = Float(max(yb - ya, 1) * max(xb - xa, 1))
                    for (c, v) in [sum.0, sum.1, sum.2].enumerated() { out[(c * g + gy) * g + gx] = (v / n / 255 - 0.5) / 0.25 }
                }
            }
            return out
        }
        var colour: [Float] = [], positions: [Float] = [], grey: [Float] = []
        for k in 1...5 {
            for r in 0..<k {
                for c in 0..<k {
                    let (x0, x1, y0, y1) = (s * c / k, s * (c + 1) / k, s * r / k, s * (r + 1) / k)
                    let f = pooled(x0, x1, y0, y1)
                    colour += f
                    let n = Float(s)
                    let (a, b, u, v) = (Float(x0) / n, Float(x1) / n, Float(y0) / n, Float(y1) / n)
                    positions += [a, b, u, v, (b - a) * (v - u)]
                    if k == 4 {
                        let plane = g * g
                        let luma = (0..<plane).map { 0.299 * f[$0] + 0.587 * f[plane + $0] + 0.114 * f[2 * plane + $0] }
                        grey += luma + luma + luma
                    }
                }
            }
        }
        // K1 rotated counter-clockwise by 90°, 180°, 270°: out(y, x) = in(x, g − 1 − y) per step.
        var rotated: [Float] = []
        var current = Array(colour[0..<(3 * g * g)])
        for _ in 1...3 {
            var next = current
            for ch in 0..<3 {
                for y in 0..<g { for x in 0..<g { next[(ch * g + y) * g + x] = current[(ch * g + x) * g + (g - 1 - y)] } }
            }
            rotated += next
            current = next
        }
        return KaleidoPatchSet(dim: featureDim, colour: colour, rotated: rotated, grey: grey, positions: positions)
    }
}
