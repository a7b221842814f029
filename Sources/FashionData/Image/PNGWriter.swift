// Writes `RGBImage` as PNG with stb_image_write, to a temporary name first and then renamed, so a reader
// never sees a half-written file.

import CStb
import Foundation

extension RGBImage {
    /// Encodes as PNG bytes.
    public func pngData() throws -> Data {
        final class Sink { var data = Data() }
        let sink = Sink()
        let ok = withExtendedLifetime(sink) { () -> Int32 in
            let context = Unmanaged.passUnretained(sink).toOpaque()
            return pixels.withUnsafeBufferPointer { buf -> Int32 in
                guard let base = buf.baseAddress else { return 0 }
                return stbi_write_png_to_func({ ctx, bytes, size in
                    guard let ctx, let bytes, size > 0 else { return }
                    Unmanaged<Sink>.fromOpaque(ctx).takeUnretainedValue().data.append(
                        bytes.assumingMemoryBound(to: UInt8.self), count: Int(size))
                }, context, Int32(width), Int32(height), 3, base, Int32(width * 3))
            }
        }
        guard ok != 0, !sink.data.isEmpty else {
            throw ImageError.writeFailed(file: "<memory>", reason: "PNG encoder failed for \(width)x\(height)")
        }
        return sink.data
    }

    /// Writes a PNG file atomically.
    public func writePNG(to path: String) throws {
        let data: Data
        do { data = try pngData() } catch { throw ImageError.writeFailed(file: path, reason: "PNG encoder failed") }
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ImageError.writeFailed(file: path, reason: ImageDecoder.reason(of: error))
        }
    }
}
