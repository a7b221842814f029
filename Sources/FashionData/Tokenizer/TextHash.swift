/// The identity of a text for "same description" tests (SyncMask's multi-positive targets, spec §2): FNV-1a 64
/// of the lower-cased text with runs of whitespace collapsed to one space and the ends trimmed, masked to 62
/// bits so that it is never negative (−100 marks an empty queue slot).
public enum TextHash {
    public static func of(_ text: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var pendingSpace = false, started = false
        func feed(_ bytes: String.UTF8View) {
            for b in bytes {
                hash ^= UInt64(b)
                hash &*= 0x0000_0100_0000_01B3
            }
        }
        for ch in text.lowercased() {
            if ch.isWhitespace {
                pendingSpace = started
                continue
            }
            if pendingSpace { feed(" ".utf8); pendingSpace = false }
            feed(String(ch).utf8)
            started = true
        }
        return Int64(bitPattern: hash & 0x3FFF_FFFF_FFFF_FFFF)
    }
}
