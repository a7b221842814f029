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
        let sorted = tensors.sorted(by: { $0.0 < $1.0 })
        let blobs = try sorted.map { try $0.1.toBytes() }
        let (head, layout) = try header(sorted.map { ($0.0, $0.1.dtype, $0.1.shape) }, metadata: metadata)
        var file = Data(capacity: head.count + (layout.last?.end ?? 0))
        file.append(head)
        for b in blobs { file.append(contentsOf: b) }
        try writeAtomically(file, to: path)
    }

    /// The bytes before the data section (8-byte length + JSON header, padded to 8) for tensors of these names,
    /// dtypes and shapes, laid out in name order; and each tensor's byte range in the data section.
    public static func header(_ tensors: [(name: String, dtype: DType, shape: [Int])], metadata: [String: String] = [:]) throws
        -> (bytes: Data, layout: [Entry]) {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var layout: [Entry] = []
        var seen = Set<String>()
        for (name, dtype, shape) in tensors.sorted(by: { $0.name < $1.name }) {
            guard seen.insert(name).inserted else { throw TorchError.invalidArgument("safetensors: duplicate name '\(name)'") }
            let count = shape.reduce(dtype.itemSize, *)
            header[name] = ["dtype": dtype.safetensorsName, "shape": shape, "data_offsets": [offset, offset + count]]
            layout.append(Entry(name: name, dtype: dtype, shape: shape, begin: offset, end: offset + count))
            offset += count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data(capacity: 8 + json.count)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { file.append(contentsOf: $0) }
        file.append(json)
        return (file, layout)
    }
}

/// A safetensors file written piece by piece (for data larger than memory, e.g. a feature cache): the header
/// first, then each tensor's bytes at any offset within it, into a temporary file in the same folder; `finish`
/// checks that every byte was written, syncs and renames it into place, so a reader never sees a partial file.
/// Without `finish` (an error, `cancel`, deinit) the temporary file is removed.
public final class SafeTensorsWriter {
    public let path: String
    public let layout: [String: SafeTensors.Entry]
    private let tmp: String
    private var fd: Int32
    private let dataStart: Int
    private var written: [String: Int] = [:]

    public init(path: String, tensors: [(name: String, dtype: DType, shape: [Int])], metadata: [String: String] = [:]) throws {
        self.path = path
        let (head, entries) = try SafeTensors.header(tensors, metadata: metadata)
        layout = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
        dataStart = head.count
        let url = URL(fileURLWithPath: path)
        tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Self.failure(path, "cannot create a temp file in \(url.deletingLastPathComponent().path)") }
        do { try head.withUnsafeBytes { try write($0, at: 0) } } catch { cancel(); throw error }
    }

    deinit { cancel() }

    /// Writes `bytes` at byte `offset` of tensor `name`'s data.
    public func write(_ name: String, offset: Int, _ bytes: UnsafeRawBufferPointer) throws {
        guard let e = layout[name], offset >= 0, offset + bytes.count <= e.end - e.begin else {
            throw TorchError.invalidArgument("safetensors writer: \(bytes.count) bytes at \(offset) do not fit tensor '\(name)'")
        }
        try write(bytes, at: dataStart + e.begin + offset)
        written[name, default: 0] += bytes.count
    }

    private func write(_ bytes: UnsafeRawBufferPointer, at position: Int) throws {
        var done = 0
        while done < bytes.count, let base = bytes.baseAddress {
            let n = pwrite(fd, base + done, bytes.count - done, off_t(position + done))
            if n < 0 {
                if errno == EINTR { continue }
                let error = Self.failure(path, "cannot write (\(done) of \(bytes.count) bytes at \(position))")
                cancel()
                throw error
            }
            done += n
        }
    }

    /// Checks that every tensor was written in full, then syncs and renames the file into place.
    public func finish() throws {
        guard fd >= 0 else { throw TorchError.file(path: path, reason: "the writer was cancelled") }
        for (name, e) in layout.sorted(by: { $0.key < $1.key }) where written[name, default: 0] != e.end - e.begin {
            cancel()
            throw TorchError.file(path: path, reason: "tensor '\(name)' got \(written[name, default: 0]) of \(e.end - e.begin) bytes")
        }
        guard fsync(fd) == 0 else { let e = Self.failure(path, "cannot write (fsync)"); cancel(); throw e }
        let status = close(fd)
        fd = -1
        guard status == 0 else { let e = Self.failure(path, "cannot write (close)"); unlink(tmp); throw e }
        if rename(tmp, path) != 0 { let e = Self.failure(path, "cannot rename into place"); unlink(tmp); throw e }
    }

    /// Abandons the file: the temporary file is removed, `path` is left as it was.
    public func cancel() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(tmp)
    }

    private static func failure(_ path: String, _ what: String) -> TorchError {
        TorchError.file(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
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
