// Decodes JPEG and PNG files with stb_image into `RGBImage`: greyscale is expanded, alpha is composited on
// white, 16-bit PNGs are reduced to 8 bits, Adobe CMYK/YCCK JPEGs are converted by stb. The header is read
// first (stbi_info) and absurd dimensions are refused before any pixel is decoded.

import CStb
import Foundation

public struct ImageDecoder: Sendable {
    /// Largest accepted side, in pixels.
    public var maxSide: Int
    /// Largest accepted pixel count (width × height).
    public var maxPixels: Int

    public init(maxSide: Int = 16_384, maxPixels: Int = 100_000_000) {
        self.maxSide = maxSide
        self.maxPixels = maxPixels
    }

    /// Reads and decodes the file at `path`.
    public func decode(file path: String) throws -> RGBImage {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw ImageError.unreadable(file: path, reason: "is a folder, expected an image file")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let missing = !FileManager.default.fileExists(atPath: path)
            throw ImageError.unreadable(file: path, reason: missing ? "no such file" : Self.reason(of: error))
        }
        return try decode(data: data, name: path)
    }

    /// Decodes encoded bytes; `name` is used in errors.
    public func decode(data: Data, name: String) throws -> RGBImage {
        guard !data.isEmpty else { throw ImageError.corrupt(file: name, reason: "empty file") }
        guard data.count <= Int(Int32.max) else {
            throw ImageError.tooLarge(file: name, width: 0, height: 0, limit: "2 GiB of encoded data")
        }
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> RGBImage in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard let base = bytes.baseAddress else { throw ImageError.corrupt(file: name, reason: "empty file") }
            let length = Int32(bytes.count)
            // Our own header read first: stb refuses some huge headers with a generic message.
            let markers = JPEGMarkers.isJPEG(raw) ? JPEGMarkers.scan(raw) : nil
            if let (hw, hh) = JPEGMarkers.pngDimensions(raw) {
                try checkSize(width: hw, height: hh, name: name)
            } else if let hw = markers?.width, let hh = markers?.height, hw > 0, hh > 0 {
                try checkSize(width: hw, height: hh, name: name)
            }
            if let bad = JPEGMarkers.oversizedHuffmanTable(raw) {
                throw ImageError.corrupt(file: name, reason: "bad Huffman table (\(bad))")
            }
            var w: Int32 = 0, h: Int32 = 0, comp: Int32 = 0
            guard stbi_info_from_memory(base, length, &w, &h, &comp) == 1 else {
                throw ImageError.corrupt(file: name, reason: Self.stbReason())
            }
            try checkSize(width: Int(w), height: Int(h), name: name)
            if let markers, markers.components == 4, markers.adobeTransform != 0, markers.adobeTransform != 2 {
                throw ImageError.unsupportedCMYK(file: name)
            }
            var dw: Int32 = 0, dh: Int32 = 0, dcomp: Int32 = 0
            guard let decoded = stbi_load_from_memory(base, length, &dw, &dh, &dcomp, 4) else {
                throw ImageError.corrupt(file: name, reason: Self.stbReason())
            }
            defer { stbi_image_free(decoded) }
            guard dw == w, dh == h else {
                throw ImageError.corrupt(file: name, reason: "header says \(w)x\(h), decoded \(dw)x\(dh)")
            }
            return Self.compositeOnWhite(rgba: decoded, width: Int(dw), height: Int(dh))
        }
    }

    /// Refuses dimensions past the decompression-bomb guard.
    func checkSize(width: Int, height: Int, name: String) throws {
        guard width > 0, height > 0 else {
            throw ImageError.corrupt(file: name, reason: "header says \(width)x\(height)")
        }
        if width > maxSide || height > maxSide || width * height > maxPixels {
            throw ImageError.tooLarge(file: name, width: width, height: height,
                                      limit: "\(maxSide) px a side and \(maxPixels) pixels")
        }
    }

    /// RGBA → RGB over white: out = a·c + (255 − a), rounded.
    static func compositeOnWhite(rgba: UnsafePointer<UInt8>, width: Int, height: Int) -> RGBImage {
        let n = width * height
        let pixels = [UInt8](unsafeUninitializedCapacity: n * 3) { out, count in
            for i in 0..<n {
                let a = Int(rgba[i * 4 + 3])
                for c in 0..<3 {
                    let v = Int(rgba[i * 4 + c])
                    out[i * 3 + c] = a == 255 ? UInt8(v) : UInt8((v * a + 255 * (255 - a) + 127) / 255)
                }
            }
            count = n * 3
        }
        return RGBImage(uncheckedWidth: width, height: height, pixels: pixels)
    }

    static func stbReason() -> String {
        guard let r = stbi_failure_reason(), r.pointee != 0 else { return "unknown decoder failure" }
        let code = String(cString: r)
        // stb's reasons are terse ("expected marker", "IDA", even "I"); a code too short to read gets context.
        return code.count < 4 ? "corrupt or truncated data (decoder code '\(code)')" : code
    }

    static func reason(of error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return ns.localizedDescription.isEmpty ? "\(ns.domain) error \(ns.code)" : ns.localizedDescription
    }
}

extension RGBImage {
    /// For producers inside the module that already guarantee the byte count.
    init(uncheckedWidth width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3)
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
