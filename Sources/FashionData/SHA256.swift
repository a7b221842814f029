// SHA-256 (FIPS 180-4) of files, for content hashes of checkpoints in results and of the weights behind feature
// caches; `sha256sum` prints the same.
import Crypto
import Foundation

public struct SHA256 {
    // swift-crypto's SHA-256 (BoringSSL's assembly on x86-64/arm64): fast in debug builds too, where a Swift
    // implementation hashed ~2 MB/s (a 98 MB weights file took ~50 s in the test suite).
    private var hasher = Crypto.SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    public mutating func update(_ data: Data) { hasher.update(data: data) }

    /// The digest as lower-case hex.
    public func finish() -> String {
        hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The hex SHA-256 of a file's bytes, read in 4 MiB pieces.
    public static func file(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FileHashError(file: path, reason: "cannot open it to hash its content")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 4 << 20) ?? Data() } catch {
                throw FileHashError(file: path, reason: error.localizedDescription)
            }
            if chunk.isEmpty { break }
            hasher.update(chunk)
        }
        return hasher.finish()
    }
}

/// A file that could not be read to hash it.
public struct FileHashError: Error, Equatable, CustomStringConvertible {
    public var file: String, reason: String
    public var description: String { "\(file): cannot read (\(reason))" }
}
