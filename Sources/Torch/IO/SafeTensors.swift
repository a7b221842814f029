import Foundation

extension SafeTensors {
    /// Loads every tensor of a safetensors file (memory-mapped, validated first).
    public static func load(_ path: String, device: Device = .cpu) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw TorchError.file(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try data.withUnsafeBytes { raw in
            let (entries, metadata, start) = try parseHeader(raw, path: path)
            var out: [String: Tensor] = [:]
            for e in entries {
                let slice = UnsafeRawBufferPointer(rebasing: raw[(start + e.begin)..<(start + e.end)])
                out[e.name] = try Tensor.fromBytes(slice, shape: e.shape, dtype: e.dtype, device: device)
            }
            return (out, metadata)
        }
    }

    /// Writes tensors (sorted by name) atomically: a temporary file in the same folder, then a rename.
    public static func save(_ tensors: [(String, Tensor)], to path: String, metadata: [String: String] = [:]) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var blobs: [[UInt8]] = []
        var offset = 0
        var seen = Set<String>()
        for (name, t) in tensors.sorted(by: { $0.0 < $1.0 }) {
            guard seen.insert(name).inserted else { throw TorchError.invalidArgument("safetensors: duplicate name '\(name)'") }
            let bytes = try t.toBytes()
            header[name] = ["dtype": t.dtype.safetensorsName, "shape": t.shape, "data_offsets": [offset, offset + bytes.count]]
            offset += bytes.count
            blobs.append(bytes)
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { file.append(contentsOf: $0) }
        file.append(json)
        for b in blobs { file.append(contentsOf: b) }
        try writeAtomically(file, to: path)
    }
}

/// Writes `data` to `path` through a temporary file in the same folder and a rename, so a reader never sees
/// a partial file and an interrupted write leaves the previous file intact.
public func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent()
    let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    // POSIX calls, not Data.write: a full disk or a file-size limit then reads "No space left on device" / "File
    // too large" (errno), where Foundation says "NSCocoaErrorDomain error 512".
    func fail(_ what: String) -> TorchError {
        TorchError.file(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
    }
    let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw fail("cannot create a temp file in \(dir.path)") }
    var closed = false
    do {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < raw.count, let base = raw.baseAddress {
                let n = write(fd, base + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("cannot write (\(offset) of \(raw.count) bytes written)")
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw fail("cannot write (fsync)") }
        closed = true
        guard close(fd) == 0 else { throw fail("cannot write (close)") }
        if rename(tmp.path, url.path) != 0 { throw fail("cannot rename into place") }
    } catch {
        if !closed { close(fd) }
        unlink(tmp.path)
        throw error
    }
}

extension Module {
    /// Saves the state dict (every name, tied tensors under each name) as safetensors.
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try SafeTensors.save(stateDict(), to: path, metadata: metadata)
    }

    /// Loads a safetensors state dict by name (see `loadStateDict`); errors name the file.
    public func load(from path: String, strict: Bool = true, optional: Set<String> = []) throws {
        let (tensors, _) = try SafeTensors.load(path)
        do {
            try loadStateDict(tensors, strict: strict, optional: optional)
        } catch let e as TorchError {
            throw TorchError.file(path: path, reason: e.description)
        }
    }
}
