// Configuration of SyncMask (shared/spec/syncmask.md §1, §5; docs/SYNCMASK.md §1). Defaults are the GPU
// profile (`syncmask-base`: ViT-B/16 + BERT-base layout); named variants live in Registry.swift.

/// The image tower's stem.
public enum SyncMaskImageEncoder: String, Codable, Sendable {
    /// Patch embedding (Conv2d p×p, stride p), as ALBEF's ViT.
    case vit
    /// Stride-2 3×3 conv stages (GroupNorm, GELU), then a linear map to the vision width: learns from scratch
    /// in a CPU budget (docs/SYNCMASK.md).
    case cnn
    /// EfficientNet-Lite0 (`visual_encoder.backbone.*`, lukemelas names, BatchNorm frozen in evaluation mode): its
    /// last feature grid (B, 1280, S/32, S/32) gives the patch tokens; patch_size must be 32 (docs/SYNCMASK.md §7).
    case efficientnetLite0 = "efficientnet_lite0"
}

/// How the ITC text feature pools the text-mode states.
public enum SyncMaskTextPool: String, Codable, Sendable {
    /// The [CLS] state (ALBEF; default).
    case cls
    /// The mean over the real tokens.
    case mean
}

public struct SyncMaskConfig: Codable, Sendable, Equatable {
    public var family = "syncmask"
    public var imageEncoder = SyncMaskImageEncoder.vit
    public var imageSize = 256
    public var patchSize = 16
    public var cnnChannels = [16, 32, 64, 128]
    public var visionWidth = 768
    public var visionDepth = 12
    public var visionHeads = 12
    public var mlpRatio = 4
    public var textWidth = 768
    public var textHeads = 12
    public var textLayers = 6
    public var fusionLayers = 6
    public var intermediateSize = 3072
    public var vocabSize = 30522
    public var maxPositions = 512
    public var textLength = 128
    public var embedDim = 256
    public var temp = 0.07
    public var queueSize = 65536
    public var momentum = 0.995
    public var alpha = 0.4
    public var mimDecoderLayers = 2
    /// Fusion layer (0-based among the fusion layers; −1 = the last) whose cross-attention makes the masks.
    public var syncLayer = 2
    public var mlmProbability = 0.15
    public var mimRatio = 0.25
    public var poolFactor = 2
    public var textPool = SyncMaskTextPool.cls
    /// Pretrained text tower: a registered name (`minilm-l6`, SyncMaskPretrained.swift) or a BERT-layout safetensors
    /// file; loaded into `text_encoder.bert` and its momentum copy when pretraining starts. nil = random init.
    public var textInit: String?
    /// Pretrained image tower: a registered name (`efficientnet-lite0`, for image_encoder efficientnet_lite0) or a
    /// safetensors file of `visual_encoder.*` tensors of this config's shapes (with image_encoder efficientnet_lite0
    /// also a converted EfficientNet-Lite0 file, lukemelas names). nil = random.
    public var imageInit: String?

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case family, imageEncoder = "image_encoder", imageSize = "image_size", patchSize = "patch_size"
        case cnnChannels = "cnn_channels", visionWidth = "vision_width", visionDepth = "vision_depth"
        case visionHeads = "vision_heads", mlpRatio = "mlp_ratio", textWidth = "text_width", textHeads = "text_heads"
        case textLayers = "text_layers", fusionLayers = "fusion_layers", intermediateSize = "intermediate_size"
        case vocabSize = "vocab_size", maxPositions = "max_positions", textLength = "text_length"
        case embedDim = "embed_dim", temp, queueSize = "queue_size", momentum, alpha
        case mimDecoderLayers = "mim_decoder_layers", syncLayer = "sync_layer", mlmProbability = "mlm_probability"
        case mimRatio = "mim_ratio", poolFactor = "pool_factor", textPool = "text_pool"
        case textInit = "text_init", imageInit = "image_init"
    }

    /// Missing fields keep their defaults; unknown keys are errors (a misspelt key must not train silently).
    public init(from decoder: Decoder) throws {
        try ConfigChecks.refuseUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func get<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try get(.family, &family); try get(.imageEncoder, &imageEncoder); try get(.imageSize, &imageSize)
        try get(.patchSize, &patchSize); try get(.cnnChannels, &cnnChannels); try get(.visionWidth, &visionWidth)
        try get(.visionDepth, &visionDepth); try get(.visionHeads, &visionHeads); try get(.mlpRatio, &mlpRatio)
        try get(.textWidth, &textWidth); try get(.textHeads, &textHeads); try get(.textLayers, &textLayers)
        try get(.fusionLayers, &fusionLayers); try get(.intermediateSize, &intermediateSize)
        try get(.vocabSize, &vocabSize); try get(.maxPositions, &maxPositions); try get(.textLength, &textLength)
        try get(.embedDim, &embedDim); try get(.temp, &temp); try get(.queueSize, &queueSize)
        try get(.momentum, &momentum); try get(.alpha, &alpha); try get(.mimDecoderLayers, &mimDecoderLayers)
        try get(.syncLayer, &syncLayer); try get(.mlmProbability, &mlmProbability); try get(.mimRatio, &mimRatio)
        try get(.poolFactor, &poolFactor); try get(.textPool, &textPool)
        textInit = try c.decodeIfPresent(String.self, forKey: .textInit)
        imageInit = try c.decodeIfPresent(String.self, forKey: .imageInit)
    }

    // MARK: derived values

    /// Side of the square patches that MIM masks and the image tokens stand for.
    public var tokenPatch: Int {
        switch imageEncoder {
        case .vit: return patchSize
        case .cnn: return 1 << cnnChannels.count
        case .efficientnetLite0: return EfficientNetLite.stride
        }
    }
    /// Patch tokens N (the image sequence is 1 + N with [CLS]).
    public var patches: Int { (imageSize / tokenPatch) * (imageSize / tokenPatch) }
    /// Fusion layer index among the fusion layers that makes the masks.
    public var syncLayerIndex: Int { syncLayer < 0 ? fusionLayers + syncLayer : syncLayer }

    // MARK: validation

    /// Throws `ModelError.invalidConfig` naming the first field out of range.
    public func validate() throws {
        func fail(_ field: CodingKeys, _ reason: String) -> ModelError {
            ModelError.invalidConfig(field: field.rawValue, reason: reason)
        }
        guard family == "syncmask" else { throw fail(.family, "must be \"syncmask\", got \"\(family)\"") }
        try ConfigChecks.bounds([
            ("image_size", imageSize, 1...4096), ("patch_size", patchSize, 1...512), ("vision_width", visionWidth, 1...8192),
            ("vision_heads", visionHeads, 1...256), ("mlp_ratio", mlpRatio, 1...16), ("text_width", textWidth, 1...8192),
            ("text_heads", textHeads, 1...256), ("intermediate_size", intermediateSize, 1...65536),
            ("vocab_size", vocabSize, 1...(1 << 20)), ("max_positions", maxPositions, 1...8192),
            ("text_length", textLength, 1...8192), ("embed_dim", embedDim, 1...8192), ("queue_size", queueSize, 1...(1 << 20)),
            ("pool_factor", poolFactor, 1...64), ("vision_depth", visionDepth, 0...64), ("text_layers", textLayers, 0...64),
            ("mim_decoder_layers", mimDecoderLayers, 0...64),
        ])
        guard fusionLayers >= 1, fusionLayers <= 64 else { throw fail(.fusionLayers, "must be in 1...64, got \(fusionLayers)") }
        if imageEncoder == .cnn {
            guard !cnnChannels.isEmpty, cnnChannels.count <= 8, cnnChannels.allSatisfy({ $0 > 0 && $0 % 4 == 0 && $0 <= 4096 }) else {
                throw fail(.cnnChannels, "must list 1 to 8 stage widths, each a positive multiple of 4 (GroupNorm with 4 groups), got \(cnnChannels)")
            }
        }
        if imageEncoder == .efficientnetLite0 {
            guard patchSize == EfficientNetLite.stride else {
                throw fail(.patchSize, "must be \(EfficientNetLite.stride) for image_encoder efficientnet_lite0 (the stride of its last feature grid), got \(patchSize)")
            }
        }
        guard imageSize % tokenPatch == 0 else {
            throw fail(.imageSize, "must be a multiple of the token patch \(tokenPatch), got \(imageSize)")
        }
        guard visionWidth % visionHeads == 0 else {
            throw fail(.visionHeads, "the vision width \(visionWidth) is not divisible by \(visionHeads) heads")
        }
        guard textWidth % textHeads == 0 else {
            throw fail(.textHeads, "the text width \(textWidth) is not divisible by \(textHeads) heads")
        }
        guard textLength >= 2, textLength <= maxPositions else {
            throw fail(.textLength, "must be in 2...max_positions (\(maxPositions)), got \(textLength)")
        }
        guard (-fusionLayers..<fusionLayers).contains(syncLayer) else {
            throw fail(.syncLayer, "must name one of the \(fusionLayers) fusion layers (0..<\(fusionLayers), or −1 for the last), got \(syncLayer)")
        }
        guard temp >= 0.001, temp <= 0.5 else { throw fail(.temp, "must be in [0.001, 0.5], got \(temp)") }
        guard momentum >= 0, momentum < 1 else { throw fail(.momentum, "must be in [0, 1), got \(momentum)") }
        guard alpha >= 0, alpha <= 1 else { throw fail(.alpha, "must be in [0, 1], got \(alpha)") }
        guard mlmProbability > 0, mlmProbability < 1 else { throw fail(.mlmProbability, "must be in (0, 1), got \(mlmProbability)") }
        guard mimRatio > 0, mimRatio < 1 else { throw fail(.mimRatio, "must be in (0, 1), got \(mimRatio)") }
        try PretrainedWeights.validate(self)
    }
}
