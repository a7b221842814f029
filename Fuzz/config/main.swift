import Foundation
// libFuzzer entry: the model-config decoder (family detection, MVLT / SyncMask decoding and their checks).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Data(bytes: data, count: size)
    guard let family = try? ModelRegistry.family(of: bytes, source: "fuzz.json") else { return 0 }
    switch family {
    case .mvlt: _ = try? MVLTConfig.decode(bytes, source: "fuzz.json")
    case .syncmask: _ = try? SyncMaskConfig.decode(bytes, source: "fuzz.json")
    }
    return 0
}
