import Foundation

/// BERT's uncased WordPiece tokenizer, giving the same ids as HF `tokenizers`' `BertWordPieceTokenizer`
/// (and `BertTokenizerFast`) with lower-casing: BERT normalisation and pre-tokenisation (`BertWords`), then
/// greedy longest-match-first WordPiece with `##` continuations; a word of more than 100 scalars, or one
/// with no match, becomes a single [UNK]. The special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) written
/// verbatim in the text are kept as single tokens, as HF's added tokens are.
///
///     let tokenizer = try WordPieceTokenizer.bertBaseUncased()
///     tokenizer.tokenize("Slim-fit jeans")             // ["slim", "-", "fit", "jeans"]
///     try tokenizer.encode("Slim-fit jeans")           // [101, 11754, 1011, 4906, 6312, 102]
public struct WordPieceTokenizer: Sendable {
    /// Longer words (in Unicode scalars) become [UNK], as in BERT.
    public static let maxInputCharsPerWord = 100

    let vocab: WordPieceVocab

    /// Loads a vocab file (one token per line, id = line index); errors name the file.
    public init(vocabFile path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TokenizerError.vocabUnreadable(file: path, reason: error.localizedDescription)
        }
        guard let text = String(bytes: data, encoding: .utf8) else {
            throw TokenizerError.vocabNotUTF8(file: path)
        }
        try self.init(vocabText: text, name: path)
    }

    /// Builds a tokenizer from vocab text; `name` is what errors call it.
    public init(vocabText: String, name: String = "<vocab text>") throws {
        vocab = try WordPieceVocab(text: vocabText, name: name)
    }

    /// The embedded `bert-base-uncased` vocab (30,522 tokens), parsed once.
    public static func bertBaseUncased() throws -> WordPieceTokenizer {
        try embedded.get()
    }

    private static let embedded = Result {
        try WordPieceTokenizer(vocabText: BertUncasedVocab.text, name: BertUncasedVocab.name)
    }

    public var vocabSize: Int { vocab.tokens.count }
    /// The vocab's tokens by id (write them one per line to get a `vocab.txt`).
    public var vocabTokens: [String] { vocab.tokens }
    public var clsID: Int32 { vocab.cls }
    public var sepID: Int32 { vocab.sep }
    public var padID: Int32 { vocab.pad }
    public var unkID: Int32 { vocab.unk }

    /// The id of a vocab token written exactly (e.g. "[MASK]", "##ing"), or nil.
    public func id(of token: String) -> Int32? {
        vocab.words.id(of: Array(token.utf8))
    }

    /// The WordPiece tokens of `text`, without special tokens: `"Denim!"` gives `["denim", "!"]`.
    public func tokenize(_ text: String) -> [String] {
        var ids: [Int32] = []
        var words = BertWords()
        appendIDs(of: text, to: &ids, words: &words)
        return ids.map { vocab.tokens[Int($0)] }
    }

    /// The ids of `text`, as `[CLS] pieces [SEP]` when `addSpecialTokens`. With `maxLength`, pieces are cut
    /// from the end so the whole, special tokens included, fits; it throws when `maxLength` cannot hold the
    /// special tokens.
    public func encode(_ text: String, maxLength: Int? = nil, addSpecialTokens: Bool = true) throws -> [Int32] {
        var words = BertWords()
        return try encode(text, maxLength: maxLength, addSpecialTokens: addSpecialTokens, words: &words)
    }

    /// Encodes every text and pads each row with [PAD] to `length` (truncating longer ones as `encode`
    /// does), or, when `length` is nil, to the longest row.
    public func encodeBatch(_ texts: [String], length: Int? = nil, addSpecialTokens: Bool = true) throws -> TokenBatch {
        var words = BertWords()
        let rows = try texts.map {
            try encode($0, maxLength: length, addSpecialTokens: addSpecialTokens, words: &words)
        }
        return TokenBatch(rows: rows, length: length ?? rows.map(\.count).max() ?? 0, padID: vocab.pad)
    }

    /// The tokens of `ids`, for debugging; throws on an id outside the vocab.
    public func decode(_ ids: [Int32]) throws -> [String] {
        try ids.map { id in
            guard id >= 0, Int(id) < vocab.tokens.count else {
                throw TokenizerError.unknownID(id: id, vocabSize: vocab.tokens.count)
            }
            return vocab.tokens[Int(id)]
        }
    }

    private func encode(
        _ text: String, maxLength: Int?, addSpecialTokens: Bool, words: inout BertWords
    ) throws -> [Int32] {
        let reserved = addSpecialTokens ? 2 : 0
        if let maxLength, maxLength < reserved || maxLength < 0 {
            throw TokenizerError.maxLengthTooSmall(maxLength: maxLength, minimum: reserved)
        }
        var ids: [Int32] = []
        if addSpecialTokens { ids.append(vocab.cls) }
        appendIDs(of: text, to: &ids, words: &words)
        if let maxLength {
            let keep = maxLength - (addSpecialTokens ? 1 : 0)
            if ids.count > keep { ids.removeLast(ids.count - keep) }
        }
        if addSpecialTokens { ids.append(vocab.sep) }
        return ids
    }

    /// Appends the ids of `text` (no [CLS]/[SEP]), splitting first at special tokens written in the text.
    func appendIDs(of text: String, to ids: inout [Int32], words: inout BertWords) {
        var text = text
        text.withUTF8 { utf8 in
            guard let base = utf8.baseAddress else { return }
            var segmentStart = 0
            var i = 0
            while i < utf8.count {
                if utf8[i] == 0x5B, let special = specialToken(at: i, in: utf8) {  // "["
                    appendSegment(UnsafeBufferPointer(rebasing: utf8[segmentStart..<i]), to: &ids, words: &words)
                    ids.append(special.id)
                    i += special.length
                    segmentStart = i
                } else {
                    i += 1
                }
            }
            appendSegment(UnsafeBufferPointer(start: base + segmentStart, count: utf8.count - segmentStart),
                          to: &ids, words: &words)
        }
    }

    private func specialToken(at i: Int, in utf8: UnsafeBufferPointer<UInt8>) -> (id: Int32, length: Int)? {
        for special in vocab.specials where utf8.count - i >= special.bytes.count {
            if special.bytes.indices.allSatisfy({ utf8[i + $0] == special.bytes[$0] }) {
                return (special.id, special.bytes.count)
            }
        }
        return nil
    }

    private func appendSegment(_ utf8: UnsafeBufferPointer<UInt8>, to ids: inout [Int32], words: inout BertWords) {
        guard !utf8.isEmpty else { return }
        words.removeAll()
        words.append(utf8: utf8)
        WordPieceMatcher(vocab: vocab).appendPieces(of: words, to: &ids)
    }
}
