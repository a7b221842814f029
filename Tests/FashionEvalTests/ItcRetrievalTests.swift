import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch
import XCTest
@testable import FashionEval

/// A dual encoder made of fixed random projections, as a test double for SyncMask: image embedding = the
/// normalised pixels (flattened) times a fixed matrix; text embedding = the normalised sum of a fixed random
/// vector per token id (padding masked out); P(match) = sigmoid(−4·cosine), i.e. the reverse of the ITC order,
/// so that ITM re-ranking visibly reorders the ITC top k.
final class ProjectionEncoder: DualEncoder {
    let imageSize: Int
    let textLength: Int
    let embeddingDim: Int
    let imageProjection: Tensor
    let tokenTable: Tensor
    /// Images and texts seen by the embedding functions, and pairs seen by the ITM head.
    var imagesEmbedded = 0, textsEmbedded = 0, pairsMatched = 0
    /// Throw on the embedding call after this many images (to test failures).
    var failAfterImages: Int?

    static let vocab = 30_522

    init(imageSize: Int = 16, textLength: Int = 12, embeddingDim: Int = 8, seed: UInt64 = 1) throws {
        self.imageSize = imageSize
        self.textLength = textLength
        self.embeddingDim = embeddingDim
        var rng = SeededRNG(seed: seed)
        let p = (0..<(3 * imageSize * imageSize * embeddingDim)).map { _ in Float(rng.uniform(-1, 1)) }
        imageProjection = try Tensor(p, shape: [3 * imageSize * imageSize, embeddingDim])
        let t = (0..<(Self.vocab * embeddingDim)).map { _ in Float(rng.uniform(-1, 1)) }
        tokenTable = try Tensor(t, shape: [Self.vocab, embeddingDim])
    }

    /// The weights as a safetensors state dict (what the registered opener reads back).
    func save(to path: String) throws {
        try SafeTensors.save([("image_projection", imageProjection), ("token_table", tokenTable),
                              ("optimizer.step", Tensor([Float(3)]))], to: path)
    }

    init(weights path: String, imageSize: Int, textLength: Int) throws {
        let t = try SafeTensors.load(path).tensors
        guard let p = t["image_projection"], let tt = t["token_table"] else {
            throw EvalError.invalidArgument("\(path): no projection weights")
        }
        self.imageSize = imageSize
        self.textLength = textLength
        embeddingDim = p.shape[1]
        imageProjection = p
        tokenTable = tt
    }

    private func normalised(_ x: Tensor) throws -> Tensor { try x / x.norm(p: 2, dims: [1], keepdim: true) }

    func imageEmbeddings(_ images: Tensor) throws -> Tensor {
        let b = images.shape[0]
        if let limit = failAfterImages, imagesEmbedded + b > limit {
            throw EvalError.invalidArgument("ProjectionEncoder: failing on purpose after \(limit) images")
        }
        imagesEmbedded += b
        return try normalised(images.reshape([b, -1]).mm(imageProjection))
    }

    func textEmbeddings(ids: Tensor, attentionMask: Tensor) throws -> Tensor {
        textsEmbedded += ids.shape[0]
        let e = try Tensor.embedding(tokenTable, ids) * attentionMask.to(dtype: .float32).unsqueeze(2)
        return try normalised(e.sum(dims: [1]))
    }

    func matchProbabilities(images: Tensor, ids: Tensor, attentionMask: Tensor) throws -> Tensor? {
        pairsMatched += images.shape[0]
        let savedImages = imagesEmbedded, savedTexts = textsEmbedded
        defer { imagesEmbedded = savedImages; textsEmbedded = savedTexts }
        let cos = try (imageEmbeddings(images) * textEmbeddings(ids: ids, attentionMask: attentionMask)).sum(dims: [1])
        return try (cos * -4.0).sigmoid()
    }
}

final class ItcRetrievalTests: XCTestCase {
    static let imageSize = 16

