// Errors of image decoding, processing and writing. Every case names the file (or, for in-memory data, the
// label the caller gave) and what was expected.

public enum ImageError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read from disk.
    case unreadable(file: String, reason: String)
    /// The bytes are not a decodable JPEG/PNG (truncated, corrupt, unknown format).
    case corrupt(file: String, reason: String)
    /// A 4-component JPEG without an Adobe APP14 marker: the colour transform is unknown, so the
    /// conversion to RGB cannot be done reliably.
    case unsupportedCMYK(file: String)
    /// The header announces dimensions beyond the decompression-bomb guard.
    case tooLarge(file: String, width: Int, height: Int, limit: String)
    /// An operation was given dimensions or parameters it cannot use.
    case invalidArgument(operation: String, reason: String)
    /// Writing an image failed.
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read image file (\(reason))"
        case let .corrupt(file, reason): return "\(file): not a decodable JPEG/PNG image (\(reason))"
        case let .unsupportedCMYK(file):
            return "\(file): CMYK JPEG without an Adobe APP14 marker; expected RGB, greyscale or Adobe CMYK/YCCK"
        case let .tooLarge(file, width, height, limit):
            return "\(file): image header says \(width)x\(height), expected at most \(limit)"
        case let .invalidArgument(operation, reason): return "\(operation): \(reason)"
        case let .writeFailed(file, reason): return "\(file): cannot write image (\(reason))"
        }
    }
}
