import ArgumentParser
import Dispatch
import FashionData
import FashionTrain
import Foundation

/// `fashionvl bench tokenizer`: WordPiece tokens/s on one thread, Swift vs HF `tokenizers` (Rust) on the same strings.
struct BenchTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Times bert-base-uncased WordPiece encoding on one thread against HF tokenizers' BertWordPieceTokenizer.")

    @Option(help: "JSONL file of {\"text\": …} lines (default: the tokenizer goldens, when run from the repo, plus generated product descriptions).")
    var strings: String?
    @Option(name: .customLong("repeat"), help: "Timed passes over the corpus per side (the median pass counts).")
    var passes = 5
    @Option(help: "Generated descriptions in the default corpus.")
    var generated = 12_000

    static let goldenPath = "Tests/reference/goldens/tokenizer_strings.jsonl"

    func validate() throws {
        guard passes > 0, generated >= 0 else { throw ValidationError("--repeat must be positive and --generated not negative") }
    }

    func run() throws {
        let corpus = try loadCorpus()
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        var tokens = 0
        var seconds: [Double] = []
        for pass in 0...passes {  // pass 0 warms up
            let start = DispatchTime.now().uptimeNanoseconds
            var count = 0
            for text in corpus { count += try tokenizer.encode(text).count }
            if pass > 0 { seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
            tokens = count
        }
        let swiftRate = Double(tokens) / median(seconds)
        let hf = try huggingFaceRate(corpus: corpus, tokenizer: tokenizer, swiftTokens: tokens)
        let out: [String: Any] = [
            "tokens_per_s": swiftRate.rounded(), "hf_tokens_per_s": hf.map { $0.rounded() } ?? NSNull(),
            "ratio": hf.map { round3(swiftRate / $0) } ?? NSNull(), "strings": corpus.count, "tokens": tokens,
            "bytes": corpus.reduce(0) { $0 + $1.utf8.count }, "repeat": passes,
        ]
        let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    private struct Line: Decodable { let text: String }

    private func loadCorpus() throws -> [String] {
        var corpus: [String] = []
        let file = strings ?? (FileManager.default.fileExists(atPath: Self.goldenPath) ? Self.goldenPath : nil)
        if let file {
            let text: String
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw ValidationError("\(file): cannot read: \(error.localizedDescription)")
            }
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.allSatisfy(\.isWhitespace) {
                guard let entry = try? JSONDecoder().decode(Line.self, from: Data(line.utf8)) else {
                    throw ValidationError("\(file):\(number + 1): expected a JSON object with a string field \"text\"")
                }
                corpus.append(entry.text)
            }
        }
        if strings == nil { corpus += ProductDescriptions.generate(count: generated, seed: 42) }
        return corpus
    }

    /// HF's tokens/s on the same strings (a python3 subprocess), or nil when `tokenizers` is not importable.
    private func huggingFaceRate(corpus: [String], tokenizer: WordPieceTokenizer, swiftTokens: Int) throws -> Double? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fashionvl-bench-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let stringsFile = dir.appendingPathComponent("strings.jsonl"), vocabFile = dir.appendingPathComponent("vocab.txt")
        let lines = try corpus.map { String(decoding: try JSONSerialization.data(withJSONObject: ["text": $0]), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(to: stringsFile, atomically: true, encoding: .utf8)
        try (tokenizer.vocabTokens.joined(separator: "\n") + "\n").write(to: vocabFile, atomically: true, encoding: .utf8)
        setenv("TOKENIZERS_PARALLELISM", "false", 1)
        setenv("RAYON_NUM_THREADS", "1", 1)
        let worker: PythonWorker
        let reply: [String: Any]
        do {
            worker = try PythonWorker(source: Self.pythonSource, arguments: [stringsFile.path, vocabFile.path])
            _ = worker  // kept alive until the end of this function
            _ = try worker.request("1")  // warm-up
            reply = (try JSONSerialization.jsonObject(with: Data(try worker.request(String(passes)).utf8)) as? [String: Any]) ?? [:]
        } catch {
            FileHandle.standardError.write(Data("note: no HF reference: \(error)\n".utf8))
            return nil
        }
        guard let times = reply["times"] as? [Double], let tokens = reply["tokens"] as? Int, !times.isEmpty else {
            FileHandle.standardError.write(Data("note: no HF reference: \(reply["error"] ?? reply)\n".utf8))
            return nil
        }
        if tokens != swiftTokens {
            FileHandle.standardError.write(Data("warning: HF counted \(tokens) tokens, Swift \(swiftTokens)\n".utf8))
        }
        return Double(tokens) / median(times)
    }

    static let pythonSource = """
    import json, sys, time
    try:
        from tokenizers import BertWordPieceTokenizer
    except Exception as e:
        print(json.dumps({"error": "tokenizers not importable: %s" % e}), flush=True)
        sys.exit(0)
    strings = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8")]
    tok = BertWordPieceTokenizer(sys.argv[2], lowercase=True)
    for request in sys.stdin:
        times, tokens = [], 0
        for _ in range(int(request)):
            start = time.perf_counter()
            encodings = tok.encode_batch(strings)  # sequential: TOKENIZERS_PARALLELISM=false
            times.append(time.perf_counter() - start)
            tokens = sum(len(e.ids) for e in encodings)
        print(json.dumps({"times": times, "tokens": tokens}), flush=True)
    """
}

/// Deterministic product descriptions for the tokenizer benchmark (a few accents, units and prices).
enum ProductDescriptions {
    static let adjectives = ["Slim", "Relaxed", "Oversized", "Cropped", "Tailored", "Distressed", "Vintage", "Pleated",
                             "Quilted", "Ribbed", "Embroidered", "High-waisted", "Double-breasted", "Garment-dyed",
                             "Water-repellent", "Matelassé", "Bouclé", "Brushed"]
    static let colours = ["black", "white", "navy", "ecru", "beige", "khaki", "olive", "burgundy", "ivory", "charcoal",
                          "off-white", "sky-blue", "café au lait", "bordeaux"]
    static let materials = ["cotton", "linen", "silk", "wool", "cashmere", "denim", "leather", "suede", "nylon",
                            "polyester", "viscose", "crêpe", "satin", "velvet", "jersey", "twill", "poplin", "tweed"]
    static let garments = ["T-shirt", "shirt", "blouse", "dress", "skirt", "jeans", "trousers", "jacket", "coat",
                           "parka", "blazer", "sweater", "cardigan", "hoodie", "sneakers", "boots", "loafers", "tote bag"]
    static let details = ["two side pockets", "a concealed zip fastening", "tonal stitching", "a spread collar",
                          "ribbed cuffs and hem", "a drawstring waist", "logo embroidery at chest", "raw-edge hems",
                          "gold-tone hardware", "a 38\" inseam", "adjustable straps", "a relaxed, boxy silhouette",
                          "mother-of-pearl buttons", "a 100 % recycled lining"]
    static let endings = ["Machine wash at 30°C.", "Dry clean only.", "Hand wash cold; lay flat to dry.",
                          "Model is 1.78 m / 5'10\" and wears size M.", "Made in Portugal.", "Fabriqué en France.",
                          "Designed in Paris — made in Morocco.", "Imported."]

    static func generate(count: Int, seed: UInt64) -> [String] {
        var state = seed
        func next(_ n: Int) -> Int {  // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(n))
        }
        func pick(_ list: [String]) -> String { list[next(list.count)] }
        return (0..<count).map { _ in
            var parts = ["\(pick(adjectives)) \(pick(colours)) \(pick(materials)) \(pick(garments)) with \(pick(details)) and \(pick(details)).",
                         "\(30 + next(71))% \(pick(materials)), \(next(71))% \(pick(materials))."]
            for _ in 0..<next(4) { parts.append(pick(endings)) }
            if next(4) == 0 { parts.append("Ref. \(1000 + next(99_000))/\(pick(["A", "B", "C", "D"]))\(next(99)) — €\(20 + next(2000)),\(next(10))9") }
            return parts.joined(separator: " ")
        }
    }
}
