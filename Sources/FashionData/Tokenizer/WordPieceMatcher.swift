/// Greedy longest-match-first WordPiece over the words of `BertWords`.
///
/// For each word, from the current position, try the longest candidate first (at most the longest vocab
/// token, ending on a scalar boundary); pieces after the first are looked up as `##` continuations. The
/// FNV-1a hashes of all candidates from one position come from a single pass over the bytes.
struct WordPieceMatcher {
    let vocab: WordPieceVocab

    func appendPieces(of words: BertWords, to ids: inout [Int32]) {
        let unk = vocab.unk
        let first = vocab.words
        let rest = vocab.continuations
        let maxLength = max(first.maxKeyLength, rest.maxKeyLength)
        let ends = words.ends
        let scalarCounts = words.scalarCounts
        words.bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: maxLength + 1) { hashes in
                var wordStart = 0
                for w in 0..<ends.count {
                    let wordEnd = ends[w]
                    defer { wordStart = wordEnd }
                    if scalarCounts[w] > WordPieceTokenizer.maxInputCharsPerWord {
                        ids.append(unk)
                        continue
                    }
                    let mark = ids.count
                    var start = wordStart
                    while start < wordEnd {
                        let table = start == wordStart ? first : rest
                        let limit = min(wordEnd - start, table.maxKeyLength)
                        var h = ByteKeyTable.seed
                        for k in 0..<limit {
                            h = ByteKeyTable.extend(h, base[start + k])
                            hashes[k + 1] = h
                        }
                        var length = limit
                        var found: Int32 = -1
                        while length > 0 {
                            let end = start + length
                            if end == wordEnd || base[end] & 0xC0 != 0x80 {
                                found = table.lookup(base, start: start, end: end, hash: hashes[length])
                                if found >= 0 { break }
                            }
                            length -= 1
                        }
                        if found < 0 {
                            ids.removeSubrange(mark...)
                            ids.append(unk)
                            break
                        }
                        ids.append(found)
                        start += length
                    }
                }
            }
        }
    }
}
