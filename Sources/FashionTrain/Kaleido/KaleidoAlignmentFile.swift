// The pre-alignments of one catalog file (spec/kaleido-bert.md §4.2, default mode): the trained captioner
// greedy-decodes every row over its K5 grid; generated content words that occur in the row's title are linked to
// the title's tokens and, through their attention maps, to one patch per level 3–5. Stored per catalog file as
// safetensors (ragged by row: `offsets`, then `token`/`level`/`patch`/`strength`; the greedy captions too), with the
// catalog's and the feature cache's identity, so that a stale file is detected like a stale feature cache.
import FashionData
import FashionModels
import Foundation
import Torch

/// How the alignment generator reads the captioner (spec §4.2): `greedy` (the default, faithful: the words of its
/// greedy caption that occur in the raw text) or `teacher` (teacher-forced on the raw text: the raw words it gives
/// a probability ≥ 0.1 at their step).
public enum KaleidoAlignmentMode: String, Codable, Sendable, CaseIterable {
    case greedy, teacher
}

public final class KaleidoAlignmentFile: @unchecked Sendable {
    public static let format = "fashionvl-kaleido-alignments/1"

    struct Identity: Codable, Equatable {
        var catalog: KaleidoCatalogIdentity
        var backbone: KaleidoBackboneIdentity
        var captionerSHA256: String
        var textField: String
        var textLength: Int
        var mode: String
    }

    public let path: String
    public let textField: String
    public let textLength: Int
    public let rows: Int
    let offsets: [Int64], token: [Int32], level: [Int32], patch: [Int32], strength: [Float]
    /// (rows, maxLength) WordPiece ids of the greedy captions, 0-padded.
    public let captions: [Int32]
    public let captionLength: Int
    /// `greedy`, or `teacher` (then `captions` holds the kept raw pieces).
    public let mode: KaleidoAlignmentMode

    public static func path(for catalog: String, cacheDir: String? = nil) -> String {
        let url = URL(fileURLWithPath: catalog)
        return (cacheDir ?? url.deletingLastPathComponent().path) + "/" + url.lastPathComponent + ".kaleido-alignments.safetensors"
    }

