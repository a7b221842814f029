import Foundation
// libFuzzer entry: the image decoder front (PNG/JPEG header sniffing, the size guard) and stb behind it. The
// guard is tightened to 512² so that the fuzzer spends its time on parsing, not on decoding big pictures.
let decoder = ImageDecoder(maxSide: 512, maxPixels: 512 * 512)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? decoder.decode(data: Data(bytes: data, count: size), name: "fuzz.img")
    return 0
}
