import Foundation

/// Errors of model construction and loading; each names the field, file or key at fault.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// A config value out of range (`field` is the JSON name).
    case invalidConfig(field: String, reason: String)
    /// `config(named:)` with a name not in the registry.
    case unknownConfig(name: String, known: [String])
    /// A config file that cannot be read or decoded.
    case configFile(path: String, field: String?, reason: String)
    /// A weights file whose tensors do not match the model.
    case weights(path: String, missing: [String], unexpected: [String], mismatched: [String])
    /// A weights file that is not MVLT's, or whose tensors contradict each other.
    case badWeights(path: String, reason: String)
    /// Inputs of the wrong shape or dtype for the model.
    case input(String)

    public var description: String {
        switch self {
        case let .invalidConfig(field, reason): return "invalid model config: \(field) \(reason)"
        case let .unknownConfig(name, known):
            return "unknown model config '\(name)'; known: \(known.joined(separator: ", ")) (or a path to a .json file)"
        case let .configFile(path, field, reason):
            return "\(path): " + (field.map { "field '\($0)': " } ?? "") + reason
        case let .weights(path, missing, unexpected, mismatched):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys: \(missing.joined(separator: ", "))") }
            if !unexpected.isEmpty { parts.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
            if !mismatched.isEmpty { parts.append("mismatched keys: \(mismatched.joined(separator: "; "))") }
            return "\(path): weights do not match the model: " + parts.joined(separator: "; ")
        case let .badWeights(path, reason): return "\(path): \(reason)"
        case let .input(message): return message
        }
    }
}

