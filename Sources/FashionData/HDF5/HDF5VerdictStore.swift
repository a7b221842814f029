// The on-disk verdicts of the child-process HDF5 check (UntrustedHDF5.swift): one small JSON file per catalog
// path in a cache folder (the CLI's default: ~/.cache/fashionvl/hdf5-checks), so a catalog is read through once,
// not by every command that opens it. An entry holds while the file's absolute path, device, inode, size, mtime
// (ns) and a hash of its first and last MiB are unchanged and it was made by the same `checkVersion`; timeouts and
// failed starts are never stored. Entries are written to a temp file and renamed; an unreadable or corrupt entry
// is ignored with a warning (the file is checked again and the entry replaced).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct VerdictStore: Sendable {
    let directory: String

    /// What a stored verdict is valid for.
    struct Stamp: Codable, Equatable {
        var version: Int
        var path: String
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var mtimeNs: Int64
        /// 64-bit hash (hex) of the file's first and last MiB.
        var sample: String
    }

    private struct Entry: Codable {
        var stamp: Stamp
        var verdict: String
    }

    func stamp(path: String, device: UInt64, inode: UInt64, size: Int64, mtime: Int64) -> Stamp? {
        guard let resolved = realpath(path, nil) else { return nil }
        let absolute = String(cString: resolved)
        free(resolved)
        guard let sample = Self.sampleHash(absolute, size: size) else { return nil }
        return Stamp(version: UntrustedHDF5.checkVersion, path: absolute, device: device, inode: inode, size: size,
                     mtimeNs: mtime, sample: sample)
    }

    func entryPath(_ stamp: Stamp) -> String {
        directory + "/" + Self.hex(Self.hash(Array(stamp.path.utf8))) + ".json"
    }

    /// The stored verdict for exactly this file version, or nil.
    func lookup(_ stamp: Stamp) -> UntrustedHDF5.Verdict? {
        let file = entryPath(stamp)
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        guard let entry = try? JSONDecoder().decode(Entry.self, from: data), let verdict = Self.verdict(entry.verdict) else {
            FileHandle.standardError.write(Data("warning: \(file): ignoring a corrupt HDF5 check cache entry; checking \(stamp.path) again\n".utf8))
            return nil
        }
        return entry.stamp == stamp ? verdict : nil
    }

    /// Stores a verdict (not a failure to check); best effort: a cache that cannot be written costs only time.
    func save(_ verdict: UntrustedHDF5.Verdict, for stamp: Stamp) {
        let text: String
        switch verdict {
        case .clean: text = "clean"
        case .reported: text = "reported"
        case let .crashed(signal): text = "crashed " + signal
        case .failed: return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(Entry(stamp: stamp, verdict: text)),
              (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil
        else { return }
        let file = entryPath(stamp)
        let temp = directory + "/.tmp-\(getpid())-" + (file as NSString).lastPathComponent
        guard FileManager.default.createFile(atPath: temp, contents: data), rename(temp, file) == 0 else {
            unlink(temp)
            return
        }
    }

    private static func verdict(_ text: String) -> UntrustedHDF5.Verdict? {
        switch text {
        case "clean": return .clean
        case "reported": return .reported
        case _ where text.hasPrefix("crashed ") && text.count > 8: return .crashed(signal: String(text.dropFirst(8)))
        default: return nil
        }
    }

    /// Hash of the first and the last MiB (the superblock and, for files written by h5py and libhdf5, most
    /// metadata sit there), so a file rewritten in place with its size and mtime restored is still noticed.
    static func sampleHash(_ path: String, size: Int64) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let mib = 1 << 20
        var buffer = [UInt8](repeating: 0, count: 2 * mib)
        var filled = 0
        for offset in [Int64(0), max(Int64(mib), size - Int64(mib))] where offset < size {
            let want = Int(min(Int64(mib), size - offset))
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, want, off_t(offset)) }
            guard got == want else { return nil }
            filled += want
        }
        return hex(hash(Array(buffer[0..<filled])))
    }

    /// A 64-bit multiply-xorshift hash over 8-byte words (not cryptographic: it tells file versions apart).
    static func hash(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        bytes.withUnsafeBytes { raw in
            let words = raw.count / 8
            for i in 0..<words {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                h ^= h >> 29
            }
            for i in words * 8 ..< raw.count { h = (h ^ UInt64(raw[i])) &* 0xC4CE_B9FE_1A85_EC53 }
        }
        return h ^ (h >> 32)
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
