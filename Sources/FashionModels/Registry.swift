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
        case let .invalidConfig(field, reason): return "invalid MVLT config: \(field) \(reason)"
        case let .unknownConfig(name, known):
            return "unknown model config '\(name)'; known: \(known.joined(separator: ", ")) (or a path to a .json file)"
        case let .configFile(path, field, reason):
            return "\(path): " + (field.map { "field '\($0)': " } ?? "") + reason
        case let .weights(path, missing, unexpected, mismatched):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing keys: \(missing.joined(separator: ", "))") }
            if !unexpected.isEmpty { parts.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
            if !mismatched.isEmpty { parts.append("mis-shaped keys: \(mismatched.joined(separator: "; "))") }
            return "\(path): weights do not match the MVLT model: " + parts.joined(separator: "; ")
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
    ]

    public static var names: [String] { json.map(\.0) }

    /// The named configuration, validated.
    public static func config(named name: String) throws -> MVLTConfig {
        guard let text = json.first(where: { $0.0 == name })?.1 else {
            throw ModelError.unknownConfig(name: name, known: names)
        }
        return try MVLTConfig.decode(Data(text.utf8), source: "<registry:\(name)>")
    }
}

extension MVLTConfig {
    /// The paper's model (`mvlt-tiny`).
    public static var tiny: MVLTConfig { MVLTConfig() }

    /// A registry name (`mvlt-tiny`) or a path to a JSON file.
    public static func load(nameOrPath: String) throws -> MVLTConfig {
        if ModelRegistry.names.contains(nameOrPath) { return try ModelRegistry.config(named: nameOrPath) }
        let looksLikePath = nameOrPath.hasSuffix(".json") || nameOrPath.contains("/")
        guard looksLikePath else { throw ModelError.unknownConfig(name: nameOrPath, known: ModelRegistry.names) }
        guard let data = FileManager.default.contents(atPath: nameOrPath) else {
            throw ModelError.configFile(path: nameOrPath, field: nil, reason: "cannot read the file")
        }
        return try decode(data, source: nameOrPath)
    }

    /// Decodes and validates JSON; errors name `source` and the offending field.
    public static func decode(_ data: Data, source: String) throws -> MVLTConfig {
        let config: MVLTConfig
        do {
            config = try JSONDecoder().decode(MVLTConfig.self, from: data)
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw ModelError.configFile(path: source, field: fieldPath(ctx), reason: "expected \(type)")
        } catch let DecodingError.valueNotFound(type, ctx) {
            throw ModelError.configFile(path: source, field: fieldPath(ctx), reason: "expected \(type), got null")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw ModelError.configFile(path: source, field: ctx.codingPath.isEmpty ? nil : fieldPath(ctx),
                                        reason: ctx.debugDescription)
        } catch {
            throw ModelError.configFile(path: source, field: nil, reason: "\(error)")
        }
        do {
            try config.validate()
        } catch let ModelError.invalidConfig(field, reason) {
            throw ModelError.configFile(path: source, field: field, reason: reason)
        }
        return config
    }

    private static func fieldPath(_ ctx: DecodingError.Context) -> String {
        ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
    }
}
