import Foundation
// libFuzzer entry: the Fashion-Gen HDF5 schema validator (FashionGenFile's open checks) and a first record read.
// HDF5 reads files, so each input is written to a per-process temp file first.
let path = NSTemporaryDirectory() + "/fvl-fuzz-hdf5-\(getpid()).h5"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHDF5(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size)) else { return 0 }
    if let file = try? FashionGenFile(path: path), file.count > 0 {
        _ = try? file.record(0)
        _ = try? file.strings("input_name", 0..<min(file.count, 4))
    }
    return 0
}
