// libFuzzer entry: the safetensors header parser (SafeTensors.parseHeader) on arbitrary file bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    _ = try? SafeTensors.parseHeader(UnsafeRawBufferPointer(start: data, count: size), path: "fuzz.safetensors")
    return 0
}
