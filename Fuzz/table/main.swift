// libFuzzer entry: the import table reader (CSV when the first byte is even, JSONL when odd; the rest is the file).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTable(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] % 2 == 0 {
        _ = try? CatalogTable.parseCSV(bytes, file: "fuzz.csv")
    } else {
        _ = CatalogTable.parseJSONL(bytes)
    }
    return 0
}
