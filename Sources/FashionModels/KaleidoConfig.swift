// Configuration of Kaleido-BERT (shared/spec/kaleido-bert.md §3). Defaults are the paper's GPU profile
// (`kaleido-base`: BERT-base over 64 text + 55 patch tokens); named variants live in Registry.swift.

public struct KaleidoConfig: Codable, Sendable, Equatable {
    public var family = "kaleido"
    /// H, layers, heads and FFN width of the single-stream BERT encoder (post-LN, exact GELU).
    public var hidden = 768
    public var layers = 12
    public var heads = 12
    public var intermediateSize = 3072
    public var vocabSize = 30522
    public var maxPositions = 512
    /// L_text: [CLS] pieces [SEP], padded (spec §3.1: 64).
    public var textLength = 64
    /// D: the frozen patch feature width (2048 for ResNet-50, 1280 for EfficientNet-Lite0).
    public var featureDim = 2048
    /// Dropout of the embeddings (text after LN; visual on the raw feature and after LN), spec §3.2. The shared
    /// BERT layers (SyncMaskText.swift) carry no dropout.
    public var dropout = 0.1
    /// N(0, std) initialisation of every linear and embedding weight (BERT's 0.02).
    public var initializerRange = 0.02
    /// The camouflage (CP) head: the spec's linear 9H → 9 over the concatenated K3 states (the default), or
    /// FashionVL's `contrast` head (docs/KALEIDO.md "Camouflage heads"), which scores each K3 state by its
    /// distance from the mean of the nine and learns on the synthetic catalog where the linear head stays at chance.
    public var camouflageHead = KaleidoCamouflageHead.linear
    /// A BERT-layout text tower to start from (`minilm-l6` or a safetensors file; KaleidoPretrained.swift), as the
    /// paper starts from BERT-base; nil = random initialisation.
    public var textInit: String?

    public init() {}

    /// Patch tokens after the text: 55 (levels of 1, 4, 9, 16, 25).
    public static let patches = 55
    /// Patches per level, K1…K5, and the first patch of each level.
    public static let levelSizes = [1, 4, 9, 16, 25]
    public static func levelOffset(_ k: Int) -> Int { levelSizes.prefix(k - 1).reduce(0, +) }
    /// Sequence length: text + patches (119 for the paper's 64).
    public var sequenceLength: Int { textLength + KaleidoConfig.patches }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case family, hidden, layers, heads, intermediateSize = "intermediate_size", vocabSize = "vocab_size"
        case maxPositions = "max_positions", textLength = "text_length", featureDim = "feature_dim", dropout
        case initializerRange = "initializer_range", camouflageHead = "camouflage_head", textInit = "text_init"
    }

    /// Missing fields keep their defaults; unknown keys are errors (a misspelt key must not train silently).
    public init(from decoder: Decoder) throws {
        try ConfigChecks.refuseUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func get<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try get(.family, &family); try get(.hidden, &hidden); try get(.layers, &layers); try get(.heads, &heads)
        try get(.intermediateSize, &intermediateSize); try get(.vocabSize, &vocabSize)
        try get(.maxPositions, &maxPositions); try get(.textLength, &textLength); try get(.featureDim, &featureDim)
        try get(.dropout, &dropout); try get(.initializerRange, &initializerRange)
        textInit = try c.decodeIfPresent(String.self, forKey: .textInit)
        if let name = try c.decodeIfPresent(String.self, forKey: .camouflageHead) {
            guard let head = KaleidoCamouflageHead(rawValue: name) else {
                throw DecodingError.dataCorruptedError(forKey: .camouflageHead, in: c, debugDescription:
                    "must be one of \(KaleidoCamouflageHead.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(name)\"")
            }
            camouflageHead = head
        }
    }

    /// Throws `ModelError.invalidConfig` naming the first field out of range.
    public func validate() throws {
        func fail(_ field: CodingKeys, _ reason: String) -> ModelError {
            ModelError.invalidConfig(field: field.rawValue, reason: reason)
        }
        guard family == "kaleido" else { throw fail(.family, "must be \"kaleido\", got \"\(family)\"") }
        try ConfigChecks.bounds([
            ("hidden", hidden, 1...8192), ("layers", layers, 1...64), ("heads", heads, 1...256),
            ("intermediate_size", intermediateSize, 1...65536), ("vocab_size", vocabSize, 104...(1 << 20)),
            ("max_positions", maxPositions, 1...8192), ("text_length", textLength, 2...8192),
            ("feature_dim", featureDim, 1...16384),
        ])
        guard hidden % heads == 0 else { throw fail(.heads, "the hidden width \(hidden) is not divisible by \(heads) heads") }
        guard textLength <= maxPositions else {
            throw fail(.textLength, "must be at most max_positions (\(maxPositions)), got \(textLength)")
        }
        guard dropout >= 0, dropout < 1 else { throw fail(.dropout, "must be in [0, 1), got \(dropout)") }
        guard initializerRange > 0, initializerRange <= 1 else {
            throw fail(.initializerRange, "must be in (0, 1], got \(initializerRange)")
        }
    }
}

/// Which head predicts the camouflaged K3 slot (`camouflage_head`).
public enum KaleidoCamouflageHead: String, Codable, Sendable, CaseIterable {
    /// The spec's (§6.5): `camouflage_head`, linear 9H → 9 on the concatenated K3 outputs.
    case linear
    /// FashionVL's: `camouflage_contrast`, logit_s = scale · d_s / mean(d), d_s = ‖W h_s − mean_t W h_t‖², W: H → min(64, H).
    case contrast
}