/// Named MVLT configurations (`fashionvl train --model mvlt-tiny`). The JSON below is also kept in
/// Configs/*.json for reading; the binary uses these embedded copies.
public enum ModelRegistry {
    static let json: [(String, String)] = [
        // The paper's / original code's model: 256 px, L 128, pvlt_tiny widths, all of spec §4.
        ("mvlt-tiny", """
        {"image_size": 256, "text_length": 128, "vocab_size": 30522, "text_hidden": 768,
         "embed_dims": [64, 128, 320, 512], "num_heads": [1, 2, 5, 8], "mlp_ratios": [8, 8, 4, 4],
         "depths": [2, 2, 2, 2], "sr_ratios": [8, 4, 2, 1]}
        """),
        // A CPU demo: 128 px, L 40, half widths (head dim 32), 256-d text embeddings, BERT's own N(0, 0.02)
        // for the position/type tables (with the code's N(0, 1) the words are ~2 % of each text token and a
        // short run never reads them; docs/ITM.md); otherwise as tiny.
        ("mvlt-demo", """
        {"image_size": 128, "text_length": 40, "vocab_size": 30522, "text_hidden": 256,
         "embed_dims": [32, 64, 160, 256], "num_heads": [1, 2, 5, 8], "mlp_ratios": [8, 8, 4, 4],
         "depths": [2, 2, 2, 2], "sr_ratios": [8, 4, 2, 1], "text_embedding_init": "bert"}
        """),
        // SyncMask's GPU profile: ViT-B/16 at 256 px + BERT-base layout (6 text + 6 fusion layers), spec §1/§5.
        ("syncmask-base", """
        {"family": "syncmask", "image_encoder": "vit", "image_size": 256, "patch_size": 16, "vision_width": 768,
         "vision_depth": 12, "vision_heads": 12, "text_width": 768, "text_heads": 12, "text_layers": 6,
         "fusion_layers": 6, "intermediate_size": 3072, "text_length": 128, "embed_dim": 256,
         "queue_size": 65536, "mim_decoder_layers": 2, "sync_layer": 2}
        """),
        // SyncMask on a laptop: a conv stem at 64 px (a ViT needed 3x the steps at 14x the cost per step,
        // docs/SYNCMASK.md), 1 text + 2 fusion layers of width 128, titles up to 32 tokens.
        ("syncmask-demo", """
        {"family": "syncmask", "image_encoder": "cnn", "image_size": 64, "cnn_channels": [16, 32, 64, 128],
         "patch_size": 16, "vision_width": 128, "vision_depth": 1, "vision_heads": 4, "text_width": 128,
         "text_heads": 4, "text_layers": 1, "fusion_layers": 2, "intermediate_size": 512, "text_length": 32,
         "embed_dim": 128, "queue_size": 4096, "mim_decoder_layers": 1, "sync_layer": -1, "text_pool": "mean"}
        """),
        // syncmask-demo's image side with a pretrained text tower: all-MiniLM-L6-v2 (6 layers of width 384) gives
        // 4 text + 2 fusion layers (their cross-attention fresh); mean pooling, as MiniLM's sentence embedding.
        ("syncmask-minilm", """
        {"family": "syncmask", "image_encoder": "cnn", "image_size": 64, "cnn_channels": [16, 32, 64, 128],
         "patch_size": 16, "vision_width": 128, "vision_depth": 1, "vision_heads": 4, "text_width": 384,
         "text_heads": 12, "text_layers": 4, "fusion_layers": 2, "intermediate_size": 1536, "max_positions": 512,
         "text_length": 32, "embed_dim": 128, "queue_size": 4096, "mim_decoder_layers": 1, "sync_layer": -1,
         "text_pool": "mean", "text_init": "minilm-l6"}
        """),
        // syncmask-demo with EfficientNet-Lite0 (ImageNet) as the image stem: 128 px → a 4×4 grid of 1280-d features
        // → 16 tokens (patch 32, the grid's stride); BatchNorm frozen (docs/SYNCMASK.md §7). Needs
        // scripts/fetch-weights efficientnet-lite0.
        ("syncmask-effnet", """
        {"family": "syncmask", "image_encoder": "efficientnet_lite0", "image_size": 128, "patch_size": 32,
         "vision_width": 128, "vision_depth": 1, "vision_heads": 4, "text_width": 128, "text_heads": 4,
         "text_layers": 1, "fusion_layers": 2, "intermediate_size": 512, "text_length": 32, "embed_dim": 128,
         "queue_size": 4096, "mim_decoder_layers": 1, "sync_layer": -1, "text_pool": "mean",
         "image_init": "efficientnet-lite0"}
        """),
        // Kaleido-BERT's GPU profile (spec §3.3): BERT-base over 64 text + 55 patch tokens, ResNet-50 features (D 2048).
        ("kaleido-base", """
        {"family": "kaleido", "hidden": 768, "layers": 12, "heads": 12, "intermediate_size": 3072, "text_length": 64,
         "feature_dim": 2048}
        """),
        // Kaleido-BERT on a laptop (spec §3.3): L4 H256 A4 FFN1024 over EfficientNet-Lite0 patch features (D 1280).
        ("kaleido-demo", """
        {"family": "kaleido", "hidden": 256, "layers": 4, "heads": 4, "intermediate_size": 1024, "text_length": 64,
         "feature_dim": 1280}
        """),
        // Kaleido-BERT with MiniLM-L6's shape, its text side starting from all-MiniLM-L6-v2 (scripts/fetch-weights
        // minilm-l6), as the paper starts from BERT-base.
        ("kaleido-minilm", """
        {"family": "kaleido", "hidden": 384, "layers": 6, "heads": 12, "intermediate_size": 1536, "text_length": 64,
         "feature_dim": 1280, "text_init": "minilm-l6"}
        """),
    ]

    public static var names: [String] { json.map(\.0) }

    /// The registered JSON of `name`.
    public static func text(named name: String) throws -> String {
        guard let text = json.first(where: { $0.0 == name })?.1 else {
            throw ModelError.unknownConfig(name: name, known: names)
        }
        return text
    }

