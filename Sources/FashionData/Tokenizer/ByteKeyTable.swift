/// An immutable open-addressing hash table from UTF-8 byte strings to token ids.
///
/// Keys are compared byte for byte: Swift `String` equality uses canonical equivalence, which would merge
/// vocab entries that BERT keeps apart, and hashing a `String` is slower than hashing its bytes.
/// `hash(_:)` is FNV-1a, so the tokenizer can hash all prefixes of a word in one pass (`extend`).
final class ByteKeyTable: @unchecked Sendable {  // immutable after init
    static let seed: UInt32 = 2_166_136_261

    @inline(__always)
    static func extend(_ hash: UInt32, _ byte: UInt8) -> UInt32 {
        (hash ^ UInt32(byte)) &* 16_777_619
    }

    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var h = seed
        for b in bytes { h = extend(h, b) }
        return h
    }

    /// Length in bytes of the longest key.
    let maxKeyLength: Int
    let count: Int
    private let keyBytes: UnsafeMutablePointer<UInt8>
    private let keyStart: UnsafeMutablePointer<Int32>  // count + 1 offsets into keyBytes
    private let ids: UnsafeMutablePointer<Int32>
    private let slotEntry: UnsafeMutablePointer<Int32>  // -1 = empty
    private let slotHash: UnsafeMutablePointer<UInt32>
    private let mask: Int

    /// Builds the table; later duplicates of a key are not expected (the vocab loader rejects them).
    init(keys: [ArraySlice<UInt8>], ids keyIDs: [Int32]) {
        count = keys.count
        let totalBytes = keys.reduce(0) { $0 + $1.count }
        keyBytes = .allocate(capacity: max(totalBytes, 1))
        keyStart = .allocate(capacity: count + 1)
        ids = .allocate(capacity: max(count, 1))
        var capacity = 16
        while capacity < count * 2 { capacity *= 2 }
        mask = capacity - 1
        slotEntry = .allocate(capacity: capacity)
        slotEntry.initialize(repeating: -1, count: capacity)
        slotHash = .allocate(capacity: capacity)
        slotHash.initialize(repeating: 0, count: capacity)
        var offset = 0
        var longest = 0
        for (index, key) in keys.enumerated() {
            keyStart[index] = Int32(offset)
            for b in key {
                keyBytes[offset] = b
                offset += 1
            }
            longest = max(longest, key.count)
            ids[index] = keyIDs[index]
            let h = key.withUnsafeBufferPointer { Self.hash($0) }
            var slot = Int(h) & mask
            while slotEntry[slot] >= 0 { slot = (slot + 1) & mask }
            slotEntry[slot] = Int32(index)
            slotHash[slot] = h
        }
        keyStart[count] = Int32(offset)
        maxKeyLength = longest
    }

    deinit {
        keyBytes.deallocate()
        keyStart.deallocate()
        ids.deallocate()
        slotEntry.deallocate()
        slotHash.deallocate()
    }

    /// The id of `bytes[start..<end]`, whose FNV-1a hash is `hash`, or -1.
    @inline(__always)
    func lookup(_ bytes: UnsafePointer<UInt8>, start: Int, end: Int, hash: UInt32) -> Int32 {
        let length = end - start
        var slot = Int(hash) & mask
        while true {
            let entry = Int(slotEntry[slot])
            if entry < 0 { return -1 }
            if slotHash[slot] == hash {
                let keyOffset = Int(keyStart[entry])
                if Int(keyStart[entry + 1]) - keyOffset == length
                    && memoryEqual(keyBytes + keyOffset, bytes + start, length) {
                    return ids[entry]
                }
            }
            slot = (slot + 1) & mask
        }
    }

    /// The id of a whole key, or nil.
    func id(of key: [UInt8]) -> Int32? {
        key.withUnsafeBufferPointer { buf -> Int32? in
            guard let base = buf.baseAddress else { return nil }
            let id = lookup(base, start: 0, end: buf.count, hash: Self.hash(buf))
            return id >= 0 ? id : nil
        }
    }
}

@inline(__always)
private func memoryEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    var i = 0
    while i < n {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
