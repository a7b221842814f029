// A small JPEG marker scan: how many components the frame has and whether an Adobe APP14 marker names the
// colour transform. stb_image converts Adobe CMYK (transform 0) and YCCK (transform 2) to RGB itself, but
// treats a 4-component frame without that marker as YCbCr and returns wrong colours, so those are refused.

struct JPEGMarkers: Equatable {
    /// Number of components in the first SOFn frame header (1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK), if found.
    var components: Int?
    /// The Adobe APP14 transform byte (0 CMYK, 1 YCbCr, 2 YCCK), if the marker is present.
    var adobeTransform: Int?
    /// Frame width and height from the first SOFn header, if found.
    var width: Int? = nil, height: Int? = nil

    /// Width and height from a PNG IHDR chunk (bytes 16..<24), if the bytes are a PNG.
    static func pngDimensions(_ b: UnsafeRawBufferPointer) -> (Int, Int)? {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard b.count >= 24, (0..<8).allSatisfy({ b[$0] == signature[$0] }) else { return nil }
        func be32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        return (be32(16), be32(20))
    }

    /// True when the bytes start with the JPEG SOI marker.
    static func isJPEG(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF
    }

    /// Scans marker segments up to the first start-of-scan; tolerant of truncation (stops early).
    static func scan(_ b: UnsafeRawBufferPointer) -> JPEGMarkers {
        var out = JPEGMarkers(components: nil, adobeTransform: nil)
        var i = 2
        while i + 4 <= b.count {
            guard b[i] == 0xFF else { break }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }  // fill byte
            if marker == 0xD8 || (0xD0...0xD7).contains(marker) || marker == 0x01 { i += 2; continue }
            if marker == 0xDA || marker == 0xD9 { break }  // start of scan / end of image
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            guard length >= 2 else { break }
            let body = i + 4
            let isSOF = (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC
            if isSOF, length >= 8, out.components == nil, body + 5 < b.count {
                out.components = Int(b[body + 5])
                out.height = Int(b[body + 1]) << 8 | Int(b[body + 2])
                out.width = Int(b[body + 3]) << 8 | Int(b[body + 4])
            }
            if marker == 0xEE, length >= 12, body + 11 < b.count,
               b[body] == 0x41, b[body + 1] == 0x64, b[body + 2] == 0x6F, b[body + 3] == 0x62, b[body + 4] == 0x65 {
                out.adobeTransform = Int(b[body + 11])
            }
            i += 2 + length
        }
        return out
    }
}

extension JPEGMarkers {
    /// The first DHT table whose 16 code-length counts add up to more than 256 symbols, as "table tc/th: n
    /// symbols", or nil. stb_image 2.27 (Debian's) does not check this and writes past its 257-entry size array
    /// (found by scripts/fuzz image, under UBSan), so such a file is refused before stb sees it. Every FF C4 in the
    /// file is read as a DHT segment, wherever it is: stb's marker walk tolerates garbage between segments, so a
    /// stricter walk of our own could miss a table stb reads (in entropy-coded data FF is always followed by 00).
    static func oversizedHuffmanTable(_ b: UnsafeRawBufferPointer) -> String? {
        // stb takes a file for a JPEG when it starts with FF, fill bytes (FF) and D8.
        var s = 0
        while s < b.count, b[s] == 0xFF { s += 1 }
        guard s > 0, s < b.count, b[s] == 0xD8 else { return nil }
        var i = 0
        while i + 4 <= b.count {
            defer { i += 1 }
            guard b[i] == 0xFF, b[i + 1] == 0xC4 else { continue }
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            // As stb reads it: tables while the segment has bytes left, each read whole even past the segment's
            // end; bytes past the end of the file read as 0.
            var (t, left) = (i + 4, length - 2)
            while left > 0, t < b.count {
                var n = 0
                for k in 1...16 where t + k < b.count { n += Int(b[t + k]) }
                if n > 256 { return "table \(b[t] >> 4)/\(b[t] & 0x0F): \(n) symbols, at most 256" }
                t += 17 + n
                left -= 17 + n
            }
        }
        return nil
    }
}
