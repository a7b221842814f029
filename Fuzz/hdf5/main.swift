import Foundation
// libFuzzer entry: the Fashion-Gen HDF5 check that `fashionvl check-hdf5` runs in a child process before any
// command opens a file (FashionGenFile.checkInProcess: the schema checks of an open, first and last record).
// HDF5 reads files, so each input is written to a per-process temp file first.
let path = NSTemporaryDirectory() + "/fvl-fuzz-hdf5-\(getpid()).h5"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHDF5(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size)) else { return 0 }
    try? FashionGenFile.checkInProcess(path: path)
    return 0
}
