// Errors of the Fashion-Gen HDF5 reader and writer. Each case names the file, the key (when one is at
// fault) and what was expected, so that one line tells a user what is wrong with their data.

public enum FashionGenError: Error, Equatable, CustomStringConvertible {
    /// The file does not exist or cannot be read.
    case unreadable(file: String, reason: String)
    /// The file exists but is not HDF5 (no superblock).
    case notHDF5(file: String)
    /// libhdf5 refused the file (truncated, corrupt); `detail` is its error stack.
    case corrupt(file: String, detail: String)
    /// libhdf5 crashed (in the child process that checks a file first) while reading the file.
    case libraryCrashed(file: String, signal: String)
    /// The child-process check of the file could not run or did not finish.
    case checkFailed(file: String, reason: String)
    /// A key of the Fashion-Gen schema is absent.
    case missingKey(file: String, key: String)
    /// A dataset has the wrong rank or dimensions; shapes are written like `(N,256,256,3)`.
    case badShape(file: String, key: String, expected: String, actual: String)
    /// A dataset has the wrong element type.
    case badDtype(file: String, key: String, expected: String, actual: String)
    /// A dataset's row count differs from `input_image`'s.
    case rowCountMismatch(file: String, key: String, expected: Int, actual: Int)
    /// A row index outside `0..<count`.
    case rowOutOfRange(file: String, row: Int, count: Int)
    /// A read or write failed inside libhdf5 (`key` empty when the file as a whole is at fault).
    case io(file: String, key: String, operation: String, detail: String)
    /// A record does not fit the file being written (image size, text encoding).
    case badRecord(file: String, key: String, row: Int, expected: String)
    /// The writer was used after `finish()` or `cancel()`.
    case writerClosed(file: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read file (\(reason))"
        case let .notHDF5(file): return "\(file): not an HDF5 file"
        case let .corrupt(file, detail): return "\(file): corrupt or truncated HDF5 file (\(detail))"
        case let .libraryCrashed(file, signal):
            return "\(file): libhdf5 crashed (\(signal)) while reading it: the file is malformed or not a Fashion-Gen file"
        case let .checkFailed(file, reason): return "\(file): could not check the HDF5 file in a child process (\(reason))"
        case let .missingKey(file, key): return "\(file): missing key '\(key)'"
        case let .badShape(file, key, expected, actual):
            return "\(file): key '\(key)' has shape \(actual), expected \(expected)"
        case let .badDtype(file, key, expected, actual):
            return "\(file): key '\(key)' has dtype \(actual), expected \(expected)"
        case let .rowCountMismatch(file, key, expected, actual):
            return "\(file): key '\(key)' has \(actual) rows, expected \(expected) (as input_image)"
        case let .rowOutOfRange(file, row, count): return "\(file): row \(row) out of range 0..<\(count)"
        case let .io(file, key, operation, detail):
            if key.isEmpty { return "\(file): \(operation) failed (\(detail))" }
            return "\(file): \(operation) of key '\(key)' failed (\(detail))"
        case let .badRecord(file, key, row, expected): return "\(file): row \(row), key '\(key)': expected \(expected)"
        case let .writerClosed(file): return "\(file): writer already finished or cancelled"
        }
    }
}