    /// A Fashion-Gen file of `products` products (1–2 rows each, 3 subcategories in 2 categories) whose titles
    /// and descriptions are unique except that products 0–1, 2–3 and 4–5–6 share one title and description
    /// (Fashion-Gen's colours of one garment) unless `sharedTexts` is false.
    static func catalog(in dir: String, products: Int = 24, seed: UInt64 = 5, sharedTexts: Bool = true) throws -> String {
        let path = dir + "/catalog.h5"
        let writer = try FashionGenWriter(path: path, imageSize: imageSize)
        var rng = SeededRNG(seed: seed)
        let words = ["navy", "wool", "blazer", "linen", "shirt", "black", "leather", "boots", "silk", "scarf", "denim", "jacket"]
        func text(_ p: Int) -> (String, String) {
            let group = !sharedTexts ? p : p <= 1 ? 0 : p <= 3 ? 2 : p <= 6 ? 4 : p
            let title = "\(words[group % words.count]) \(words[(group * 7 + 3) % words.count]) \(group)"
            return (title, "a \(title) with \(words[(group * 5 + 1) % words.count]) details")
        }
        for p in 0..<products {
            let (title, description) = text(p)
            for pose in 0..<(p % 3 == 0 ? 2 : 1) {
                let pixels = (0..<(imageSize * imageSize * 3)).map { _ in UInt8(rng.int(0...255)) }
                try writer.append(FashionGenRecord(
                    image: pixels, name: title, description: description, category: p % 2 == 0 ? "TOPS" : "PANTS",
                    subcategory: ["A", "B", "C"][p % 3], pose: "id_gridfs_\(pose + 1)", productID: Int64(1000 + 3 * p)))
            }
        }
        try writer.finish()
        return path
    }

    private func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fvl-itc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    // MARK: Brute-force references, one pair at a time

    /// (3, S, S) floats in [0, 1] of a row, straight from the file's bytes (HWC → CHW, no resampling at equal size).
    private func pixels(_ file: FashionGenFile, _ row: Int) throws -> [Float] {
        let bytes = try file.image(row), s = Self.imageSize
        var out = [Float](repeating: 0, count: 3 * s * s)
        for y in 0..<s { for x in 0..<s { for c in 0..<3 { out[c * s * s + y * s + x] = Float(bytes[(y * s + x) * 3 + c]) / 255 } } }
        return out
    }

    private func ids(_ text: String, _ model: ProjectionEncoder) throws -> [Int64] {
        var ids = try WordPieceTokenizer.bertBaseUncased().encode(text, maxLength: model.textLength, addSpecialTokens: true).map(Int64.init)
        ids += [Int64](repeating: 0, count: model.textLength - ids.count)
        return ids
    }

    private func imageVector(_ model: ProjectionEncoder, _ file: FashionGenFile, _ row: Int) throws -> [Double] {
        let s = Self.imageSize
        return try model.imageEmbeddings(Tensor(pixels(file, row), shape: [1, 3, s, s])).toArray(Float.self).map(Double.init)
    }

    private func textVector(_ model: ProjectionEncoder, _ text: String) throws -> [Double] {
        let i = try ids(text, model)
        let t = try Tensor(i, shape: [1, model.textLength])
        return try model.textEmbeddings(ids: t, attentionMask: t.ne(0).to(dtype: .int64)).toArray(Float.self).map(Double.init)
    }

    private func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    private func itm(_ model: ProjectionEncoder, _ file: FashionGenFile, row: Int, text: String) throws -> Double {
        1 / (1 + exp(4 * dot(try imageVector(model, file, row), try textVector(model, text))))
    }

    /// Pessimistic and optimistic ranks, plainly: `correct[j]` marks candidates that count as the positive.
    private func bruteRanks(_ scores: [Double], correct: [Bool]) -> (Int, Int) {
        let s = zip(scores, correct).filter(\.1).map(\.0).max()!
        var pess = 1, opt = 1
        for (v, c) in zip(scores, correct) where !c {
            if v >= s { pess += 1 }
            if v > s { opt += 1 }
        }
        return (pess, opt)
    }

