// The 16 keys of a Fashion-Gen HDF5 file (shared/DATA.md §1) and the up-front check of a file against them.
import CHDF5

public enum FashionGenSchema {
    public static let image = "input_image"
    /// Fixed-length byte-string keys, shape (N,1), latin-1 text padded with NUL.
    public static let textKeys = [
        "input_description", "input_name", "input_concat_description", "input_category", "input_subcategory",
        "input_brand", "input_composition", "input_department", "input_gender", "input_season", "input_pose",
    ]
    /// Integer keys, shape (N,1), any int/float width on read; written as int64.
    public static let integerKeys = ["input_productID", "index", "index_2"]
    /// Float keys, shape (N,1), any int/float width on read; written as float64.
    public static let floatKeys = ["input_msrpUSD"]
    public static var allKeys: [String] { [image] + textKeys + integerKeys + floatKeys }

    /// Checks every key of an open file; returns the datasets (open) and their infos, keyed by name.
    /// Call inside `HDF5.locked`.
    static func validate(file: hid_t, path: String) throws -> [String: (H5ID, HDF5DatasetInfo)] {
        var out: [String: (H5ID, HDF5DatasetInfo)] = [:]
        for key in allKeys {
            guard H5Lexists(file, key, fvl_h5p_default()) > 0 else {
                throw FashionGenError.missingKey(file: path, key: key)
            }
            let access = H5Pcreate(fvl_h5p_dataset_access())
            defer { H5Pclose(access) }
            if key == image {  // room for a few compressed chunks of any layout; rows are read one at a time
                H5Pset_chunk_cache(access, 12_421, 64 << 20, 1.0)
            }
            let id = H5Dopen2(file, key, access)
            guard id >= 0 else { throw FashionGenError.corrupt(file: path, detail: "\(key): " + HDF5.errorDetail()) }
            let handle = H5ID(id, close: H5Dclose)
            guard let info = HDF5DatasetInfo.read(dataset: id) else {
                throw FashionGenError.corrupt(file: path, detail: "\(key): " + HDF5.errorDetail())
            }
            try check(info, key: key, path: path)
            try checkStorage(dataset: id, info: info, key: key, path: path)
            out[key] = (handle, info)
        }
        let rows = out[image]?.1.shape[0] ?? 0
        for key in allKeys where key != image {
            let actual = out[key]?.1.shape[0] ?? 0
            if actual != rows {
                throw FashionGenError.rowCountMismatch(file: path, key: key, expected: rows, actual: actual)
            }
        }
        return out
    }

    /// Bounds on what one row may claim, checked before anything is allocated for it (a malformed file can claim
    /// a 4 GiB string width or a 10⁶-pixel side): 4096-px images (the published files: 256), 16 MiB per text value.
    static let maxImageSide = 4096
    static let maxTextWidth = 16 << 20

    /// The largest chunk accepted: libhdf5 allocates a whole chunk to read one row of it (a row of the published
    /// files' 256-px images is 192 KiB; their chunks hold one row).
    static let maxChunkBytes = 256 << 20

