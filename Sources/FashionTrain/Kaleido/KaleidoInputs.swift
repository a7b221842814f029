// Kaleido-BERT's per-catalog inputs, end to end: `prepare` builds (or reuses) the feature cache of every catalog
// file, trains the alignment generator's captioner on the train split and writes every file's alignments;
// `open` gives pretraining and evaluation a `KaleidoInputSource` over them and refuses a missing or stale cache.
// Stale caches: `open` throws (naming the file and every field that differs); `prepare` rebuilds them with a
// notice saying why.
import FashionData
import FashionModels
import Foundation
import Torch

/// Features and alignments of one catalog file.
public final class KaleidoCatalogInputs: KaleidoInputSource, @unchecked Sendable {
    public let features: KaleidoFeatureFile
    public let alignmentFile: KaleidoAlignmentFile

    public init(features: KaleidoFeatureFile, alignments: KaleidoAlignmentFile) {
        self.features = features
        alignmentFile = alignments
    }

    public var featureDim: Int { features.dim }
    public var alignedTextField: String { alignmentFile.textField }
    public var alignedTextLength: Int { alignmentFile.textLength }
    public func patches(row: Int) throws -> KaleidoPatchSet { try features.patches(row: row) }
    public func alignments(row: Int) throws -> [KaleidoAlignment] { try alignmentFile.alignments(row: row) }
}

public struct KaleidoPrepareOptions: Sendable {
    public var backbone = EfficientNetLiteBackbone.name
    /// Backbone weights; nil = the registered file in the weights cache.
    public var weights: String?
    /// Side of every patch crop fed to the backbone.
    public var cropSize = 32
    /// Rows per backbone forward (× 74 crops); nil = `KaleidoFeatureFile.defaultRowsPerBatch(cropSize:)`.
    public var rowsPerBatch: Int?
    /// Where the cache files go; nil = beside each catalog file.
    public var cacheDir: String?
    public var captioner = KaleidoCaptionerOptions()
    public var textField = "title"
    public var textLength = 64
    /// How the captioner is read into alignments (spec §4.2): greedy captions (the default) or teacher forcing.
    public var alignmentMode = KaleidoAlignmentMode.greedy
    /// Split seed when `--data` is one file (90/10 by product, as pretraining splits it).
    public var seed: UInt64 = 0
    public var threads = 2

    public init() {}
}

public enum KaleidoInputs {
    /// The catalog files of `data`: a folder's train.h5 and validation.h5, or the one file; and the captioner's
    /// training rows (all of train.h5, or the file's 90 % split by product).
    static func files(_ data: String, seed: UInt64) throws -> (files: [FashionGenFile], trainFile: FashionGenFile, trainRows: [Int]) {
        let split = try DataSplit.open(data, seed: seed)
        let files = split.trainFile.path == split.validationFile.path ? [split.trainFile] : [split.trainFile, split.validationFile]
        return (files, split.trainFile, split.trainRows)
    }

    /// The inputs of one catalog file for pretraining or evaluation: its feature cache and alignments, both
    /// checked against the file as it is now. Missing or stale: a `KaleidoCacheError` naming the file.
    public static func open(catalog: String, cacheDir: String? = nil) throws -> KaleidoCatalogInputs {
        let file = try FashionGenFile(path: catalog)
        let features = try KaleidoFeatureFile(path: KaleidoFeatureFile.path(for: catalog, cacheDir: cacheDir),
                                              catalog: try KaleidoCatalogIdentity.of(file))
        return KaleidoCatalogInputs(features: features,
                                    alignments: try KaleidoAlignmentFile(path: KaleidoAlignmentFile.path(for: catalog, cacheDir: cacheDir),
                                                                         features: features))
    }