    /// The full protocol by brute force: an n × n table of single-pair scores.
    private func bruteFull(_ model: ProjectionEncoder, _ file: FashionGenFile, texts: [String], products: [(product: Int64, row: Int)],
                           ties: RetrievalTies, k: Int? = nil) throws -> [RetrievalDirection: QueryRanks] {
        let images = try products.map { try imageVector(model, file, $0.row) }
        let textVectors = try products.map { try textVector(model, texts[$0.row]) }
        let hashes = products.map { TextHash.of(texts[$0.row]) }
        var out: [RetrievalDirection: QueryRanks] = [:]
        for direction in RetrievalDirection.allCases {
            var ranks = QueryRanks(pessimistic: [], optimistic: [])
            for q in products.indices {
                var scores = products.indices.map { j in
                    direction == .tir ? dot(textVectors[q], images[j]) : dot(images[q], textVectors[j])
                }
                if let k {
                    let top = scores.indices.sorted { scores[$0] > scores[$1] }.prefix(k)
                    for j in top {
                        let (row, text) = direction == .tir ? (products[j].row, texts[products[q].row]) : (products[q].row, texts[products[j].row])
                        scores[j] = 3 + (try itm(model, file, row: row, text: text))
                    }
                }
                let correct = products.indices.map { j in j == q || (ties == .distinctText && hashes[j] == hashes[q]) }
                let (p, o) = bruteRanks(scores, correct: correct)
                ranks.pessimistic.append(p)
                ranks.optimistic.append(o)
            }
            out[direction] = ranks
        }
        return out
    }

    // MARK: Tests

    func testFullITCRanksEqualBruteForceInChunks() throws {
        let dir = try tempDir()
        let file = try FashionGenFile(path: Self.catalog(in: dir))
        let model = try ProjectionEncoder()
        let products = RetrievalEvaluation.fullProducts(productIDs: try file.productIDs, rows: nil)
        XCTAssertEqual(products.count, 24)
        for ties in RetrievalTies.allCases {
            let scorer = try ITCScorer(model: model, file: file, textField: .description, device: .cpu, batch: 5)
            scorer.blockElements = 5 * products.count  // 5 queries per block: several blocks, one partial
            XCTAssertEqual(scorer.fullQueryChunk(gallery: products.count), 5)
            let got = try RetrievalEvaluation.fullRanks(scorer: scorer, products: products, ties: ties, showProgress: false)
            let want = try bruteFull(model, file, texts: scorer.texts, products: products, ties: ties)
            XCTAssertEqual(got, want, "ties \(ties.rawValue)")
            XCTAssertEqual(scorer.embedded, 2 * products.count - 4, "each image once, each distinct text once (20 distinct texts)")
            XCTAssertEqual(scorer.pairsScored, 0, "ITC scores no pairs")
        }
        // Shared texts: under keep the ITR positive ties with its twin (same text, same embedding), so it loses the
        // pessimistic tie; distinct-text counts the twin as correct.
        let scorer = try ITCScorer(model: model, file: file, textField: .description, device: .cpu)
        let keep = try RetrievalEvaluation.fullRanks(scorer: scorer, products: products, ties: .keep, showProgress: false)[.itr]!
        let distinct = try RetrievalEvaluation.fullRanks(scorer: scorer, products: products, ties: .distinctText, showProgress: false)[.itr]!
        for q in 0..<2 {
            XCTAssertEqual(keep.pessimistic[q] - keep.optimistic[q], 1, "product \(q) ties with its twin under keep")
            XCTAssertEqual(distinct.pessimistic[q], distinct.optimistic[q])
        }
    }