    /// Opens the file and checks it against the feature cache it must have been made from.
    public init(path: String, features: KaleidoFeatureFile) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw KaleidoCacheError.missing(path: path, hint: KaleidoFeatureFile.hint)
        }
        self.path = path
        let (t, meta) = try SafeTensors.load(path)
        guard meta["format"] == Self.format, let text = meta["identity"],
              let id = try? JSONDecoder().decode(Identity.self, from: Data(text.utf8)) else {
            throw KaleidoCacheError.invalid(path: path, reason: "format is \(meta["format"] ?? "absent"), expected \(Self.format) with an identity")
        }
        var diffs = KaleidoFeatureFile.differences(cache: id.catalog, expected: features.catalog)
        diffs += KaleidoFeatureFile.differences(cache: id.backbone, expected: features.backbone)
        if !diffs.isEmpty { throw KaleidoCacheError.stale(path: path, differences: diffs, hint: KaleidoFeatureFile.hint) }
        func get<T: TensorElement>(_ name: String, _: T.Type) throws -> [T] {
            guard let v = t[name], v.dtype == T.dtype else {
                throw KaleidoCacheError.invalid(path: path, reason: "tensor '\(name)' missing or not \(T.dtype)")
            }
            return v.numel == 0 ? [] : try v.contiguous().toArray(T.self)
        }
        (textField, textLength, rows) = (id.textField, id.textLength, id.catalog.rows)
        mode = KaleidoAlignmentMode(rawValue: id.mode) ?? .greedy
        offsets = try get("offsets", Int64.self)
        token = try get("token", Int32.self)
        level = try get("level", Int32.self)
        patch = try get("patch", Int32.self)
        strength = try get("strength", Float.self)
        captions = try get("captions", Int32.self)
        captionLength = t["captions"]?.shape.last ?? 0
        let m = token.count
        guard offsets.count == rows + 1, offsets.first == 0, offsets.last == Int64(m), zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }),
              level.count == m, patch.count == m, strength.count == m, captions.count == rows * captionLength else {
            throw KaleidoCacheError.invalid(path: path, reason: "inconsistent tensor sizes (offsets \(offsets.count) for \(rows) rows, \(m) pairs)")
        }
    }

    public func alignments(row: Int) throws -> [KaleidoAlignment] {
        guard (0..<rows).contains(row) else {
            throw KaleidoCacheError.invalid(path: path, reason: "row \(row) is outside 0..<\(rows)")
        }
        return (Int(offsets[row])..<Int(offsets[row + 1])).map {
            KaleidoAlignment(token: Int(token[$0]), level: Int(level[$0]), patch: Int(patch[$0]), strength: strength[$0])
        }
    }

    /// The greedy caption of `row` (WordPiece ids, no specials); in `teacher` mode the kept raw pieces.
    public func caption(row: Int) -> [Int32] {
        Array(captions[(row * captionLength)..<((row + 1) * captionLength)].prefix { $0 != 0 })
    }

    /// Decodes every row of `file` with `captioner` over `features` and writes the alignments to `path`.
    /// Returns (pairs, rows with at least one pair).
    @discardableResult
    public static func build(file: FashionGenFile, features: KaleidoFeatureFile, captioner: KaleidoCaptioner,
                             captionerSHA256: String, to path: String, textField: String = "title", textLength: Int = 64,
                             mode: KaleidoAlignmentMode = .greedy, batch: Int = 256) throws -> (pairs: Int, alignedRows: Int) {
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let texts: [String]
        switch textField {
        case "title": texts = try file.names
        case "description": texts = try file.descriptions
        default: throw TrainError.badArgument("kaleido alignments: text field must be title or description, got \(textField)")
        }
        let n = file.count, width = captioner.config.maxLength
        var offsets: [Int64] = [0], token: [Int32] = [], level: [Int32] = [], patch: [Int32] = [], strength: [Float] = []
        var captions = [Int32](repeating: 0, count: n * width)
        var aligned = 0
        let progress = ProgressLine(total: n, label: "kaleido alignments (\(mode.rawValue)) \(URL(fileURLWithPath: file.path).lastPathComponent)")
        // teacher mode: WordPiece id → the captioner's compact id ([UNK] for pieces it never saw)
        var compact: [Int64: Int] = [:]
        for (i, id) in try captioner.vocab_ids.value.toArray(Int64.self).enumerated() { compact[id] = i }
        for start in stride(from: 0, to: n, by: batch) {
            let rows = Array(start..<min(n, start + batch))
            let grid = try features.featureTensor(rows: rows, slots: KaleidoCaptionerTraining.gridSlots)
            let encoded = try rows.map { try tokenizer.encode(texts[$0], maxLength: textLength) }
            var shown: [[Int32]] = [], heats: [(pieces: [String], heat: [[Float]])] = []
            switch mode {
            case .greedy:
                for d in try captioner.greedy(features: grid) {
                    let ids = try captioner.wordPieceIDs(d.ids).map { Int32(truncatingIfNeeded: $0) }
                    shown.append(ids)
                    heats.append((try tokenizer.decode(ids), d.alphas))
                }
            case .teacher:
                let inner = encoded.map { Array($0.dropFirst().dropLast()) }
                let forced = try captioner.teacherForced(features: grid, captions: inner.map { $0.map { compact[Int64($0)] ?? KaleidoCaptioner.unk } })
                for (i, f) in forced.enumerated() {
                    let kept = KaleidoAlignmentRules.teacherKept(raw: try tokenizer.decode(encoded[i]), probabilities: f.probabilities, heat: f.alphas)
                    shown.append(kept.positions.map { encoded[i][$0] })
                    heats.append((kept.pieces, kept.heat))
                }
            }
            for (i, row) in rows.enumerated() {
                for (j, id) in shown[i].prefix(width).enumerated() { captions[row * width + j] = id }
                let raw = try tokenizer.decode(encoded[i])
                let pairs = KaleidoAlignmentRules.align(generated: heats[i].pieces, heat: heats[i].heat,
                                                        grid: KaleidoCaptionerTraining.grid, raw: raw)
                for p in pairs {
                    token.append(Int32(p.token)); level.append(Int32(p.level)); patch.append(Int32(p.patch))
                    strength.append(p.strength)
                }
                if !pairs.isEmpty { aligned += 1 }
                offsets.append(Int64(token.count))
            }
            progress.update(rows.last! + 1, items: rows.last! + 1)
        }
        let identity = Identity(catalog: features.catalog, backbone: features.backbone, captionerSHA256: captionerSHA256,
                                textField: textField, textLength: textLength, mode: mode.rawValue)
        // (An empty host array has no base address: empty tensors are made as such.)
        func vector<T: TensorElement>(_ v: [T]) throws -> Tensor { v.isEmpty ? try Tensor.zeros([0], dtype: T.dtype) : try Tensor(v) }
        try SafeTensors.save([
            ("offsets", try Tensor(offsets)), ("token", try vector(token)), ("level", try vector(level)),
            ("patch", try vector(patch)), ("strength", try vector(strength)),
            ("captions", try Tensor(captions, shape: [n, width])),
        ], to: path, metadata: ["format": format, "identity": String(decoding: try JSONEncoder.sorted.encode(identity), as: UTF8.self),
                                "catalog_file": file.path])
        return (token.count, aligned)
    }
}
