// Writes a Fashion-Gen HDF5 file (shared/DATA.md §1) atomically: rows go to a temp file in the output's
// folder — images appended to an extendible chunked dataset, text and numbers kept in memory and written by
// `finish()` (string width = longest value) — which is renamed into place only when complete. The bytes are
// deterministic: object time tracking is off, so the same records give a byte-identical file.
import CHDF5
import Foundation

public final class FashionGenWriter {
    public let path: String
    public let imageSize: Int
    public let gzipLevel: Int?
    public private(set) var count = 0

    private let tempPath: String
    private var file: hid_t = -1
    private var images: hid_t = -1
    private var texts: [String: [[UInt8]]] = [:]
    private var integers: [String: [Int64]] = [:]
    private var floats: [String: [Double]] = [:]
    private var open = true

    public init(path: String, imageSize: Int, gzipLevel: Int? = nil) throws {
        guard imageSize > 0 else {
            throw FashionGenError.badShape(file: path, key: FashionGenSchema.image, expected: "image size > 0",
                                           actual: String(imageSize))
        }
        if let level = gzipLevel, !(0...9).contains(level) {
            throw FashionGenError.io(file: path, key: FashionGenSchema.image, operation: "create",
                                     detail: "gzip level \(level) not in 0...9")
        }
        self.path = path
        self.imageSize = imageSize
        self.gzipLevel = gzipLevel
        let url = URL(fileURLWithPath: path)
        tempPath = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier)-\(Self.nextTempID()).tmp").path
        try HDF5.locked {
            let fcpl = H5Pcreate(fvl_h5p_file_create())
            defer { H5Pclose(fcpl) }
            H5Pset_obj_track_times(fcpl, false)
            file = H5Fcreate(tempPath, fvl_h5f_acc_trunc(), fcpl, fvl_h5p_default())
            guard file >= 0 else {
                throw FashionGenError.io(file: path, key: "", operation: "create \(tempPath)", detail: HDF5.errorDetail())
            }
            let s = hsize_t(imageSize)
            let chunk: [hsize_t] = [1, s, s, 3]
            images = try createDataset(FashionGenSchema.image, type: fvl_h5t_std_u8le(), dims: [0, s, s, 3],
                                       maxDims: [fvl_h5s_unlimited(), s, s, 3], chunk: chunk)
        }
        for key in FashionGenSchema.textKeys { texts[key] = [] }
        for key in FashionGenSchema.integerKeys { integers[key] = [] }
        for key in FashionGenSchema.floatKeys { floats[key] = [] }
    }

    deinit { cancel() }

    /// Appends one row; its image must be `imageSize² · 3` bytes and its text latin-1.
    public func append(_ r: FashionGenRecord) throws {
        guard open else { throw FashionGenError.writerClosed(file: path) }
        let bytes = imageSize * imageSize * 3
        guard r.image.count == bytes else {
            throw FashionGenError.badRecord(file: path, key: FashionGenSchema.image, row: count,
                                            expected: "\(bytes) bytes (\(imageSize)×\(imageSize)×3), got \(r.image.count)")
        }
        let values: [(String, String)] = [
            ("input_description", r.description), ("input_name", r.name),
            ("input_concat_description", r.concatDescription), ("input_category", r.category),
            ("input_subcategory", r.subcategory), ("input_brand", r.brand), ("input_composition", r.composition),
            ("input_department", r.department), ("input_gender", r.gender), ("input_season", r.season),
            ("input_pose", r.pose),
        ]
        var encoded: [(String, [UInt8])] = []
        for (key, text) in values {
            guard let latin1 = Latin1.encode(text) else {
                throw FashionGenError.badRecord(file: path, key: key, row: count, expected: "latin-1 text")
            }
            encoded.append((key, latin1))
        }
        try HDF5.locked {
            let s = hsize_t(imageSize)
            var dims: [hsize_t] = [hsize_t(count + 1), s, s, 3]
            guard H5Dset_extent(images, &dims) >= 0 else { throw failure("extend", FashionGenSchema.image) }
            let fileSpace = H5Dget_space(images)
            defer { H5Sclose(fileSpace) }
            let start: [hsize_t] = [hsize_t(count), 0, 0, 0]
            let one: [hsize_t] = [1, s, s, 3]
            let memSpace = H5Screate_simple(4, one, nil)
            defer { H5Sclose(memSpace) }
            guard H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, start, nil, one, nil) >= 0,
                  r.image.withUnsafeBytes({ H5Dwrite(images, fvl_h5t_native_uint8(), memSpace, fileSpace,
                                                     fvl_h5p_default(), $0.baseAddress) }) >= 0
            else { throw failure("write", FashionGenSchema.image) }
        }
        for (key, latin1) in encoded { texts[key, default: []].append(latin1) }
        integers["input_productID", default: []].append(r.productID)
        integers["index", default: []].append(r.index)
        integers["index_2", default: []].append(r.index2)
        floats["input_msrpUSD", default: []].append(r.msrpUSD)
        count += 1
    }

    /// Writes the text and number columns, closes the file and renames it into place.
    public func finish() throws {
        guard open else { throw FashionGenError.writerClosed(file: path) }
        do {
            try HDF5.locked {
                for key in FashionGenSchema.textKeys { try writeText(key, texts[key] ?? []) }
                for key in FashionGenSchema.integerKeys {
                    try writeNumbers(key, integers[key] ?? [], fileType: fvl_h5t_std_i64le(), memType: fvl_h5t_native_int64())
                }
                for key in FashionGenSchema.floatKeys {
                    try writeNumbers(key, floats[key] ?? [], fileType: fvl_h5t_ieee_f64le(), memType: fvl_h5t_native_double())
                }
                let closedImages = H5Dclose(images)
                images = -1
                let closedFile = H5Fclose(file)
                file = -1
                guard closedImages >= 0, closedFile >= 0 else { throw failure("close", "") }
            }
            guard rename(tempPath, path) == 0 else {
                throw FashionGenError.io(file: path, key: "", operation: "rename",
                                         detail: String(cString: strerror(errno)))
            }
            open = false
        } catch {
            cancel()
            throw error
        }
    }

    /// Abandons the file: closes it and removes the temp file. Safe to call more than once.
    public func cancel() {
        guard open else { return }
        open = false
        HDF5.locked {
            if images >= 0 { H5Dclose(images) }
            if file >= 0 { H5Fclose(file) }
            images = -1
            file = -1
        }
        unlink(tempPath)
    }

    // MARK: Private (inside HDF5.locked)

    private func failure(_ operation: String, _ key: String) -> FashionGenError {
        .io(file: path, key: key, operation: operation, detail: HDF5.errorDetail())
    }

    private func createDataset(_ key: String, type: hid_t, dims: [hsize_t], maxDims: [hsize_t]? = nil,
                               chunk: [hsize_t]?) throws -> hid_t {
        let space = H5Screate_simple(Int32(dims.count), dims, maxDims)
        let dcpl = H5Pcreate(fvl_h5p_dataset_create())
        defer { H5Sclose(space); H5Pclose(dcpl) }
        H5Pset_obj_track_times(dcpl, false)
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER)
        if let chunk {
            H5Pset_chunk(dcpl, Int32(chunk.count), chunk)
            if let level = gzipLevel { H5Pset_deflate(dcpl, UInt32(level)) }
        }
        let id = H5Dcreate2(file, key, type, space, fvl_h5p_default(), dcpl, fvl_h5p_default())
        guard id >= 0 else { throw failure("create", key) }
        return id
    }

    /// Chunks of up to 4,096 rows when compressing, contiguous otherwise.
    private func columnChunk() -> [hsize_t]? {
        gzipLevel == nil ? nil : [hsize_t(min(max(count, 1), 4096)), 1]
    }

    private func writeText(_ key: String, _ values: [[UInt8]]) throws {
        let width = max(values.map(\.count).max() ?? 1, 1)
        var packed = [UInt8](repeating: 0, count: max(values.count * width, 1))
        for (i, v) in values.enumerated() { packed.replaceSubrange(i * width ..< i * width + v.count, with: v) }
        let type = H5Tcopy(fvl_h5t_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, width)
        H5Tset_strpad(type, H5T_STR_NULLPAD)
        try writeColumn(key, type: type, memType: type, bytes: packed)
    }

    private func writeNumbers<T>(_ key: String, _ values: [T], fileType: hid_t, memType: hid_t) throws {
        try values.withUnsafeBytes { try writeColumn(key, type: fileType, memType: memType, bytes: $0) }
    }

    private func writeColumn<B: ContiguousBytes>(_ key: String, type: hid_t, memType: hid_t, bytes: B) throws {
        let dataset = try createDataset(key, type: type, dims: [hsize_t(count), 1], chunk: columnChunk())
        defer { H5Dclose(dataset) }
        if count == 0 { return }
        let status = bytes.withUnsafeBytes {
            H5Dwrite(dataset, memType, fvl_h5s_all(), fvl_h5s_all(), fvl_h5p_default(), $0.baseAddress)
        }
        guard status >= 0 else { throw failure("write", key) }
    }

    private static let tempLock = NSLock()
    nonisolated(unsafe) private static var tempCounter = 0
    private static func nextTempID() -> Int {
        tempLock.lock()
        defer { tempLock.unlock() }
        tempCounter += 1
        return tempCounter
    }
}