    func testS100ITCScoresEqualBruteForceAndEmbedOnce() throws {
        let dir = try tempDir()
        let file = try FashionGenFile(path: Self.catalog(in: dir))
        let model = try ProjectionEncoder()
        let set = try S100Sampler(file: file).drawSet(seed: 3, draws: 2, queries: 10, negatives: 100, source: "catalog")
        let scorer = try ITCScorer(model: model, file: file, textField: .title, device: .cpu, batch: 7)
        scorer.blockElements = 40 * model.embeddingDim  // a few queries per dot-product chunk
        let (result, _) = try RetrievalEvaluation.s100(scorer: scorer, set: set, textField: .title,
                                                       labels: .init(method: "test", dataset: "catalog", split: "all"), showProgress: false)
        var needRows = Set<Int>(), needTexts = Set<String>()
        for d in set.draws {
            for q in d.queries {
                if d.direction == .tir { needTexts.insert(scorer.texts[q.queryRow]); needRows.formUnion(q.candidateRows) }
                else { needRows.insert(q.queryRow); needTexts.formUnion(q.candidateRows.map { scorer.texts[$0] }) }
            }
        }
        XCTAssertEqual(model.imagesEmbedded, needRows.count, "every needed image embedded exactly once")
        XCTAssertEqual(model.textsEmbedded, needTexts.count, "every needed distinct text embedded exactly once")

        var done = 0
        let embeddedOnce = scorer.embedded
        for (di, d) in set.draws.enumerated() {
            let got = try scorer.scores(d, progress: nil, done: &done)
            var wantRanks = QueryRanks(pessimistic: [], optimistic: [])
            for (q, scores) in zip(d.queries, got) {
                let want = try q.candidateRows.map { c -> Double in
                    d.direction == .tir ? dot(try textVector(model, scorer.texts[q.queryRow]), try imageVector(model, file, c))
                        : dot(try imageVector(model, file, q.queryRow), try textVector(model, scorer.texts[c]))
                }
                XCTAssertEqual(scores.count, want.count)
                for (g, w) in zip(scores, want) { XCTAssertEqual(Double(g), w, accuracy: 1e-5) }
                let (p, o) = bruteRanks(want, correct: want.indices.map { $0 == q.positiveIndex })
                wantRanks.pessimistic.append(p)
                wantRanks.optimistic.append(o)
            }
            XCTAssertEqual(try Retrieval.ranks(scores: got, positives: d.queries.map(\.positiveIndex)), wantRanks)
            let summary = d.direction == .tir ? result.tir : result.itr
            XCTAssertEqual(summary.perDraw[di / 2], DirectionMetrics(ranks: wantRanks))
        }
        XCTAssertEqual(scorer.embedded, embeddedOnce, "scoring again embeds nothing new")
        XCTAssertEqual(result.variant, RetrievalVariant(scorer: .itc, textField: .title, ties: .keep, draws: 2))
        XCTAssertEqual(result.scorer, "itc")
    }

    func testItcItmReranksTheTopKByMatchProbability() throws {
        let dir = try tempDir()
        let file = try FashionGenFile(path: Self.catalog(in: dir))
        let model = try ProjectionEncoder()
        let k = 4
        func scorer() throws -> ITCITMScorer {
            let itc = try ITCScorer(model: model, file: file, textField: .description, device: .cpu)
            let itm = try ITMScorer(dualEncoder: model, batcher: itc.batcher, file: file, textField: .description, device: .cpu,
                                    checkpoint: "test")
            return try ITCITMScorer(itc: itc, itm: itm, k: k)
        }
        // sample-100: per query, the ITC top k come first, ordered by P(match); the rest keep ITC order.
        // distinct-text: no same-text candidates, whose exactly equal scores would make the expected order ambiguous.
        let set = try S100Sampler(file: file, textField: .description)
            .drawSet(seed: 1, draws: 1, queries: 8, source: "catalog", ties: .distinctText, textField: .description)
        let s = try scorer()
        var done = 0
        for d in set.draws {
            let itcScores = try s.itc.scores(d, progress: nil, done: &done)
            let combined = try s.scores(d, progress: nil, done: &done)
            for (q, (itc, final)) in zip(d.queries, zip(itcScores, combined)) {
                let byITC = itc.indices.sorted { itc[$0] > itc[$1] || (itc[$0] == itc[$1] && $0 < $1) }
                let top = Array(byITC.prefix(k)), rest = Array(byITC.dropFirst(k))
                let finalOrder = final.indices.sorted { final[$0] > final[$1] || (final[$0] == final[$1] && $0 < $1) }
                XCTAssertEqual(Set(finalOrder.prefix(k)), Set(top), "the re-ranked k are the ITC top k")
                XCTAssertEqual(Array(finalOrder.dropFirst(k)), rest, "the rest keep their ITC order")
                let probs = try top.map { c -> Double in
                    let (row, text) = d.direction == .tir ? (q.candidateRows[c], s.texts[q.queryRow]) : (q.queryRow, s.texts[q.candidateRows[c]])
                    return try itm(model, file, row: row, text: text)
                }
                let probOf = Dictionary(uniqueKeysWithValues: zip(top, probs))
                let probAlongFinal = finalOrder.prefix(k).map { probOf[$0]! }
                XCTAssertEqual(probAlongFinal, probAlongFinal.sorted(by: >), "the top k ordered by P(match)")
                for (c, p) in zip(top, probs) { XCTAssertEqual(Double(final[c]), 3 + p, accuracy: 1e-5) }
                // P(match) is the reverse of ITC here, so the re-ranking reverses the top k (up to ties: products that
                // share a text are all negatives of another product's query).
                let itcAlongFinal = finalOrder.prefix(k).map { itc[$0] }
                XCTAssertEqual(itcAlongFinal, itcAlongFinal.sorted(), "itc \(top.map { itc[$0] }) p \(probs)")
                XCTAssertLessThan(itcAlongFinal.first!, itcAlongFinal.last!)
            }
        }
        XCTAssertEqual(s.pairsScored, set.draws.reduce(0) { $0 + $1.queries.count } * k, "k pairs per query")
        // full: the same rule, against brute force, on texts that are all distinct (which of two equal ITC scores at
        // the k-th place gets re-ranked is the sort's choice).
        let distinctFile = try FashionGenFile(path: Self.catalog(in: try tempDir(), sharedTexts: false))
        let products = RetrievalEvaluation.fullProducts(productIDs: try distinctFile.productIDs, rows: nil)
        let itc = try ITCScorer(model: model, file: distinctFile, textField: .description, device: .cpu)
        let f = try ITCITMScorer(itc: itc, itm: try ITMScorer(dualEncoder: model, file: distinctFile, textField: .description,
                                                              device: .cpu, checkpoint: "test"), k: k)
        f.itc.blockElements = 7 * products.count
        let got = try RetrievalEvaluation.fullRanks(scorer: f, products: products, ties: .distinctText, showProgress: false)
        XCTAssertEqual(got, try bruteFull(model, distinctFile, texts: f.texts, products: products, ties: .distinctText, k: k))
        XCTAssertEqual(f.pairsScored, 2 * products.count * k)
        let result = try RetrievalEvaluation.full(scorer: f, products: products, textField: .description, ties: .distinctText,
                                                  labels: .init(method: "test", dataset: "catalog", split: "all"), showProgress: false)
        XCTAssertEqual(result.variant, RetrievalVariant(scorer: .itcItm, textField: .description, ties: .distinctText, draws: 1, k: k))
    }

