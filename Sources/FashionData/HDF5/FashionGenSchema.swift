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

    private static func check(_ info: HDF5DatasetInfo, key: String, path: String) throws {
        let s = info.shape
        if key == image {
            guard s.count == 4, s[1] == s[2], s[1] > 0, s[3] == 3 else {
                throw FashionGenError.badShape(file: path, key: key, expected: "(N,S,S,3)", actual: info.shapeText)
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
        } else {
            let numeric = [.signedInteger, .unsignedInteger, .float].contains(info.kind)
            guard numeric, info.elementSize == 4 || info.elementSize == 8 else {
                throw FashionGenError.badDtype(file: path, key: key, expected: "int32/int64/float32/float64",
                                               actual: info.dtype)
            }
        }
    }
}
