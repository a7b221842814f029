/// Errors from loading a WordPiece vocab or encoding with it; each names the file or argument at fault.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The vocab file could not be read.
    case vocabUnreadable(file: String, reason: String)
    /// The vocab file is not valid UTF-8.
    case vocabNotUTF8(file: String)
    /// A line of the vocab (1-based) is empty; ids are line indices, so the file is probably damaged.
    case vocabEmptyLine(file: String, line: Int)
    /// A token appears twice in the vocab (1-based line of the second occurrence).
    case vocabDuplicateToken(file: String, line: Int, token: String)
    /// A special token the tokenizer needs ([UNK], [CLS], [SEP], [PAD]) is not in the vocab.
    case vocabMissingToken(file: String, token: String)
    /// `maxLength` cannot hold the special tokens ([CLS] and [SEP] need 2).
    case maxLengthTooSmall(maxLength: Int, minimum: Int)
    /// An id passed to `decode` is outside the vocab.
    case unknownID(id: Int32, vocabSize: Int)

    public var description: String {
        switch self {
        case let .vocabUnreadable(file, reason):
            return "\(file): cannot read vocab: \(reason)"
        case let .vocabNotUTF8(file):
            return "\(file): vocab is not valid UTF-8"
        case let .vocabEmptyLine(file, line):
            return "\(file):\(line): empty token in vocab (expected one token per line)"
        case let .vocabDuplicateToken(file, line, token):
            return "\(file):\(line): duplicate vocab token \"\(token)\""
        case let .vocabMissingToken(file, token):
            return "\(file): vocab lacks the special token \(token)"
        case let .maxLengthTooSmall(maxLength, minimum):
            return "maxLength \(maxLength) is too small: the special tokens need at least \(minimum)"
        case let .unknownID(id, vocabSize):
            return "token id \(id) is outside the vocab (0..<\(vocabSize))"
        }
    }
}
