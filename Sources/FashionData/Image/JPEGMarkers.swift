// A small JPEG marker scan: how many components the frame has and whether an Adobe APP14 marker names the
// colour transform. stb_image converts Adobe CMYK (transform 0) and YCCK (transform 2) to RGB itself, but
// treats a 4-component frame without that marker as YCbCr and returns wrong colours, so those are refused.

struct JPEGMarkers: Equatable {
    /// Number of components in the first SOFn frame header (1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK), if found.
    var components: Int?
    /// The Adobe APP14 transform byte (0 CMYK, 1 YCbCr, 2 YCCK), if the marker is present.
    var adobeTransform: Int?

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
            if isSOF, out.components == nil, body + 5 < b.count {
                out.components = Int(b[body + 5])
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
