// A Fashion-Gen HDF5 file opened for reading (shared/DATA.md §1). The schema is checked when the file is
// opened (after a check in a child process when the CLI installed one: UntrustedHDF5.swift); rows and row ranges
// are then read on demand with hyperslab selections, so the image array is never loaded whole. Safe to use from
// several threads: every libhdf5 call holds the process-wide HDF5 lock.
import CHDF5
import Foundation

public final class FashionGenFile: @unchecked Sendable {
    public let path: String
    /// Number of rows (images).
    public let count: Int
    /// Side of the square images (256 for the published files).
    public let imageSize: Int
    /// Key name → shape and dtype, for every key of the schema.
    public let keys: [String: HDF5DatasetInfo]
    public var imageBytes: Int { imageSize * imageSize * 3 }

    private let file: H5ID
    private let datasets: [String: H5ID]

    /// Opens `path` for reading; when the CLI asked for it (`UntrustedHDF5`), after a check in a child process.
    public convenience init(path: String) throws {
        try UntrustedHDF5.vet(path)
        try self.init(opening: path)
    }

    /// Opens `path` in this process without the child-process check.
    init(opening path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw FashionGenError.unreadable(file: path, reason: "no such file")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw FashionGenError.unreadable(file: path, reason: "permission denied")
        }
        let (file, opened) = try HDF5.locked { () throws -> (H5ID, [String: (H5ID, HDF5DatasetInfo)]) in
            let isHDF5 = H5Fis_hdf5(path)
            if isHDF5 == 0 { throw FashionGenError.notHDF5(file: path) }
            if isHDF5 < 0 { throw FashionGenError.corrupt(file: path, detail: HDF5.errorDetail()) }
            let id = H5Fopen(path, fvl_h5f_acc_rdonly(), fvl_h5p_default())
            guard id >= 0 else { throw FashionGenError.corrupt(file: path, detail: HDF5.errorDetail()) }
            let file = H5ID(id, close: H5Fclose)
            return (file, try FashionGenSchema.validate(file: id, path: path))
        }
        self.file = file
        self.datasets = opened.mapValues { $0.0 }
        self.keys = opened.mapValues { $0.1 }
        let imageShape = keys[FashionGenSchema.image]?.shape ?? [0, 0]
        self.count = imageShape[0]
        self.imageSize = imageShape[1]
    }

    // MARK: Images

    /// The RGB bytes (S·S·3, row-major) of one row.
    public func image(_ row: Int) throws -> [UInt8] {
        try checkRows(row ..< row + 1)
        return try [UInt8](unsafeUninitializedCapacity: imageBytes) { buf, n in
            try readImages(row ..< row + 1, into: UnsafeMutableRawBufferPointer(buf))
            n = imageBytes
        }
    }

    /// Reads the images of `rows` into `buffer` (at least `rows.count · S·S·3` bytes), one after another.
    public func readImages(_ rows: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws {
        try checkRows(rows)
        guard let base = buffer.baseAddress, buffer.count >= rows.count * imageBytes else {
            throw FashionGenError.io(file: path, key: FashionGenSchema.image, operation: "read",
                                     detail: "buffer of \(buffer.count) bytes < \(rows.count * imageBytes)")
        }
        try read(FashionGenSchema.image, rows, memType: fvl_h5t_native_uint8(), into: base)
    }

    // MARK: Rows

    /// One whole row: image, every text key and every number.
    public func record(_ row: Int) throws -> FashionGenRecord {
        let range = row ..< row + 1
        func text(_ key: String) throws -> String { try strings(key, range)[0] }
        return FashionGenRecord(
            image: try image(row), name: try text("input_name"), description: try text("input_description"),
            concatDescription: try text("input_concat_description"), category: try text("input_category"),
            subcategory: try text("input_subcategory"), brand: try text("input_brand"),
            composition: try text("input_composition"), department: try text("input_department"),
            gender: try text("input_gender"), season: try text("input_season"), pose: try text("input_pose"),
            productID: try integers("input_productID", range)[0], msrpUSD: try doubles("input_msrpUSD", range)[0],
            index: try integers("index", range)[0], index2: try integers("index_2", range)[0])
    }

    /// The strings of a text key for `rows` (all rows when nil), decoded as latin-1 without NUL padding.
    public func strings(_ key: String, _ rows: Range<Int>? = nil) throws -> [String] {
        let rows = rows ?? 0 ..< count
        try checkRows(rows)
        guard let info = keys[key], info.kind == .fixedString else {
            throw FashionGenError.badDtype(file: path, key: key, expected: "a text key", actual: keys[key]?.dtype ?? "none")
        }
        let width = info.elementSize
        let memType = try HDF5.locked { () throws -> hid_t in
            let t = H5Tcopy(fvl_h5t_c_s1())
            guard t >= 0, H5Tset_size(t, width) >= 0, H5Tset_strpad(t, H5T_STR_NULLPAD) >= 0 else {
                throw FashionGenError.io(file: path, key: key, operation: "read", detail: HDF5.errorDetail())
            }
            return t
        }
        defer { _ = HDF5.locked { H5Tclose(memType) } }
        // Blocks of rows, so a whole column of long descriptions never sits in memory as raw bytes.
        let block = max(1, min(rows.count, (16 << 20) / max(width, 1)))
        var bytes = [UInt8](repeating: 0, count: block * width)
        var out: [String] = []
        out.reserveCapacity(rows.count)
        var start = rows.lowerBound
        while start < rows.upperBound {
            let n = min(block, rows.upperBound - start)
            try bytes.withUnsafeMutableBytes { buf in
                try read(key, start ..< start + n, memType: memType, into: buf.baseAddress!)  // non-empty: block ≥ 1
            }
            bytes.withUnsafeBufferPointer { all in
                for i in 0..<n { out.append(Latin1.decode(UnsafeBufferPointer(rebasing: all[i * width ..< (i + 1) * width]))) }
            }
            start += n
        }
        return out
    }

    /// A numeric key for `rows` (all when nil) converted to Int64 by libhdf5 (floats are truncated).
    public func integers(_ key: String, _ rows: Range<Int>? = nil) throws -> [Int64] {
        try numbers(key, rows, memType: fvl_h5t_native_int64(), zero: Int64(0))
    }

    /// A numeric key for `rows` (all when nil) converted to Double.
    public func doubles(_ key: String, _ rows: Range<Int>? = nil) throws -> [Double] {
        try numbers(key, rows, memType: fvl_h5t_native_double(), zero: 0.0)
    }

    // MARK: Whole columns

    public var productIDs: [Int64] { get throws { try integers("input_productID") } }
    public var prices: [Double] { get throws { try doubles("input_msrpUSD") } }
    public var names: [String] { get throws { try strings("input_name") } }
    public var descriptions: [String] { get throws { try strings("input_description") } }
    public var concatDescriptions: [String] { get throws { try strings("input_concat_description") } }
    public var categories: [String] { get throws { try strings("input_category") } }
    public var subcategories: [String] { get throws { try strings("input_subcategory") } }
    public var poses: [String] { get throws { try strings("input_pose") } }

    // MARK: Private

    private func checkRows(_ rows: Range<Int>) throws {
        guard rows.lowerBound >= 0, rows.upperBound <= count else {
            throw FashionGenError.rowOutOfRange(file: path, row: rows.lowerBound < 0 ? rows.lowerBound : rows.upperBound - 1,
                                                count: count)
        }
    }

    private func numbers<T>(_ key: String, _ rows: Range<Int>?, memType: hid_t, zero: T) throws -> [T] {
        let rows = rows ?? 0 ..< count
        try checkRows(rows)
        guard let info = keys[key], [.signedInteger, .unsignedInteger, .float].contains(info.kind) else {
            throw FashionGenError.badDtype(file: path, key: key, expected: "a numeric key", actual: keys[key]?.dtype ?? "none")
        }
        var out = [T](repeating: zero, count: rows.count)
        try out.withUnsafeMutableBytes { buf in
            if let base = buf.baseAddress { try read(key, rows, memType: memType, into: base) }
        }
        return out
    }

    private func read(_ key: String, _ rows: Range<Int>, memType: hid_t, into buffer: UnsafeMutableRawPointer) throws {
        guard let dataset = datasets[key], let info = keys[key] else {
            throw FashionGenError.missingKey(file: path, key: key)
        }
        let failure = HDF5.locked {
            dataset.readRows(start: rows.lowerBound, count: rows.count, shape: info.shape, memType: memType, into: buffer)
        }
        if let failure { throw FashionGenError.io(file: path, key: key, operation: "read", detail: failure) }
    }
}
