// MVLT's crop to the product (spec mvlt.md §3): the image is converted to 1 bit as PIL's `convert('1')` does
// (luma R·299 + G·587 + B·114 truncated to /1000, Floyd–Steinberg error diffusion, white when > 128), and cropped
// to the box of its black pixels, PIL style: (xmin, ymin, xmax, ymax) with right/bottom exclusive, so the last
// black row and column are dropped.

public enum ProductCrop {
    public struct Box: Sendable, Equatable {
        public var x: Int, y: Int, width: Int, height: Int
        public init(x: Int, y: Int, width: Int, height: Int) {
            self.x = x; self.y = y; self.width = width; self.height = height
        }
    }

    /// The 1-bit image of `size × size` RGB bytes (row-major, 1 = black), exactly as PIL's `tobilevel`.
    public static func blackPixels(_ rgb: UnsafePointer<UInt8>, size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size * size)
        out.withUnsafeMutableBufferPointer { _ = scan(rgb, size: size, bits: $0.baseAddress) }
        return out
    }

    /// The crop box of the black pixels, or nil when it is empty (a blank image, or black pixels in one row or
    /// column only), in which case the whole image is used.
    public static func box(_ rgb: UnsafePointer<UInt8>, size: Int) -> Box? {
        let (x0, y0, x1, y1) = scan(rgb, size: size, bits: nil)
        guard x1 > x0, y1 > y0 else { return nil }
        return Box(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// Dithers to 1 bit (writing the bits when asked) and returns the inclusive bounds of the black pixels
    /// (x0 > x1 when there are none).
    private static func scan(_ rgb: UnsafePointer<UInt8>, size: Int, bits: UnsafeMutablePointer<UInt8>?)
        -> (Int, Int, Int, Int) {
        var x0 = size, y0 = size, x1 = -1, y1 = -1
        let errors = UnsafeMutablePointer<Int>.allocate(capacity: size + 1)
        defer { errors.deallocate() }
        errors.initialize(repeating: 0, count: size + 1)
        for y in 0..<size {
            var l = 0, l0 = 0, l1 = 0
            var p = rgb + y * size * 3
            for x in 0..<size {
                if l == 0, l0 == 0, l1 == 0, errors[x + 1] == 0, p[0] == 255, p[1] == 255, p[2] == 255 {
                    errors[x] = 0  // white with no error to carry: the state stays all zero
                    p += 3
                    continue
                }
                let luma = (Int(p[0]) * 299 + Int(p[1]) * 587 + Int(p[2]) * 114) / 1000
                p += 3
                l = min(max(luma + (l + errors[x + 1]) / 16, 0), 255)
                if l > 128 {
                    l -= 255
                } else {
                    bits?[y * size + x] = 1
                    if x < x0 { x0 = x }
                    if x > x1 { x1 = x }
                    if y < y0 { y0 = y }
                    y1 = y
                }
                let l2 = l, d2 = l + l
                l += d2
                errors[x] = l + l0
                l += d2
                l0 = l + l1
                l1 = l2
                l += d2
            }
            errors[size] = l0
        }
        return (x0, y0, x1, y1)
    }
}
