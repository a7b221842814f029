// Opening any checkpoint for evaluation, by model family. A run folder's config.json has a "model" object;
// "family" absent or "mvlt" → MVLT, opened exactly as `EvalModel.open` always has; any other family → a
// `DualEncoder` built by the opener registered for it in `ModelFamilies` (the command line registers
// SyncMask there). A bare weights file is always MVLT (original MVLT names).
import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

/// The single registration point of the model families that open as a `DualEncoder`.
public enum ModelFamilies {
    /// Builds a model from the run's config.json "model" object (JSON bytes, "family" included), the path of the
    /// checkpoint's safetensors (a trainer checkpoint: the weights plus "optimizer."-prefixed state to skip), and
    /// the device. It returns the model on `device` in eval mode; errors should name `weightsPath` or the field.
    public typealias DualEncoderOpener = (_ modelConfig: Data, _ weightsPath: String, _ device: Device) throws -> any DualEncoder

    /// The family name MVLT configs carry, or omit.
    public static let mvlt = "mvlt"

    private static let lock = NSLock()
    nonisolated(unsafe) private static var openers: [String: DualEncoderOpener] = [:]

    /// Registers (or replaces) the opener of `family`, e.g. `ModelFamilies.register("syncmask") { … }`.
    public static func register(_ family: String, _ opener: @escaping DualEncoderOpener) {
        lock.lock(); defer { lock.unlock() }
        openers[family] = opener
    }

    public static func opener(_ family: String) -> DualEncoderOpener? {
        lock.lock(); defer { lock.unlock() }
        return openers[family]
    }

    /// Registered dual-encoder and row cross-encoder families, sorted.
    public static var registered: [String] {
        lock.lock(); defer { lock.unlock() }
        return Set(openers.keys).union(rowOpeners.keys).sorted()
    }

    /// Builds a row cross-encoder (Kaleido-BERT) for the catalog file `file` from a run folder and the path of its
    /// checkpoint's safetensors; errors should name the run, the file or the field.
    public typealias RowCrossEncoderOpener = (_ runFolder: String, _ weightsPath: String, _ device: Device,
                                              _ file: FashionGenFile) throws -> any RowCrossEncoder
    nonisolated(unsafe) private static var rowOpeners: [String: RowCrossEncoderOpener] = [:]

    /// Registers (or replaces) the row cross-encoder opener of `family`.
    public static func registerRowCrossEncoder(_ family: String, _ opener: @escaping RowCrossEncoderOpener) {
        lock.lock(); defer { lock.unlock() }
        rowOpeners[family] = opener
    }

    public static func rowOpener(_ family: String) -> RowCrossEncoderOpener? {
        lock.lock(); defer { lock.unlock() }
        return rowOpeners[family]
    }
}

/// A cross-encoder that reads images as per-row inputs of one catalog file (Kaleido-BERT's cached patch
/// features) instead of pixels: it scores pairs by ITM and has no embeddings.
public protocol RowCrossEncoder: AnyObject {
    var textLength: Int { get }
    /// P(match) of B (image row, text) pairs, ids (B, L) int64 (0 = padding) → (B) float32, clean inputs.
    func matchProbabilities(imageRows: [Int], ids: Tensor) throws -> Tensor
}

/// A row cross-encoder opened from a run folder; `open` binds it to the evaluated catalog file.
public struct RowCrossEncoderCheckpoint {
    public let family: String
    public let runFolder: String
    public let weightsPath: String
    public let open: (FashionGenFile) throws -> any RowCrossEncoder
}

/// A dual encoder opened from a run folder.
public struct DualEncoderCheckpoint {
    public let model: any DualEncoder
    public let family: String
    /// The config.json "model" object, as compact key-sorted JSON.
    public let modelConfig: String
    public let runFolder: String
    public let weightsPath: String
}

/// A checkpoint opened for evaluation: MVLT (a cross-encoder with ITM) or a dual encoder (ITC, maybe ITM).
public enum EvalCheckpoint {
    case mvlt(EvalModel)
    case dualEncoder(DualEncoderCheckpoint)
    case rowCrossEncoder(RowCrossEncoderCheckpoint)

    public var runFolder: String? {
        switch self {
        case let .mvlt(m): return m.runFolder
        case let .dualEncoder(d): return d.runFolder
        case let .rowCrossEncoder(r): return r.runFolder
        }
    }