    /// The named MVLT configuration, validated.
    public static func config(named name: String) throws -> MVLTConfig {
        try MVLTConfig.decode(Data(text(named: name).utf8), source: "<registry:\(name)>")
    }

    /// The JSON of a registry name or a config file (`--config`), and where it came from.
    public static func source(nameOrPath: String) throws -> (data: Data, source: String) {
        if names.contains(nameOrPath) { return (Data(try text(named: nameOrPath).utf8), "<registry:\(nameOrPath)>") }
        let looksLikePath = nameOrPath.hasSuffix(".json") || nameOrPath.contains("/")
        guard looksLikePath else { throw ModelError.unknownConfig(name: nameOrPath, known: names) }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: nameOrPath, isDirectory: &isDir), !isDir.boolValue,
              let data = FileManager.default.contents(atPath: nameOrPath) else {
            throw ModelError.configFile(path: nameOrPath, field: nil, reason: "cannot read the file (expected a JSON model config)")
        }
        return (data, nameOrPath)
    }

    /// The model family of a config: its "family" key, "mvlt" when absent.
    public static func family(of data: Data, source: String) throws -> ModelFamily {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            _ = try MVLTConfig.decode(data, source: source)   // names the parse error's place
            throw ModelError.configFile(path: source, field: nil, reason: "expected a JSON object")
        }
        guard let raw = object["family"] else { return .mvlt }
        guard let name = raw as? String, let family = ModelFamily(rawValue: name) else {
            throw ModelError.configFile(path: source, field: "family",
                                        reason: "expected one of \(ModelFamily.allCases.map(\.rawValue).joined(separator: ", ")), got \(raw)")
        }
        return family
    }

    /// A registry name or config file, decoded as its family's config.
    public static func load(nameOrPath: String) throws -> AnyModelConfig {
        let (data, source) = try source(nameOrPath: nameOrPath)
        switch try family(of: data, source: source) {
        case .mvlt: return .mvlt(try MVLTConfig.decode(data, source: source))
        case .syncmask: return .syncmask(try SyncMaskConfig.decode(data, source: source))
        case .kaleido: return .kaleido(try KaleidoConfig.decode(data, source: source))
        }
    }
}

/// The model families FashionVL trains; every job command dispatches on it.
public enum ModelFamily: String, CaseIterable, Codable, Sendable {
    case mvlt, syncmask, kaleido
}

/// A decoded config of any family. Codable as the family's own JSON object, told apart by its "family" key
/// (absent = MVLT, so MVLT files read and write exactly what they always have).
public enum AnyModelConfig: Codable, Sendable {
    case mvlt(MVLTConfig)
    case syncmask(SyncMaskConfig)
    case kaleido(KaleidoConfig)

    public var family: ModelFamily {
        switch self {
        case .mvlt: return .mvlt
        case .syncmask: return .syncmask
        case .kaleido: return .kaleido
        }
    }

    /// The image side the model reads. Kaleido-BERT reads cached patch features by row, not pixels: its loaders
    /// (which give the rows) read 8-px images that are not used.
    public var imageSize: Int {
        switch self {
        case let .mvlt(c): return c.imageSize
        case let .syncmask(c): return c.imageSize
        case .kaleido: return 8
        }
    }

    public var textLength: Int {
        switch self {
        case let .mvlt(c): return c.textLength
        case let .syncmask(c): return c.textLength
        case let .kaleido(c): return c.textLength
        }
    }

    private struct Family: Decodable { var family: String? }

    public init(from decoder: Decoder) throws {
        switch try Family(from: decoder).family ?? ModelFamily.mvlt.rawValue {
        case ModelFamily.mvlt.rawValue: self = .mvlt(try MVLTConfig(from: decoder))
        case ModelFamily.syncmask.rawValue: self = .syncmask(try SyncMaskConfig(from: decoder))
        case ModelFamily.kaleido.rawValue: self = .kaleido(try KaleidoConfig(from: decoder))
        case let other:
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "unknown model family \"\(other)\" (known: mvlt, syncmask, kaleido)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case let .mvlt(c): try c.encode(to: encoder)
        case let .syncmask(c): try c.encode(to: encoder)
        case let .kaleido(c): try c.encode(to: encoder)
        }
    }
}

