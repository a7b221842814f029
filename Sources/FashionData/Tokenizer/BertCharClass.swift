/// BERT's character classes for non-ASCII scalars, as HF `tokenizers` (BertNormalizer, BertPreTokenizer)
/// computes them; ASCII is handled inline by `BertWords`.
///
/// HF takes general categories from the `unicode_categories` crate, whose tables are Unicode 8.0: marks,
/// punctuation and control/format characters assigned later are neither stripped, split nor removed, and
/// its NFD tables decompose no later character. White space and lower-casing come from Rust's std (current
/// Unicode). We use Swift's current tables restricted to characters of age <= 8.0, plus the characters
/// whose category changed since 8.0 (listed below; found by `testEveryCodePointMatchesHF`).
enum BertCharClass {
    /// Assigned in Unicode 8.0 or earlier, i.e. known to HF's category tables.
    @inline(__always)
    static func isInUnicode8(_ s: Unicode.Scalar) -> Bool {
        guard let age = s.properties.age else { return false }
        return age.major < 8 || (age.major == 8 && age.minor == 0)
    }

    /// Removed by BERT's text cleaning: NUL, U+FFFD, and "control" (Cc, Cf, Co) other than \t \n \r.
    static func isRemoved(_ s: Unicode.Scalar) -> Bool {
        if s.value == 0 || s.value == 0xFFFD { return true }
        if s.value == 0x09 || s.value == 0x0A || s.value == 0x0D { return false }
        switch s.properties.generalCategory {
        case .control, .format, .privateUse: return isInUnicode8(s)
        default: return false
        }
    }

    /// White space (Rust's `char::is_whitespace`, the White_Space property): becomes a word break.
    @inline(__always)
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s.properties.isWhitespace
    }

    /// A "Chinese character": HF's CJK ranges (its 0x2B920 start differs from the Python BertTokenizer's 0x2B820).
    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Dropped by accent stripping after NFD: a nonspacing mark (Mn) in HF's Unicode 8.0 tables.
    static func isStrippedMark(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x1734, 0x1171E: return true  // Mn in 8.0, Mc now
        case 0x1885, 0x1886, 0xA9BD, 0x111C9: return false  // Lo, Lo, Mc, Po in 8.0; Mn now
        default: return s.properties.generalCategory == .nonspacingMark && isInUnicode8(s)
        }
    }

    /// Split off as its own word: punctuation (Pc Pd Ps Pe Pi Pf Po) in HF's Unicode 8.0 tables.
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        if s.value == 0x166D || s.value == 0x111C9 { return true }  // Po in 8.0; So and Mn now
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return isInUnicode8(s)
        default:
            return false
        }
    }

    /// A quick test for the common scalars NFD leaves alone (the main CJK ideograph blocks).
    @inline(__always)
    static func hasNoDecomposition(_ s: Unicode.Scalar) -> Bool {
        (0x4E00...0x9FFF).contains(s.value) || (0x3400...0x4DBF).contains(s.value)
    }

    /// Decomposed by HF's NFD tables (nothing assigned after Unicode 8.0 is).
    @inline(__always)
    static func isKnownToNFD(_ s: Unicode.Scalar) -> Bool {
        isInUnicode8(s)
    }
}