    public var weightsPath: String {
        switch self {
        case let .mvlt(m): return m.weightsPath
        case let .dualEncoder(d): return d.weightsPath
        case let .rowCrossEncoder(r): return r.weightsPath
        }
    }

    public var family: String {
        switch self {
        case .mvlt: return ModelFamilies.mvlt
        case let .dualEncoder(d): return d.family
        case let .rowCrossEncoder(r): return r.family
        }
    }

    /// Opens `checkpoint` (a run folder or an MVLT weights file). `imageSize` applies to MVLT only.
    public static func open(_ checkpoint: String, imageSize: Int? = nil, device: Device = .cpu) throws -> EvalCheckpoint {
        guard let (family, model) = try modelObject(of: checkpoint), family != ModelFamilies.mvlt else {
            return .mvlt(try EvalModel.open(checkpoint, imageSize: imageSize, device: device))
        }
        if let rowOpener = ModelFamilies.rowOpener(family) {
            if imageSize != nil {
                throw EvalError.invalidArgument("\(checkpoint): --image-size applies to MVLT weights only; a \(family) run reads its cached patch features")
            }
            guard let state = try CheckpointStore(run: checkpoint).latest() else {
                throw EvalError.invalidArgument("\(checkpoint): the run has no complete checkpoint yet (last.json)")
            }
            let weights = checkpoint + "/" + state.weights
            return .rowCrossEncoder(RowCrossEncoderCheckpoint(family: family, runFolder: checkpoint, weightsPath: weights) { file in
                try rowOpener(checkpoint, weights, device, file)
            })
        }
        guard let opener = ModelFamilies.opener(family) else {
            let known = ([ModelFamilies.mvlt] + ModelFamilies.registered).joined(separator: ", ")
            throw EvalError.invalidArgument("\(checkpoint): model family \"\(family)\" is not available in this build (known: \(known))")
        }
        if imageSize != nil {
            throw EvalError.invalidArgument("\(checkpoint): --image-size applies to MVLT weights only; a \(family) run's config gives its own")
        }
        guard let state = try CheckpointStore(run: checkpoint).latest() else {
            throw EvalError.invalidArgument("\(checkpoint): the run has no complete checkpoint yet (last.json)")
        }
        let weights = checkpoint + "/" + state.weights
        let json = try JSONSerialization.data(withJSONObject: model, options: [.sortedKeys, .withoutEscapingSlashes])
        let opened = try opener(json, weights, device)
        return .dualEncoder(DualEncoderCheckpoint(model: opened, family: family, modelConfig: String(decoding: json, as: UTF8.self),
                                                  runFolder: checkpoint, weightsPath: weights))
    }

    /// The family and "model" object of a run folder's config.json; nil for anything else (a weights file, a
    /// folder without a readable config, a config without a "model" object: `EvalModel.open` says what is wrong).
    static func modelObject(of checkpoint: String) throws -> (String, [String: Any])? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: checkpoint, isDirectory: &isDir), isDir.boolValue,
              let data = FileManager.default.contents(atPath: checkpoint + "/config.json"),
              let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let model = config["model"] as? [String: Any] else { return nil }
        guard let value = model["family"] else { return (ModelFamilies.mvlt, model) }
        guard let family = value as? String else {
            throw EvalError.invalidArgument("\(checkpoint)/config.json: model.family must be a string, got \(value)")
        }
        return (family, model)
    }

    /// The model as a dual encoder, or one error line naming the checkpoint when it has no ITC heads (MVLT).
    public func dualEncoder(checkpoint: String, for purpose: String) throws -> DualEncoderCheckpoint {
        switch self {
        case let .dualEncoder(d): return d
        case .mvlt: throw EvalCheckpoint.noITCHeads(checkpoint, purpose: purpose)
        case let .rowCrossEncoder(r):
            throw EvalError.invalidArgument("\(checkpoint): a \(r.family) checkpoint is a cross-encoder without ITC heads (no image or text embeddings), so it cannot \(purpose); score retrieval with --scorer itm")
        }
    }

    /// "CK: an MVLT checkpoint has no ITC heads …, so it cannot `purpose` …".
    public static func noITCHeads(_ checkpoint: String, purpose: String) -> EvalError {
        .invalidArgument("\(checkpoint): an MVLT checkpoint has no ITC heads (no image or text embeddings), so it cannot \(purpose); that needs a dual encoder such as SyncMask")
    }
}
