import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

/// A model opened for evaluation from `--checkpoint`: a run folder (its newest checkpoint and config.json) or a
/// safetensors file of original MVLT names (its config inferred from the shapes, at `imageSize`).
public struct EvalModel {
    public let model: MVLT
    public let config: MVLTConfig
    /// The run folder the checkpoint belongs to (where evaluation results go by default), if any.
    public let runFolder: String?
    public let weightsPath: String

    public static func open(_ checkpoint: String, imageSize: Int? = nil, heads: MVLTHeads? = nil,
                            device: Device = .cpu) throws -> EvalModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: checkpoint, isDirectory: &isDir) else {
            throw EvalError.invalidArgument("\(checkpoint): no such run folder or weights file")
        }
        var config: MVLTConfig
        let weights: String
        var run: String?
        if isDir.boolValue {
            let configPath = checkpoint + "/config.json"
            guard let data = FileManager.default.contents(atPath: configPath) else {
                throw EvalError.invalidArgument("\(checkpoint): not a run folder (no config.json)")
            }
            do {
                config = try JSONText.decode(RunModelConfig.self, from: data).model
            } catch {
                throw EvalError.invalidArgument("\(configPath): not a FashionVL run config: \(error)")
            }
            guard let state = try CheckpointStore(run: checkpoint).latest() else {
                throw EvalError.invalidArgument("\(checkpoint): the run has no complete checkpoint yet (last.json)")
            }
            weights = checkpoint + "/" + state.weights
            run = checkpoint
        } else {
            weights = checkpoint
            let tensors = try SafeTensors.load(checkpoint).tensors
            config = try MVLTConfig.inferred(fromWeights: MVLT.sanitize(tensors), imageSize: imageSize ?? 256,
                                             source: checkpoint)
        }
        if let imageSize { config.imageSize = imageSize }
        let saved = config.heads
        if let heads { config.heads = heads }
        try config.validate()
        let model = try MVLT(config)
        let tensors = MVLT.sanitize(try SafeTensors.load(weights).tensors.filter { !$0.key.hasPrefix("optimizer.") })
        if heads == nil || heads == saved {
            try model.load(weights: tensors, source: weights)
        } else {
            // Other heads than the checkpoint's (fine-tuning from pretraining): load what both have, by name.
            let own = Set(model.stateDict().map(\.0))
            try model.loadStateDict(tensors.filter { own.contains($0.key) }, strict: false)
        }
        try model.to(device)
        model.eval()
        return EvalModel(model: model, config: config, runFolder: run, weightsPath: weights)
    }
}

/// The part of a run's config.json every run kind shares: the model config.
struct RunModelConfig: Decodable {
    var model: MVLTConfig
}

/// Builds model inputs for arbitrary (image row, text) pairs of a Fashion-Gen file: images resized to the
/// model's size (as the loader does) and cached per row, texts tokenized to the model's length.
public final class PairBatcher {
    public let file: FashionGenFile
    public let imageSize: Int
    public let textLength: Int
    let resampler: ImageResampler
    let tokenizer: WordPieceTokenizer
    private var imageCache: [Int: [Float]] = [:]
    private var textCache: [String: [Int64]] = [:]
    /// At most this many cached images (the cache is emptied when full); nil = no bound (MVLT's retrieval). A
    /// 256-px image is 768 KiB as floats, so a whole Fashion-Gen split does not fit.
    public var imageCacheLimit: Int?

    /// The image cache bound of dual-encoder scorers (ITC reads each row once; ITM re-ranking reuses few).
    public static let dualEncoderCacheLimit = 512

    public init(file: FashionGenFile, imageSize: Int, textLength: Int) throws {
        self.file = file
        self.imageSize = imageSize
        self.textLength = textLength
        resampler = ImageResampler(inputSize: file.imageSize, outputSize: imageSize)
        tokenizer = try WordPieceTokenizer.bertBaseUncased()
    }

    /// (3, S, S) floats in [0, 1] of one row; `cache: false` neither reads nor fills the cache (rows read once).
    public func image(_ row: Int, cache: Bool = true) throws -> [Float] {
        if cache, let cached = imageCache[row] { return cached }
        let bytes = try file.image(row)
        var out = [Float](repeating: 0, count: 3 * imageSize * imageSize)
        bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                if let s = src.baseAddress, let d = dst.baseAddress { resampler.convert(s, into: d) }
            }
        }
        guard cache else { return out }
        if let limit = imageCacheLimit, imageCache.count >= limit { imageCache.removeAll(keepingCapacity: true) }
        imageCache[row] = out
        return out
    }

    /// [CLS] pieces [SEP] and padding to the model's text length.
    public func ids(_ text: String) throws -> [Int64] {
        if let cached = textCache[text] { return cached }
        var ids = try tokenizer.encode(text, maxLength: textLength, addSpecialTokens: true).map(Int64.init)
        ids += [Int64](repeating: 0, count: textLength - ids.count)
        textCache[text] = ids
        return ids
    }

    /// Tensors for pairs: images (B, 3, S, S) and ids (B, L).
    public func batch(images rows: [Int], texts: [String], device: Device) throws -> (images: Tensor, ids: Tensor) {
        guard rows.count == texts.count else {
            throw EvalError.invalidArgument("pair batch: \(rows.count) images but \(texts.count) texts")
        }
        var pixels: [Float] = []
        pixels.reserveCapacity(rows.count * 3 * imageSize * imageSize)
        for r in rows { pixels += try image(r) }
        var ids: [Int64] = []
        for t in texts { ids += try self.ids(t) }
        return (try Tensor(pixels, shape: [rows.count, 3, imageSize, imageSize], device: device),
                try Tensor(ids, shape: [texts.count, textLength], device: device))
    }
}

/// Which Fashion-Gen text a protocol uses (protocols.md §2.3: `title` for MVLT/Kaleido reproduction).
public enum TextField: String, CaseIterable, Codable, Sendable {
    case title, description, concat

    public func column(_ file: FashionGenFile) throws -> [String] {
        switch self {
        case .title: return try file.names
        case .description: return try file.descriptions
        case .concat: return try file.concatDescriptions
        }
    }
}
