// An 8-bit RGB image, row-major, interleaved (`height × width × 3` bytes): the pixel layout of Fashion-Gen's
// `input_image` rows.

public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `height * width * 3` bytes, row by row, R G B per pixel.
    public var pixels: [UInt8]

    /// Wraps existing pixels; the byte count must be `width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, pixels.count == width * height * 3 else {
            throw ImageError.invalidArgument(
                operation: "RGBImage",
                reason: "expected \(width)x\(height)x3 = \(max(0, width * height * 3)) bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A `width × height` image filled with one colour (white by default).
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        self.width = max(1, width)
        self.height = max(1, height)
        var p = [UInt8](repeating: 0, count: self.width * self.height * 3)
        for i in stride(from: 0, to: p.count, by: 3) {
            p[i] = fill.0; p[i + 1] = fill.1; p[i + 2] = fill.2
        }
        self.pixels = p
    }

    /// The channel `c` (0 = R, 1 = G, 2 = B) of pixel (x, y).
    @inlinable public func value(x: Int, y: Int, channel c: Int) -> UInt8 {
        pixels[(y * width + x) * 3 + c]
    }
}
