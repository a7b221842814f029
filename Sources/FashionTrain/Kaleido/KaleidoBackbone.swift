// The frozen patch-feature backbone of Kaleido-BERT (spec/kaleido-bert.md §2.3), by name (`kaleido-prepare
// --backbone`): `efficientnet-lite0`, the default, with its ImageNet weights (1280-d pooled features), or
// `resnet50`, the paper's ImageNet ResNet-50 (2048-d, the spec's faithful mode; `kaleido-base` reads it) from a
// torchvision state dict the user converts to safetensors (docs/KALEIDO-PREPARE.md §2). Both BatchNorm-folded, no
// autograd; a weights file of another architecture is one error naming the file and the first missing or
// unexpected key.
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

/// torchvision's ResNet-50 (Sources/FashionModels/ResNet.swift), BN-folded: ImageNet-normalised input, the pooled
/// 2048-d layer4 feature.
public final class ResNet50Backbone: KaleidoBackbone {
    public static let name = "resnet50"
    public let identity: KaleidoBackboneIdentity
    let net: ResNet50Folded

    /// Where `--weights` defaults to: $FASHIONVL_WEIGHTS (or ~/.cache/fashionvl/weights)/resnet50/model.safetensors.
    public static var defaultPath: String { PretrainedWeights.root + "/" + name + "/model.safetensors" }

    /// `weights`: a torchvision ResNet-50 state dict as safetensors (docs/KALEIDO-PREPARE.md §2); nil = `defaultPath`.
    /// A file of another architecture is a `ModelError.weights` naming the first missing/unexpected key.
    public init(weights: String? = nil, cropSize: Int) throws {
        let path = weights ?? Self.defaultPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError.badWeights(path: path, reason: "no such file; ResNet-50 weights are not shipped: convert torchvision's resnet50 .pth to safetensors (docs/KALEIDO-PREPARE.md §2) and pass --weights FILE")
        }
        net = try ResNet50.load(from: path).folded()
        identity = KaleidoBackboneIdentity(name: Self.name, weightsSHA256: try SHA256.file(path), cropSize: cropSize,
                                           featureDim: ResNet50.featureChannels)
    }

    public func pooled(_ pixels: Tensor) throws -> Tensor { try net.pooled(pixels) }
}

public enum KaleidoBackbones {
    public static let names = [EfficientNetLiteBackbone.name, ResNet50Backbone.name]

    /// The backbone whose pooled features are `featureDim` wide (1280: efficientnet-lite0, 2048: resnet50), if any.
    public static func name(featureDim: Int) -> String? {
        [EfficientNetLite.featureChannels: EfficientNetLiteBackbone.name, ResNet50.featureChannels: ResNet50Backbone.name][featureDim]
    }

    /// The backbone `name` with `weights` (nil: the registered default file).
    public static func open(name: String, weights: String?, cropSize: Int) throws -> KaleidoBackbone {
        switch name {
        case EfficientNetLiteBackbone.name: return try EfficientNetLiteBackbone(weights: weights, cropSize: cropSize)
        case ResNet50Backbone.name: return try ResNet50Backbone(weights: weights, cropSize: cropSize)
        default:
            throw TrainError.badArgument("unknown kaleido backbone '\(name)'; known: \(names.joined(separator: ", "))")
        }
    }
}
