// The safetensors header parser, kept apart from tensor I/O (it needs only DType and TorchError), so that
// scripts/fuzz can build it alone.
import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping names to
/// `{dtype, shape, data_offsets}` (plus an optional `__metadata__` of strings), then the raw tensor bytes.
/// Reading validates the whole header before allocating any tensor, and maps the file instead of reading it.
public enum SafeTensors {
    /// Largest header accepted (the reference implementation uses 100 MB).
    public static let maxHeaderBytes = 100_000_000

    public struct Entry: Sendable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var begin: Int
        public var end: Int
    }

    /// Parses and validates the header of `bytes` (a whole file); returns entries and metadata.
    public static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws
        -> (entries: [Entry], metadata: [String: String], dataStart: Int) {
        func bad(_ reason: String) -> TorchError { .file(path: path, reason: "invalid safetensors: \(reason)") }
        guard bytes.count >= 8 else { throw bad("file has \(bytes.count) bytes, fewer than the 8-byte header length") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8) else {
            throw bad("header length \(n) runs past the end of the file (\(bytes.count) bytes)")
        }
        guard n <= UInt64(maxHeaderBytes) else { throw bad("header length \(n) exceeds the \(maxHeaderBytes)-byte limit") }
        let headerLen = Int(n)
        let headerData = Data(bytes[8..<(8 + headerLen)])
        guard let json = try? JSONSerialization.jsonObject(with: headerData), let dict = json as? [String: Any] else {
            throw bad("header is not a JSON object")
        }
        let dataStart = 8 + headerLen
        let dataLen = bytes.count - dataStart
        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw bad("__metadata__.\(k) is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw bad("entry '\(name)' is not an object") }
            guard let dt = info["dtype"] as? String else { throw bad("entry '\(name)' has no dtype") }
            guard let dtype = DType(safetensorsName: dt) else {
                throw bad("entry '\(name)' has unsupported dtype '\(dt)' (expected F32, BF16, F16, F64, I64, I32, U8 or BOOL)")
            }
            guard let shapeAny = info["shape"] as? [Any], let shape = intArray(shapeAny), shape.allSatisfy({ $0 >= 0 }) else {
                throw bad("entry '\(name)' has an invalid shape")
            }
            guard let offAny = info["data_offsets"] as? [Any], let off = intArray(offAny), off.count == 2 else {
                throw bad("entry '\(name)' has invalid data_offsets")
            }
            let (begin, end) = (off[0], off[1])
            guard begin >= 0, begin <= end, end <= dataLen else {
                throw bad("entry '\(name)' data_offsets [\(begin), \(end)] out of range (data section has \(dataLen) bytes)")
            }
            var count = 1
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw bad("entry '\(name)' shape \(shape) overflows") }
                count = p
            }
            let (needed, tooMany) = count.multipliedReportingOverflow(by: dtype.itemSize)
            guard !tooMany else { throw bad("entry '\(name)' shape \(shape) of \(dt) overflows") }
            guard needed == end - begin else {
                throw bad("entry '\(name)' has \(end - begin) bytes, but shape \(shape) of \(dt) needs \(needed)")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        // The ranges must tile the data section exactly (as the reference implementation requires): bytes no
        // tensor claims are a truncated or tampered header, not padding.
        let sorted = entries.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        var previous: Entry?
        for e in sorted {
            if let p = previous, e.begin < covered {
                throw bad("entries '\(p.name)' and '\(e.name)' overlap (bytes \(e.begin)..<\(covered))")
            }
            if e.begin > covered {
                throw bad(previous.map { "\(e.begin - covered) unused bytes between tensor '\($0.name)' (ends at \(covered)) and tensor '\(e.name)' (starts at \(e.begin))" }
                          ?? "\(e.begin) unused bytes before tensor '\(e.name)' (starts at \(e.begin)); the first tensor must start at 0")
            }
            covered = max(covered, e.end)
            previous = e
        }
        if covered != dataLen {
            throw bad(previous.map { "\(dataLen - covered) bytes after the last tensor '\($0.name)' (ends at \(covered); the data section has \(dataLen))" }
                      ?? "\(dataLen) bytes after the header, but no tensor claims them")
        }
        return (entries.sorted { $0.name < $1.name }, metadata, dataStart)
    }

    private static func intArray(_ a: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in a {
            guard let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 9e15 else { return nil }
            out.append(n.intValue)
        }
        return out
    }
}
