/// Token ids of several texts padded to one length, row-major, with the attention mask.
public struct TokenBatch: Equatable, Sendable {
    /// Number of texts.
    public let rows: Int
    /// Ids per row, padding included.
    public let length: Int
    /// `rows * length` ids; each row is padded on the right with [PAD].
    public let ids: [Int32]
    /// `rows * length` values: 1 for a real token, 0 for padding.
    public let attentionMask: [Int32]

    /// Pads (or, for rows longer than `length`, cuts) `rows` to `length`.
    init(rows encoded: [[Int32]], length: Int, padID: Int32) {
        rows = encoded.count
        self.length = length
        var ids: [Int32] = []
        var mask: [Int32] = []
        ids.reserveCapacity(encoded.count * length)
        mask.reserveCapacity(encoded.count * length)
        for row in encoded {
            let kept = min(row.count, length)
            ids.append(contentsOf: row.prefix(kept))
            ids.append(contentsOf: repeatElement(padID, count: length - kept))
            mask.append(contentsOf: repeatElement(1, count: kept))
            mask.append(contentsOf: repeatElement(0, count: length - kept))
        }
        self.ids = ids
        attentionMask = mask
    }

    /// The ids of row `index`.
    public func ids(row index: Int) -> ArraySlice<Int32> {
        ids[index * length..<(index + 1) * length]
    }

    /// The attention mask of row `index`.
    public func attentionMask(row index: Int) -> ArraySlice<Int32> {
        attentionMask[index * length..<(index + 1) * length]
    }
}