    /// Refuses storage that would make libhdf5 read other files or load code, or allocate absurdly, before any
    /// data is read: external storage and virtual datasets (data taken from files the HDF5 file names, e.g.
    /// /etc/passwd as image bytes), filters other than the built-in ones (an unknown filter id makes libhdf5
    /// look for a plugin; loading is also switched off in `HDF5`), chunks over `maxChunkBytes`.
    private static func checkStorage(dataset: hid_t, info: HDF5DatasetInfo, key: String, path: String) throws {
        func refuse(_ reason: String) -> FashionGenError { .unsupportedStorage(file: path, key: key, reason: reason) }
        let dcpl = H5Dget_create_plist(dataset)
        guard dcpl >= 0 else { throw FashionGenError.corrupt(file: path, detail: "\(key): " + HDF5.errorDetail()) }
        defer { H5Pclose(dcpl) }
        let layout = H5Pget_layout(dcpl)
        switch layout {
        case H5D_COMPACT, H5D_CONTIGUOUS, H5D_CHUNKED: break
        case H5D_VIRTUAL: throw refuse("is a virtual dataset (its data comes from other files); expected data stored in the file")
        default: throw FashionGenError.corrupt(file: path, detail: "\(key): unknown storage layout \(layout.rawValue)")
        }
        let external = H5Pget_external_count(dcpl)
        if external != 0 {
            throw refuse("is stored in \(external < 0 ? "" : "\(external) ")external file(s) named by the HDF5 file; expected data stored in the file")
        }
        if layout == H5D_CHUNKED {
            var dims = [hsize_t](repeating: 0, count: max(info.shape.count, 1))
            let rank = Int(H5Pget_chunk(dcpl, Int32(dims.count), &dims))
            guard rank == info.shape.count else {
                throw FashionGenError.corrupt(file: path, detail: "\(key): chunk rank \(rank), dataset rank \(info.shape.count)")
            }
            var bytes = UInt64(max(info.elementSize, 1))
            for d in dims.prefix(rank) {
                guard d > 0 else { throw refuse("has a chunk dimension of 0") }
                let (product, overflow) = bytes.multipliedReportingOverflow(by: UInt64(d))
                guard !overflow, product <= UInt64(maxChunkBytes) else {
                    throw refuse("has chunks of (\(dims.prefix(rank).map(String.init).joined(separator: ","))) elements, over \(maxChunkBytes >> 20) MiB each")
                }
                bytes = product
            }
        }
        let filters = H5Pget_nfilters(dcpl)
        guard filters >= 0 else { throw FashionGenError.corrupt(file: path, detail: "\(key): " + HDF5.errorDetail()) }
        for i in 0..<filters {
            var flags: UInt32 = 0
            var nValues = 0
            var name = [CChar](repeating: 0, count: 64)
            var config: UInt32 = 0
            let filter = H5Pget_filter2(dcpl, UInt32(i), &flags, &nValues, nil, name.count, &name, &config)
            // Built into libhdf5: deflate (gzip) 1, shuffle 2, fletcher32 3, szip 4, nbit 5, scaleoffset 6.
            guard (1...6).contains(filter), H5Zfilter_avail(filter) > 0 else {
                let label = String(cString: name)
                throw refuse("needs HDF5 filter \(filter)\(label.isEmpty ? "" : " (\(label))"), which this libhdf5 cannot decode; expected uncompressed or gzip data")
            }
        }
    }

    private static func check(_ info: HDF5DatasetInfo, key: String, path: String) throws {
        let s = info.shape
        if key == image {
            guard s.count == 4, s[1] == s[2], s[1] > 0, s[3] == 3 else {
                throw FashionGenError.badShape(file: path, key: key, expected: "(N,S,S,3)", actual: info.shapeText)
            }
            guard s[1] <= maxImageSide else {
                throw FashionGenError.badShape(file: path, key: key, expected: "(N,S,S,3) with S ≤ \(maxImageSide)",
                                               actual: info.shapeText)
            }
            guard info.kind == .unsignedInteger, info.elementSize == 1 else {
                throw FashionGenError.badDtype(file: path, key: key, expected: "uint8", actual: info.dtype)
            }
            return
        }
        guard s.count == 1 || (s.count == 2 && s[1] == 1) else {
            throw FashionGenError.badShape(file: path, key: key, expected: "(N,1)", actual: info.shapeText)
        }
        if textKeys.contains(key) {
            guard info.kind == .fixedString else {
                throw FashionGenError.badDtype(file: path, key: key, expected: "fixed-length bytes |S<n>",
                                               actual: info.dtype)
            }
            guard info.elementSize <= maxTextWidth else {
                throw FashionGenError.badDtype(file: path, key: key, expected: "fixed-length bytes |S<n> with n ≤ \(maxTextWidth)",
                                               actual: info.dtype)
            }
        } else {
            let numeric = [.signedInteger, .unsignedInteger, .float].contains(info.kind)
            guard numeric, info.elementSize == 4 || info.elementSize == 8 else {
                throw FashionGenError.badDtype(file: path, key: key, expected: "int32/int64/float32/float64",
                                               actual: info.dtype)
            }
        }
    }
}