    static func say(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    /// Makes every catalog file of `data` ready for Kaleido-BERT: feature caches (reused when up to date, built
    /// when missing, rebuilt with a notice when stale), the captioner (reused when its file was trained on the
    /// current train cache with the same options) and the alignments. Returns a JSON-ready summary.
    @discardableResult
    public static func prepare(data: String, options o: KaleidoPrepareOptions) throws -> [String: Any] {
        Torch.setNumThreads(o.threads)
        let start = Date()
        let (files, trainFile, trainRows) = try files(data, seed: o.seed)
        // Images too small for the K5 grid, then the backbone (its name, its weights file's architecture), are
        // checked before anything is written or any weights are read.
        for file in files where file.imageSize < 5 {
            throw TrainError.badArgument("\(file.path): \(KaleidoError.imageTooSmall(width: file.imageSize, height: file.imageSize))")
        }
        let backbone = try KaleidoBackbones.open(name: o.backbone, weights: o.weights, cropSize: o.cropSize)
        if let dir = o.cacheDir { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var summary: [String: Any] = ["crop_size": o.cropSize, "backbone": o.backbone, "threads": o.threads,
                                      "alignment_mode": o.alignmentMode.rawValue]
        var caches: [String: KaleidoFeatureFile] = [:]
        var perFile: [[String: Any]] = []
        for file in files {
            let path = KaleidoFeatureFile.path(for: file.path, cacheDir: o.cacheDir)
            let identity = try KaleidoCatalogIdentity.of(file)
            var entry: [String: Any] = ["catalog": file.path, "rows": file.count, "features": path]
            do {
                caches[file.path] = try KaleidoFeatureFile(path: path, catalog: identity, backbone: backbone.identity)
                entry["features_built"] = false
                say("kaleido: \(path) is up to date")
            } catch let e as KaleidoCacheError {
                if case .missing = e {} else { say("notice: rebuilding the feature cache: \(e)") }
                let t = Date()
                let rate = try KaleidoFeatureFile.build(file: file, backbone: backbone, to: path, rowsPerBatch: o.rowsPerBatch)
                entry["features_built"] = true
                entry["features_seconds"] = Date().timeIntervalSince(t)
                entry["crops_per_s"] = rate
                caches[file.path] = try KaleidoFeatureFile(path: path, catalog: identity, backbone: backbone.identity)
            }
            perFile.append(entry)
        }
        let trainCache = caches[trainFile.path]!
        let (captioner, captionerSHA, captionerInfo) = try captionerFor(trainFile: trainFile, rows: trainRows, cache: trainCache, options: o)
        summary["captioner"] = captionerInfo
        for (i, file) in files.enumerated() {
            let path = KaleidoAlignmentFile.path(for: file.path, cacheDir: o.cacheDir)
            let t = Date()
            let (pairs, aligned) = try KaleidoAlignmentFile.build(file: file, features: caches[file.path]!, captioner: captioner,
                                                                  captionerSHA256: captionerSHA, to: path, textField: o.textField,
                                                                  textLength: o.textLength, mode: o.alignmentMode)
            perFile[i]["alignments"] = path
            perFile[i]["alignment_pairs"] = pairs
            perFile[i]["aligned_rows"] = aligned
            perFile[i]["alignments_seconds"] = Date().timeIntervalSince(t)
        }
        summary["files"] = perFile
        summary["seconds"] = Date().timeIntervalSince(start)
        return summary
    }

    /// The captioner file beside the train cache: reused when its recorded inputs match, else trained.
    static func captionerFor(trainFile: FashionGenFile, rows: [Int], cache: KaleidoFeatureFile, options o: KaleidoPrepareOptions) throws
        -> (KaleidoCaptioner, String, [String: Any]) {
        let url = URL(fileURLWithPath: trainFile.path)
        let base = (o.cacheDir ?? url.deletingLastPathComponent().path) + "/" + url.lastPathComponent + ".kaleido-captioner"
        let weights = base + ".safetensors"
        struct Recorded: Codable, Equatable {
            var catalog: KaleidoCatalogIdentity
            var backbone: KaleidoBackboneIdentity
            var options: KaleidoCaptionerOptions
            var rows: Int
        }
        let want = Recorded(catalog: cache.catalog, backbone: cache.backbone, options: o.captioner, rows: rows.count)
        if FileManager.default.fileExists(atPath: weights), let (t, meta) = try? SafeTensors.load(weights),
           let text = meta["recorded"], let have = try? JSONDecoder().decode(Recorded.self, from: Data(text.utf8)), have == want,
           let vocab = t["vocab_ids"], let configText = meta["config"],
           let config = try? JSONDecoder().decode(KaleidoCaptionerConfig.self, from: Data(configText.utf8)) {
            let model = try KaleidoCaptioner(config, vocabIDs: try vocab.toArray(Int64.self))
            try model.load(from: weights)
            model.eval()
            say("kaleido: reusing the captioner \(weights)")
            return (model, try SHA256.file(weights), ["reused": true, "weights": weights])
        }
        let t = Date()
        let (model, last) = try KaleidoCaptionerTraining.train(file: trainFile, rows: rows, cache: cache, run: base + "-run",
                                                               options: o.captioner)
        try model.save(to: weights, metadata: [
            "format": "fashionvl-kaleido-captioner/1",
            "recorded": String(decoding: try JSONEncoder.sorted.encode(want), as: UTF8.self),
            "config": String(decoding: try JSONEncoder.sorted.encode(model.config), as: UTF8.self),
        ])
        var info: [String: Any] = ["reused": false, "weights": weights, "run": base + "-run", "seconds": Date().timeIntervalSince(t),
                                   "vocabulary": model.config.vocab]
        for (k, v) in last { info["final_" + k] = v }
        return (model, try SHA256.file(weights), info)
    }
}
