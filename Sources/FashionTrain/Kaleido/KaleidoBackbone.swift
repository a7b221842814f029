// The frozen patch-feature backbone of Kaleido-BERT (spec/kaleido-bert.md §2.3): EfficientNet-Lite0 with its
// ImageNet weights by default (1280-d pooled features, BatchNorm folded, no autograd). The paper's ImageNet
// ResNet-50 is not wired yet (docs/KALEIDO-PREPARE.md: what it needs).
import FashionData
import FashionModels
import Foundation
import Torch

/// A frozen image network that turns crops into one pooled feature each.
public protocol KaleidoBackbone: AnyObject {
    /// Its identity in a feature cache: name, SHA-256 of the weights file, the crop side fed to it, feature width.
    var identity: KaleidoBackboneIdentity { get }
    /// (N, 3, C, C) uint8 RGB in [0, 255] → (N, D) float32 pooled features.
    func pooled(_ pixels: Tensor) throws -> Tensor
}

/// What makes two feature caches comparable.
public struct KaleidoBackboneIdentity: Codable, Equatable, Sendable {
    public var name: String
    public var weightsSHA256: String
    public var cropSize: Int
    public var featureDim: Int
}

/// EfficientNet-Lite0 (Sources/FashionModels/EfficientNetLite.swift), BN-folded.
public final class EfficientNetLiteBackbone: KaleidoBackbone {
    public static let name = "efficientnet-lite0"
    public let identity: KaleidoBackboneIdentity
    let net: EfficientNetLiteFolded

    /// `weights`: a converted safetensors file; nil = the registered `efficientnet-lite0` in the weights cache.
    /// A file of another architecture is a `ModelError.weights` naming the first missing/unexpected key.
    public init(weights: String? = nil, cropSize: Int) throws {
        let path = try weights ?? PretrainedWeights.resolve(Self.name, tower: .image)
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError.badWeights(path: path, reason: "no such file; run scripts/fetch-weights efficientnet-lite0 (or pass --weights)")
        }
        net = try EfficientNetLite.load(from: path).folded()
        identity = KaleidoBackboneIdentity(name: Self.name, weightsSHA256: try SHA256.file(path), cropSize: cropSize,
                                           featureDim: EfficientNetLite.featureChannels)
    }

    public func pooled(_ pixels: Tensor) throws -> Tensor { try net.pooled(pixels) }
}

public enum KaleidoBackbones {
    public static let names = [EfficientNetLiteBackbone.name]

    /// The backbone `name` with `weights` (nil: the registered default file).
    public static func open(name: String, weights: String?, cropSize: Int) throws -> KaleidoBackbone {
        switch name {
        case EfficientNetLiteBackbone.name: return try EfficientNetLiteBackbone(weights: weights, cropSize: cropSize)
        default:
            throw TrainError.badArgument("unknown kaleido backbone '\(name)'; known: \(names.joined(separator: ", "))")
        }
    }
}
