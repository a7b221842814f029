import Foundation

/// The words of a text after BERT's normalisation and pre-tokenisation, as UTF-8 in one reusable buffer.
///
/// Normalisation (HF BertNormalizer, uncased): remove NUL, U+FFFD and control characters; white space
/// becomes a space; CJK ideographs get spaces around them; NFD, then nonspacing marks are dropped; then
/// each scalar is lower-cased (full mapping, no context, as Rust's `char::to_lowercase`). Pre-tokenisation
/// (BertPreTokenizer): split at white space, and make each punctuation character a word of its own.
/// Everything works on Unicode scalars (never `Character`); pure-ASCII text takes a byte-level fast path.
struct BertWords {
    /// UTF-8 of all words, back to back.
    private(set) var bytes: [UInt8] = []
    /// End offset in `bytes` of each word; word i starts at `ends[i - 1]` (or 0).
    private(set) var ends: [Int] = []
    /// Unicode scalar count of each word (HF's "characters", for the 100-character limit).
    private(set) var scalarCounts: [Int] = []
    private var wordScalars = 0
    private var cleaned: [Unicode.Scalar] = []
    private var decomposed: [Unicode.Scalar] = []

    var count: Int { ends.count }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        scalarCounts.removeAll(keepingCapacity: true)
        wordScalars = 0
    }

    /// Normalises and splits `utf8` (valid UTF-8), appending its words.
    mutating func append(utf8: UnsafeBufferPointer<UInt8>) {
        var high: UInt8 = 0
        for b in utf8 { high |= b }
        if high < 0x80 {
            for b in utf8 { appendASCII(b) }
        } else {
            appendUnicode(utf8)
        }
        endWord()
    }

    /// One ASCII byte: a letter or digit of the current word, a break, punctuation, or a removed control.
    @inline(__always)
    private mutating func appendASCII(_ b: UInt8) {
        switch b {
        case 0x41...0x5A:  // A-Z
            bytes.append(b | 0x20)
            wordScalars += 1
        case 0x61...0x7A, 0x30...0x39:  // a-z 0-9
            bytes.append(b)
            wordScalars += 1
        case 0x20, 0x09, 0x0A, 0x0D:
            endWord()
        case 0x00...0x1F, 0x7F:  // other controls: removed without breaking the word
            break
        default:  // the rest of 0x21...0x7E is punctuation for BERT
            endWord()
            bytes.append(b)
            wordScalars = 1
            endWord()
        }
    }

    @inline(__always)
    private mutating func endWord() {
        if wordScalars > 0 {
            ends.append(bytes.count)
            scalarCounts.append(wordScalars)
            wordScalars = 0
        }
    }

    private mutating func appendUnicode(_ utf8: UnsafeBufferPointer<UInt8>) {
        // 1. Clean and space out CJK.
        cleaned.removeAll(keepingCapacity: true)
        for s in String(decoding: utf8, as: UTF8.self).unicodeScalars {
            if s.value < 0x80 {
                switch s.value {
                case 0x09, 0x0A, 0x0D: cleaned.append(" ")
                case 0x00...0x1F, 0x7F: continue
                default: cleaned.append(s)
                }
            } else if BertCharClass.isRemoved(s) {
                continue
            } else if BertCharClass.isWhitespace(s) {
                cleaned.append(" ")
            } else if BertCharClass.isCJK(s) {
                cleaned.append(" ")
                cleaned.append(s)
                cleaned.append(" ")
            } else {
                cleaned.append(s)
            }
        }
        // 2. NFD, run by run: characters HF's tables do not know are left alone and act as starters.
        decomposed.removeAll(keepingCapacity: true)
        var runStart = 0
        var runNeedsNFD = false
        for (i, s) in cleaned.enumerated() where s.value >= 0xC0 {
            if BertCharClass.isKnownToNFD(s) {
                if !BertCharClass.hasNoDecomposition(s) { runNeedsNFD = true }
            } else {
                appendDecomposed(cleaned[runStart..<i], runNeedsNFD)
                decomposed.append(s)
                runStart = i + 1
                runNeedsNFD = false
            }
        }
        appendDecomposed(cleaned[runStart...], runNeedsNFD)
        // 3. Strip accents, lower-case, split.
        for s in decomposed {
            if s.value < 0x80 {
                appendASCII(UInt8(s.value))
            } else if BertCharClass.isStrippedMark(s) {
                continue
            } else if s.properties.changesWhenLowercased {
                for lower in s.properties.lowercaseMapping.unicodeScalars { appendSplit(lower) }
            } else {
                appendSplit(s)
            }
        }
    }

    private mutating func appendDecomposed(_ run: ArraySlice<Unicode.Scalar>, _ needsNFD: Bool) {
        guard needsNFD else {
            decomposed.append(contentsOf: run)
            return
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: run)
        decomposed.append(contentsOf: String(view).decomposedStringWithCanonicalMapping.unicodeScalars)
    }

    /// A normalised scalar: word break, punctuation word, or part of the current word.
    private mutating func appendSplit(_ s: Unicode.Scalar) {
        if s.value < 0x80 {
            appendASCII(UInt8(s.value))
        } else if BertCharClass.isWhitespace(s) {
            endWord()
        } else if BertCharClass.isPunctuation(s) {
            endWord()
            appendScalarBytes(s)
            wordScalars = 1
            endWord()
        } else {
            appendScalarBytes(s)
            wordScalars += 1
        }
    }

    @inline(__always)
    private mutating func appendScalarBytes(_ s: Unicode.Scalar) {
        UTF8.encode(s) { bytes.append($0) }
    }
}
