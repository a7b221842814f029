// libFuzzer entry: WordPiece (bert-base-uncased) on arbitrary bytes as UTF-8 text, encode and decode back.
nonisolated(unsafe) let tokenizer = try? WordPieceTokenizer.bertBaseUncased()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let tokenizer else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let ids = try? tokenizer.encode(text, maxLength: 64) { _ = try? tokenizer.decode(ids) }
    _ = tokenizer.tokenize(text)
    return 0
}
