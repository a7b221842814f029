/// A WordPiece vocab: one token per line, id = line index (0-based), as BERT's `vocab.txt`.
///
/// Holds two byte-keyed tables: every token as written, and the `##` continuation tokens with the `##`
/// stripped, so the tokenizer looks up a word's inner pieces without building `"##" + piece`.
struct WordPieceVocab: Sendable {
    static let continuationPrefix: [UInt8] = Array("##".utf8)

    /// Token text by id.
    let tokens: [String]
    let words: ByteKeyTable
    let continuations: ByteKeyTable
    let unk: Int32
    let cls: Int32
    let sep: Int32
    let pad: Int32
    /// The special tokens matched verbatim in input text (as HF's added tokens): [PAD] [UNK] [CLS] [SEP] [MASK].
    let specials: [(bytes: [UInt8], id: Int32)]

    /// Parses vocab text. `name` is the file named in errors. Trailing spaces, tabs and CRs on a line are
    /// ignored (as HF's `WordPiece::read_file` trims them); a final newline is optional.
    init(text: String, name: String) throws {
        let bytes = Array(text.utf8)
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = 0
        for (i, b) in bytes.enumerated() where b == 0x0A {
            lines.append(bytes[lineStart..<i])
            lineStart = i + 1
        }
        if lineStart < bytes.count { lines.append(bytes[lineStart...]) }
        var tokens: [String] = []
        tokens.reserveCapacity(lines.count)
        var keys: [ArraySlice<UInt8>] = []
        keys.reserveCapacity(lines.count)
        for (index, line) in lines.enumerated() {
            var end = line.endIndex
            while end > line.startIndex, [0x20, 0x09, 0x0D].contains(line[end - 1]) { end -= 1 }
            let key = line[line.startIndex..<end]
            if key.isEmpty { throw TokenizerError.vocabEmptyLine(file: name, line: index + 1) }
            keys.append(key)
            tokens.append(String(decoding: key, as: UTF8.self))
        }
        var seen = Set<ArraySlice<UInt8>>(minimumCapacity: keys.count)
        for (index, key) in keys.enumerated() where !seen.insert(key).inserted {
            throw TokenizerError.vocabDuplicateToken(file: name, line: index + 1, token: tokens[index])
        }
        words = ByteKeyTable(keys: keys, ids: (0..<Int32(keys.count)).map { $0 })
        var continuationKeys: [ArraySlice<UInt8>] = []
        var continuationIDs: [Int32] = []
        for (index, key) in keys.enumerated() where key.starts(with: Self.continuationPrefix) {
            continuationKeys.append(key.dropFirst(Self.continuationPrefix.count))
            continuationIDs.append(Int32(index))
        }
        continuations = ByteKeyTable(keys: continuationKeys, ids: continuationIDs)
        self.tokens = tokens

        let table = words
        func required(_ token: String) throws -> Int32 {
            guard let id = table.id(of: Array(token.utf8)) else {
                throw TokenizerError.vocabMissingToken(file: name, token: token)
            }
            return id
        }
        unk = try required("[UNK]")
        cls = try required("[CLS]")
        sep = try required("[SEP]")
        pad = try required("[PAD]")
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { token in
            let bytes = Array(token.utf8)
            return table.id(of: bytes).map { (bytes, $0) }
        }
    }
}
