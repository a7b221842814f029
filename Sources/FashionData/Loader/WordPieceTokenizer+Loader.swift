// Plugs the BERT WordPiece tokenizer into the loader.

extension WordPieceTokenizer {
    /// `[CLS] pieces [SEP]` cut to the loader's text length. The loader checks that length ≥ 2, the only case
    /// in which `encode` throws; should it ever throw, the caption becomes `[CLS] [SEP]`.
    public var captionTokenizer: CaptionTokenizer {
        let tokenizer = self
        return { text, maxLength in
            (try? tokenizer.encode(text, maxLength: maxLength, addSpecialTokens: true))
                ?? [tokenizer.clsID, tokenizer.sepID]
        }
    }
}