    /// Under distinct-text no negative shares the query product's text; keep draws exactly what a sampler without
    /// texts draws (the behaviour before the option), same-text negatives included.
    func testDistinctTextNeverDrawsASameTextNegative() throws {
        let dir = try tempDir()
        let file = try FashionGenFile(path: Self.catalog(in: dir))
        let withTexts = try S100Sampler(file: file, textField: .description)
        let plain = try S100Sampler(file: file)
        let texts = try file.descriptions
        let textOf = Dictionary(try file.productIDs.enumerated().map { ($0.element, texts[$0.offset]) }, uniquingKeysWith: { a, _ in a })
        var sameTextUnderKeep = 0
        for direction in RetrievalDirection.allCases {
            for seed in UInt64(0)..<4 {
                let keep = try withTexts.draw(direction, seed: seed, queries: 24, negatives: 100, ties: .keep)
                XCTAssertEqual(keep, try plain.draw(direction, seed: seed, queries: 24, negatives: 100), "keep = the old draw")
                let distinct = try withTexts.draw(direction, seed: seed, queries: 24, negatives: 100, ties: .distinctText)
                for (qk, qd) in zip(keep.queries, distinct.queries) {
                    let positive = TextHash.of(textOf[qd.queryProduct]!)
                    let negatives = qd.candidateProducts.enumerated().filter { $0.offset != qd.positiveIndex }.map(\.element)
                    XCTAssertFalse(negatives.contains { TextHash.of(textOf[$0]!) == positive },
                                   "a negative with the positive's text (query \(qd.queryProduct))")
                    let twins = textOf.values.filter { TextHash.of($0) == positive }.count - 1
                    XCTAssertEqual(negatives.count, 23 - twins, "every other product with another text is a negative")
                    sameTextUnderKeep += qk.candidateProducts.dropFirst().filter { TextHash.of(textOf[$0]!) == TextHash.of(textOf[qk.queryProduct]!) }.count
                }
                if direction == .tir, seed == 0 {
                    XCTAssertTrue(distinct.notes.contains { $0.contains("ties distinct-text") }, "\(distinct.notes)")
                }
            }
        }
        XCTAssertGreaterThan(sameTextUnderKeep, 0, "keep draws same-text negatives on this catalog")
        XCTAssertThrowsError(try plain.draw(.itr, seed: 0, ties: .distinctText)) { XCTAssertTrue("\($0)".contains("text field"), "\($0)") }
        let set = try withTexts.drawSet(seed: 0, draws: 1, queries: 5, source: "x", ties: .distinctText, textField: .description)
        XCTAssertEqual(set.tieRule, .distinctText)
        XCTAssertEqual(set.textField, "description")
        let path = dir + "/draws.json"
        try set.save(to: path)
        XCTAssertEqual(try S100DrawSet.load(from: path), set)
        // A file from before the rule existed reads as keep.
        var old = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        old["ties"] = nil; old["text_field"] = nil
        try JSONSerialization.data(withJSONObject: old).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try S100DrawSet.load(from: path).tieRule, .keep)
    }

    /// The block ranks (libtorch) equal the list ranks on the same numbers: ties, NaNs, infinities.
    func testBlockRanksEqualListRanks() throws {
        var rng = SeededRNG(seed: 11)
        let c = 9, n = 13
        var rows: [[Float]] = []
        for _ in 0..<c {
            rows.append((0..<n).map { _ -> Float in
                switch rng.int(0...9) {
                case 0: return .nan
                case 1: return -.infinity
                case 2...4: return Float(rng.int(0...2))  // many exact ties
                default: return Float(rng.uniform(-1, 1))
                }
            })
        }
        let positives = (0..<c).map { _ in rng.int(0...(n - 1)) }
        let block = try Tensor(rows.flatMap { $0 }, shape: [c, n])
        XCTAssertEqual(try Retrieval.ranks(block: block, positives: positives), try Retrieval.ranks(scores: rows, positives: positives))
        // With extra correct candidates: the best of them counts, none is a negative.
        var mask = [Bool](repeating: false, count: c * n)
        for i in 0..<c { for j in 0..<n where rng.chance(0.2) { mask[i * n + j] = true } }
        let got = try Retrieval.ranks(block: block, positives: positives, correct: Tensor(mask, shape: [c, n]))
        for i in 0..<c {
            let correct = (0..<n).map { $0 == positives[i] || mask[i * n + $0] }
            let row = rows[i].map(Double.init)
            let best = zip(row, correct).filter(\.1).map(\.0).reduce(-Double.infinity) { $0.isNaN || $1.isNaN ? .nan : max($0, $1) }
            let pess = 1 + zip(row, correct).filter { !$0.1 && !($0.0 < best) }.count
            let opt = 1 + zip(row, correct).filter { !$0.1 && $0.0 > best }.count
            XCTAssertEqual(got.pessimistic[i], pess, "query \(i)")
            XCTAssertEqual(got.optimistic[i], opt, "query \(i)")
        }
        XCTAssertThrowsError(try Retrieval.ranks(block: block, positives: [0]))
    }

    // MARK: Opening checkpoints, embed

    /// A run folder of the test family: config.json with "model": {"family": …}, last.json, a checkpoint file.
    private func projectionRun(_ dir: String, family: String = "test-projection", model: ProjectionEncoder) throws -> String {
        let run = dir + "/run"
        try FileManager.default.createDirectory(atPath: run + "/checkpoints", withIntermediateDirectories: true)
        let config = #"{"data": "\#(dir)/catalog.h5", "train": {"seed": 0}, "model": {"family": "\#(family)", "image_size": \#(model.imageSize), "text_length": \#(model.textLength), "embed_dim": \#(model.embeddingDim)}}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: run + "/config.json"))
        try model.save(to: run + "/checkpoints/step-000003.safetensors")
        var state = TrainerState.fresh()
        state.step = 3
        state.weights = "checkpoints/step-000003.safetensors"
        try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: run + "/last.json"))
        return run
    }

    private func registerProjection() {
        ModelFamilies.register("test-projection") { config, weights, _ in
            let object = try JSONSerialization.jsonObject(with: config) as! [String: Any]
            return try ProjectionEncoder(weights: weights, imageSize: object["image_size"] as! Int, textLength: object["text_length"] as! Int)
        }
    }

    func testOpenerDispatchesOnTheFamily() throws {
        let dir = try tempDir()
        _ = try Self.catalog(in: dir)
        registerProjection()
        let run = try projectionRun(dir, model: try ProjectionEncoder())
        guard case let .dualEncoder(d) = try EvalCheckpoint.open(run) else { return XCTFail("expected a dual encoder") }
        XCTAssertEqual(d.family, "test-projection")
        XCTAssertEqual(d.weightsPath, run + "/checkpoints/step-000003.safetensors")
        XCTAssertTrue(d.modelConfig.contains(#""family":"test-projection""#), d.modelConfig)
        XCTAssertEqual(d.model.embeddingDim, 8)
        XCTAssertThrowsError(try EvalCheckpoint.open(run, imageSize: 32)) { XCTAssertTrue("\($0)".contains("--image-size"), "\($0)") }

        let other = try projectionRun(dir + "/x", family: "nonesuch", model: try ProjectionEncoder())
        XCTAssertThrowsError(try EvalCheckpoint.open(other)) { e in
            XCTAssertTrue("\(e)".contains("\"nonesuch\"") && "\(e)".contains(other) && "\(e)".contains("mvlt"), "\(e)")
        }
        // MVLT configs (no family, or "mvlt") take EvalModel.open's path, with its errors.
        for model in ["{}", #"{"family": "mvlt"}"#] {
            let mvlt = dir + "/mvlt-\(model.count)"
            try FileManager.default.createDirectory(atPath: mvlt, withIntermediateDirectories: true)
            try Data(#"{"model": \#(model)}"#.utf8).write(to: URL(fileURLWithPath: mvlt + "/config.json"))
            var viaFamily = "", direct = ""
            XCTAssertThrowsError(try EvalCheckpoint.open(mvlt)) { viaFamily = "\($0)" }
            XCTAssertThrowsError(try EvalModel.open(mvlt)) { direct = "\($0)" }
            XCTAssertEqual(viaFamily, direct)
            XCTAssertTrue(direct.contains("no complete checkpoint"), direct)
        }
        XCTAssertTrue("\(EvalCheckpoint.noITCHeads("runs/demo", purpose: "embed"))".hasPrefix("runs/demo: an MVLT checkpoint has no ITC heads"))
    }

    func testEmbedWritesTensorsAndMetadata() throws {
        let dir = try tempDir()
        let path = try Self.catalog(in: dir)
        registerProjection()
        let run = try projectionRun(dir, model: try ProjectionEncoder())
        guard case let .dualEncoder(d) = try EvalCheckpoint.open(run) else { return XCTFail("expected a dual encoder") }
        let data = try EvaluationData.open(path, run: nil)
        let out = dir + "/emb.safetensors"
        let summary = try EmbeddingExport.write(d, checkpoint: run, data: data, textField: .description, batch: 5, to: out,
                                                showProgress: false)
        let file = try FashionGenFile(path: path)
        let n = file.count
        XCTAssertEqual(summary.count, n)
        XCTAssertEqual(summary.distinctTexts, 24 - 4, "24 products, 3 groups share a text")
        let (tensors, meta) = try SafeTensors.load(out)
        XCTAssertEqual(Set(tensors.keys), ["image_embeddings", "text_embeddings", "product_ids", "rows"])
        XCTAssertEqual(tensors["image_embeddings"]!.shape, [n, 8])
        XCTAssertEqual(tensors["text_embeddings"]!.shape, [n, 8])
        XCTAssertEqual(tensors["image_embeddings"]!.dtype, .float32)
        XCTAssertEqual(tensors["product_ids"]!.dtype, .int64)
        XCTAssertEqual(try tensors["product_ids"]!.toArray(Int64.self), try file.productIDs)
        XCTAssertEqual(try tensors["rows"]!.toArray(Int64.self), (0..<n).map(Int64.init))
        let model = try XCTUnwrap(d.model as? ProjectionEncoder)
        let images = try tensors["image_embeddings"]!.toArray(Float.self), texts = try tensors["text_embeddings"]!.toArray(Float.self)
        let descriptions = try file.descriptions
        for row in 0..<n {
            let wantImage = try imageVector(model, file, row), wantText = try textVector(model, descriptions[row])
            for e in 0..<8 {
                XCTAssertEqual(Double(images[row * 8 + e]), wantImage[e], accuracy: 1e-5)
                XCTAssertEqual(Double(texts[row * 8 + e]), wantText[e], accuracy: 1e-5)
            }
            XCTAssertEqual(dot(wantImage, wantImage), 1, accuracy: 1e-5, "L2-normalised")
        }
        XCTAssertEqual(meta["format"], "fashionvl-embeddings")
        XCTAssertEqual(meta["checkpoint"], run)
        XCTAssertEqual(meta["weights"], d.weightsPath)
        XCTAssertEqual(meta["weights_sha256"], try sha256sum(d.weightsPath))
        XCTAssertEqual(meta["data"], path)
        XCTAssertEqual(meta["text_field"], "description")
        XCTAssertEqual(meta["family"], "test-projection")
        XCTAssertEqual(meta["embedding_dim"], "8")
        XCTAssertEqual(meta["count"], "\(n)")
        let config = try JSONSerialization.jsonObject(with: Data(meta["model_config"]!.utf8)) as? [String: Any]
        XCTAssertEqual(config?["family"] as? String, "test-projection")

        // A failure halfway leaves the previous file as it was and no temporary file behind.
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        model.failAfterImages = model.imagesEmbedded + 10
        XCTAssertThrowsError(try EmbeddingExport.write(d, checkpoint: run, data: data, textField: .description, batch: 5, to: out,
                                                       showProgress: false))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), before)
        model.failAfterImages = model.imagesEmbedded + 10
        let fresh = dir + "/fresh.safetensors"
        XCTAssertThrowsError(try EmbeddingExport.write(d, checkpoint: run, data: data, textField: .description, batch: 5, to: fresh,
                                                       showProgress: false))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["catalog.h5", "emb.safetensors", "run"])
    }

    private func sha256sum(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(String(decoding: out, as: UTF8.self).prefix(64))
    }

    func testSHA256KnownVectors() throws {
        func hex(_ s: String) -> String { var h = SHA256(); h.update(Data(s.utf8)); return h.finish() }
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Pieces of odd sizes hash like the whole.
        let bytes = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        var whole = SHA256(); whole.update(bytes)
        var pieces = SHA256()
        var i = 0
        for size in [1, 63, 64, 65, 127, 1000, 3] { pieces.update(bytes[i..<(i + size)]); i += size }
        pieces.update(bytes[i...])
        XCTAssertEqual(whole.finish(), pieces.finish())
    }

    /// The variant is stored in retrieval.json and retrieval_full.json and shown in the report's table captions.
    func testReportShowsTheVariant() throws {
        let dir = try tempDir()
        let file = try FashionGenFile(path: Self.catalog(in: dir))
        let model = try ProjectionEncoder()
        let run = dir + "/report-run"
        let set = try S100Sampler(file: file, textField: .description)
            .drawSet(seed: 0, draws: 2, queries: 6, source: "catalog", ties: .distinctText, textField: .description)
        let scorer = try ITCScorer(model: model, file: file, textField: .description, device: .cpu)
        let labels = RetrievalEvaluation.Labels(method: "FashionVL test", dataset: "catalog.h5", split: "all rows")
        let (row, _) = try RetrievalEvaluation.s100(scorer: scorer, set: set, textField: .description, labels: labels, showProgress: false)
        try EvalFiles.write(RetrievalEvalFile(rows: [row]), run: run, file: EvalFiles.retrieval)
        let full = try RetrievalEvaluation.full(scorer: scorer, products: RetrievalEvaluation.fullProducts(productIDs: try file.productIDs, rows: nil),
                                                textField: .description, ties: .distinctText, labels: labels, showProgress: false)
        try EvalFiles.write(RetrievalFullFile(rows: [full]), run: run, file: EvalFiles.retrievalFull)
        let stored = try EvalJSON.read(RetrievalEvalFile.self, from: run + "/" + EvalFiles.retrieval)
        XCTAssertEqual(stored.rows.first?.variant, RetrievalVariant(scorer: .itc, textField: .description, ties: .distinctText, draws: 2))
        let json = try String(contentsOfFile: run + "/" + EvalFiles.retrieval, encoding: .utf8)
        XCTAssertTrue(json.contains(#""k" : null"#) && json.contains(#""text_field" : "description""#), json)
        let html = try ReportBuilder(runFolder: run).build()
        XCTAssertTrue(html.contains("<caption>Retrieval, sample-100 protocol. Ours: FashionVL test: scorer itc · text description · ties distinct-text · 2 draws</caption>"), html)
        XCTAssertTrue(html.contains("Retrieval, full protocol (every product against the whole gallery). FashionVL test: scorer itc · text description · ties distinct-text · 1 draw"))
        XCTAssertTrue(html.contains("7 of 24 products share their text"), "the full row's note")
    }
}
