// The thin layer over libhdf5's C API that the Fashion-Gen reader and writer share: one process-wide lock
// (libhdf5 serial is not thread-safe, so every call goes through `HDF5.locked`), owned identifiers that close
// themselves, dataset shape/type inspection and hyperslab reads of whole rows.
import CHDF5
import Foundation

enum HDF5 {
    private static let lock = NSRecursiveLock()
    private static let initialised: Bool = {
        // No library shutdown at exit: after a write that failed (a full disk), libhdf5's exit handler retries
        // flushing the file whose close failed and crashes (SIGSEGV). Every file we write is closed or
        // abandoned (and its temp file removed) explicitly, so there is nothing left for it to flush.
        _ = H5dont_atexit()
        _ = H5open()
        fvl_h5e_silence()
        // No filter plugins: a file naming an unknown filter must not make libhdf5 load a shared library from
        // HDF5_PLUGIN_PATH (FashionGenSchema refuses such datasets before reading them anyway).
        _ = H5PLset_loading_state(0)
        // Runs before libhdf5's own exit handler (registered by H5open): from then on, identifiers released
        // late (by a finishing loader thread) are left to the library's shutdown instead of being closed.
        atexit { HDF5.lock.lock(); HDF5.exiting = true; HDF5.lock.unlock() }
        return true
    }()
    nonisolated(unsafe) private(set) static var exiting = false

    /// Runs `body` holding the library lock; every libhdf5 call must be made inside.
    static func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        precondition(initialised)
        return try body()
    }

    /// The messages of libhdf5's current error stack (innermost first), cleared afterwards.
    static func errorDetail() -> String {
        var buf = [CChar](repeating: 0, count: 1024)
        fvl_h5e_describe(&buf)
        let text = String(cString: buf)
        return text.isEmpty ? "no detail from libhdf5" : text
    }
}

/// An HDF5 identifier closed with its matching `H5?close` when released.
final class H5ID {
    let id: hid_t
    private let close: (hid_t) -> herr_t

    init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.close = close
    }

    deinit { HDF5.locked { if !HDF5.exiting { _ = close(id) } } }
}

/// Shape and element type of one dataset, in numpy's words (`uint8`, `int32`, `float64`, `|S12`).
public struct HDF5DatasetInfo: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case unsignedInteger, signedInteger, float, fixedString, other }
    public var shape: [Int]
    public var kind: Kind
    /// Bytes per element (string width for fixed strings).
    public var elementSize: Int
    public var dtype: String

    public var shapeText: String {
        "(" + shape.map(String.init).joined(separator: ",") + (shape.count == 1 ? ",)" : ")")
    }

    /// Reads the info of an open dataset; call inside `HDF5.locked`.
    static func read(dataset: hid_t) -> HDF5DatasetInfo? {
        let space = H5Dget_space(dataset)
        let type = H5Dget_type(dataset)
        guard space >= 0, type >= 0 else { return nil }
        defer { H5Sclose(space); H5Tclose(type) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0 else { return nil }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        let size = H5Tget_size(type)
        let cls = H5Tget_class(type)
        let kind: Kind
        let dtype: String
        switch cls {
        case H5T_INTEGER:
            let signed = H5Tget_sign(type) == H5T_SGN_2
            kind = signed ? .signedInteger : .unsignedInteger
            dtype = (signed ? "int" : "uint") + String(size * 8)
        case H5T_FLOAT:
            kind = .float
            dtype = "float" + String(size * 8)
        case H5T_STRING:
            if H5Tis_variable_str(type) > 0 {
                kind = .other
                dtype = "vlen str"
            } else {
                kind = .fixedString
                dtype = "|S" + String(size)
            }
        default:
            kind = .other
            dtype = "class \(cls.rawValue)"
        }
        return HDF5DatasetInfo(shape: dims.prefix(rank).map { Int($0) }, kind: kind, elementSize: size, dtype: dtype)
    }
}

extension H5ID {
    /// Reads rows `start ..< start + count` of a dataset (all other dimensions whole) into `buffer`, converting to
    /// `memType`; call inside `HDF5.locked`. Returns libhdf5's error detail on failure.
    func readRows(start: Int, count: Int, shape: [Int], memType: hid_t, into buffer: UnsafeMutableRawPointer) -> String? {
        if count == 0 { return nil }
        if HDF5.exiting { return "libhdf5 has shut down (the process is exiting)" }
        let fileSpace = H5Dget_space(id)
        guard fileSpace >= 0 else { return HDF5.errorDetail() }
        defer { H5Sclose(fileSpace) }
        var offset = [hsize_t](repeating: 0, count: shape.count)
        offset[0] = hsize_t(start)
        var counts = shape.map { hsize_t($0) }
        counts[0] = hsize_t(count)
        guard H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, offset, nil, counts, nil) >= 0 else {
            return HDF5.errorDetail()
        }
        let memSpace = H5Screate_simple(Int32(counts.count), counts, nil)
        guard memSpace >= 0 else { return HDF5.errorDetail() }
        defer { H5Sclose(memSpace) }
        guard H5Dread(id, memType, memSpace, fileSpace, fvl_h5p_default(), buffer) >= 0 else {
            return HDF5.errorDetail()
        }
        return nil
    }
}

enum Latin1 {
    /// Decodes NUL- (or space-) padded fixed-width bytes as latin-1, dropping the trailing padding as numpy does.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0 { end -= 1 }
        var scalars = String.UnicodeScalarView()
        scalars.reserveCapacity(end)
        for i in 0..<end { scalars.append(Unicode.Scalar(bytes[i])) }
        return String(scalars)
    }

    /// Encodes `text` as latin-1, or nil when a character is outside U+0000...U+00FF.
    static func encode(_ text: String) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard scalar.value < 256 else { return nil }
            out.append(UInt8(scalar.value))
        }
        return out
    }
}