extension KaleidoConfig {
    public static func load(nameOrPath: String) throws -> KaleidoConfig {
        guard case let .kaleido(c) = try ModelRegistry.load(nameOrPath: nameOrPath) else {
            throw ModelError.configFile(path: nameOrPath, field: "family", reason: "expected a Kaleido-BERT config (\"family\": \"kaleido\")")
        }
        return c
    }

    /// Decodes and validates JSON; errors name `source` and the offending field.
    public static func decode(_ data: Data, source: String) throws -> KaleidoConfig {
        try ModelRegistry.decodeValidated(data, source: source, as: KaleidoConfig.self) { try $0.validate() }
    }
}

extension SyncMaskConfig {
    public static func load(nameOrPath: String) throws -> SyncMaskConfig {
        guard case let .syncmask(c) = try ModelRegistry.load(nameOrPath: nameOrPath) else {
            throw ModelError.configFile(path: nameOrPath, field: "family", reason: "expected a SyncMask config (\"family\": \"syncmask\")")
        }
        return c
    }

    /// Decodes and validates JSON; errors name `source` and the offending field.
    public static func decode(_ data: Data, source: String) throws -> SyncMaskConfig {
        try ModelRegistry.decodeValidated(data, source: source, as: SyncMaskConfig.self) { try $0.validate() }
    }
}

extension MVLTConfig {
    /// The paper's model (`mvlt-tiny`).
    public static var tiny: MVLTConfig { MVLTConfig() }

    /// A registry name (`mvlt-tiny`) or a path to a JSON file.
    public static func load(nameOrPath: String) throws -> MVLTConfig {
        guard case let .mvlt(c) = try ModelRegistry.load(nameOrPath: nameOrPath) else {
            throw ModelError.configFile(path: nameOrPath, field: "family", reason: "expected an MVLT config, got a SyncMask one (this command trains MVLT only)")
        }
        return c
    }

    /// Decodes and validates JSON; errors name `source` and the offending field.
    public static func decode(_ data: Data, source: String) throws -> MVLTConfig {
        try ModelRegistry.decodeValidated(data, source: source, as: MVLTConfig.self) { try $0.validate() }
    }
}

extension ModelRegistry {
    /// JSON → a config, with errors that name `source`, the field and (for syntax errors) what the parser said.
    static func decodeValidated<C: Decodable>(_ data: Data, source: String, as: C.Type, validate: (C) throws -> Void) throws -> C {
        let config: C
        do {
            config = try JSONDecoder().decode(C.self, from: data)
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw ModelError.configFile(path: source, field: JSONText.fieldPath(ctx), reason: "expected \(JSONText.kind(type))")
        } catch let DecodingError.valueNotFound(type, ctx) {
            throw ModelError.configFile(path: source, field: JSONText.fieldPath(ctx), reason: "expected \(JSONText.kind(type)), got null")
        } catch let DecodingError.dataCorrupted(ctx) {
            if ctx.codingPath.isEmpty, let place = ConfigChecks.syntaxError(in: data) {
                throw ModelError.configFile(path: source, field: nil, reason: "not valid JSON: \(place)")
            }
            throw ModelError.configFile(path: source, field: ctx.codingPath.isEmpty ? nil : JSONText.fieldPath(ctx),
                                        reason: ctx.debugDescription)
        } catch {
            throw ModelError.configFile(path: source, field: nil, reason: "\(error)")
        }
        do {
            try validate(config)
        } catch let ModelError.invalidConfig(field, reason) {
            throw ModelError.configFile(path: source, field: field, reason: reason)
        }
        return config
    }
}
