// Configuration of MVLT (shared/spec/mvlt.md §4). Defaults are the original code's `pvlt_tiny` with the
// pretraining heads; named variants live in Registry.swift.

/// Order of the two token sets inside a stage (spec §10).
public enum MVLTTokenOrder: String, Codable, Sendable {
    /// ⟨image; text⟩, as the original code does (default).
    case imageFirst = "image_first"
    /// ⟨text; image⟩, as the paper describes.
    case textFirst = "text_first"
}

/// When the stored 224-px position tables are resized to the actual grid (spec §4.4).
public enum MVLTPosEmbedResize: String, Codable, Sendable {
    /// The code's rule: resize every stage unless its H·W equals stage 1's stored count (3136) (default).
    case originalQuirk = "original_quirk"
    /// Resize exactly when a stage's grid differs from its stored grid.
    case whenGridDiffers = "when_grid_differs"
}

/// How the BERT position and token-type tables start (spec §4.8).
public enum MVLTTextEmbeddingInit: String, Codable, Sendable {
    /// The original code: `BertEmbeddings` is used without BERT's `_init_weights`, so these two tables keep
    /// nn.Embedding's N(0, 1) while the (tied) word table is N(0, 0.02). After the LayerNorm the words are then
    /// ~2 % of each text token, and a model trained from scratch needs many steps before text content counts
    /// (default, for checkpoint fidelity).
    case code = "code"
    /// BERT's own initialisation: N(0, 0.02) for the position and token-type tables too, so word identity
    /// dominates the text tokens from the first step (used by `mvlt-demo`).
    case bert = "bert"
}

/// Which output heads the model has (the original `loss_type`).
public struct MVLTHeads: Codable, Sendable, Equatable {
    public var mlm = true       // masked language modelling, `mlm_head`
    public var itm = true       // image-text matching, `itm_head`
    public var mir = true       // masked image reconstruction, `t2i_head`
    public var category = false // `sup_cls_head` (48) and `sub_cls_head` (122), fine-tuning only

    public init(mlm: Bool = true, itm: Bool = true, mir: Bool = true, category: Bool = false) {
        self.mlm = mlm; self.itm = itm; self.mir = mir; self.category = category
    }

    public init(from decoder: Decoder) throws {
        try ConfigChecks.refuseUnknownKeys(decoder, known: ["mlm", "itm", "mir", "category"])
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mlm = try c.decodeIfPresent(Bool.self, forKey: .mlm) ?? true
        itm = try c.decodeIfPresent(Bool.self, forKey: .itm) ?? true
        mir = try c.decodeIfPresent(Bool.self, forKey: .mir) ?? true
        category = try c.decodeIfPresent(Bool.self, forKey: .category) ?? false
    }
}

public struct MVLTConfig: Codable, Sendable, Equatable {
    public var imageSize = 256                   // input side S, a multiple of 32 (paper/code: 256)
    public var textLength = 128                  // L tokens incl. [CLS]/[SEP]/padding
    public var vocabSize = 30522                 // bert-base-uncased WordPieces
    public var textHidden = 768                  // BERT embedding width; also the heads' width
    public var maxPositions = 512                // BERT position table rows
    public var typeVocabSize = 2                 // BERT token-type rows (segment 0 only is used)
    public var embedDims = [64, 128, 320, 512]   // D_k per stage
    public var numHeads = [1, 2, 5, 8]           // heads per stage (head dim 64)
    public var mlpRatios = [8, 8, 4, 4]          // MLP hidden = ratio · D_k
    public var depths = [2, 2, 2, 2]             // blocks per stage
    public var srRatios = [8, 4, 2, 1]           // key/value reduction conv of the image tokens
    public var patchSizes = [4, 2, 2, 2]         // patch conv kernel = stride; product 32
    public var pvtGrid = [56, 28, 14, 7]         // stored position grids (PVT at 224 px); stage 4 has +1 slot
    public var decoderChannels = 64              // MIR decoder width c
    public var dropPathRate = 0.1                // stochastic depth, linspace(0, rate, total blocks)
    public var embeddingDropout = 0.1            // BERT embedding dropout
    public var heads = MVLTHeads()
    public var tokenOrder = MVLTTokenOrder.imageFirst
    public var posEmbedResize = MVLTPosEmbedResize.originalQuirk
    public var textEmbeddingInit = MVLTTextEmbeddingInit.code

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case imageSize = "image_size", textLength = "text_length", vocabSize = "vocab_size"
        case textHidden = "text_hidden", maxPositions = "max_positions", typeVocabSize = "type_vocab_size"
        case embedDims = "embed_dims", numHeads = "num_heads", mlpRatios = "mlp_ratios", depths
        case srRatios = "sr_ratios", patchSizes = "patch_sizes", pvtGrid = "pvt_grid"
        case decoderChannels = "decoder_channels", dropPathRate = "drop_path_rate"
        case embeddingDropout = "embedding_dropout", heads, tokenOrder = "token_order"
        case posEmbedResize = "pos_embed_resize", textEmbeddingInit = "text_embedding_init"
    }

    /// Missing fields keep their defaults, so a JSON file only lists what differs from `mvlt-tiny`; unknown keys
    /// are errors (a misspelt key must not train silently). "family" ("mvlt") is the registry's dispatch key.
    public init(from decoder: Decoder) throws {
        try ConfigChecks.refuseUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue) + ["family"])
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func get<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try get(.imageSize, &imageSize); try get(.textLength, &textLength); try get(.vocabSize, &vocabSize)
        try get(.textHidden, &textHidden); try get(.maxPositions, &maxPositions)
        try get(.typeVocabSize, &typeVocabSize); try get(.embedDims, &embedDims); try get(.numHeads, &numHeads)
        try get(.mlpRatios, &mlpRatios); try get(.depths, &depths); try get(.srRatios, &srRatios)
        try get(.patchSizes, &patchSizes); try get(.pvtGrid, &pvtGrid)
        try get(.decoderChannels, &decoderChannels); try get(.dropPathRate, &dropPathRate)
        try get(.embeddingDropout, &embeddingDropout); try get(.heads, &heads)
        try get(.tokenOrder, &tokenOrder); try get(.posEmbedResize, &posEmbedResize)
        try get(.textEmbeddingInit, &textEmbeddingInit)
    }

    // MARK: derived values

    public var stages: Int { embedDims.count }
    public var totalBlocks: Int { depths.reduce(0, +) }
    /// Image grid side of stage k at `imageSize` (cumulative stride = product of the patch sizes so far).
    public func grid(stage k: Int) -> Int { imageSize / patchSizes[0...k].reduce(1, *) }
    /// Rows of the stored position table of stage k (stage 4 keeps PVT's unused cls slot).
    public func posSlots(stage k: Int) -> Int { pvtGrid[k] * pvtGrid[k] + (k == stages - 1 ? 1 : 0) }

    // MARK: validation

    /// Throws `ModelError.invalidConfig` naming the first field that is out of range.
    public func validate() throws {
        func fail(_ field: CodingKeys, _ reason: String) -> ModelError {
            ModelError.invalidConfig(field: field.rawValue, reason: reason)
        }
        // Sizes first, each bounded, so an absurd value is refused naming its field before anything is allocated.
        try ConfigChecks.bounds([
            (CodingKeys.imageSize.rawValue, imageSize, 32...4096), (CodingKeys.textLength.rawValue, textLength, 1...8192),
            (CodingKeys.vocabSize.rawValue, vocabSize, 1...(1 << 20)), (CodingKeys.textHidden.rawValue, textHidden, 1...8192),
            (CodingKeys.maxPositions.rawValue, maxPositions, 1...8192),
            (CodingKeys.typeVocabSize.rawValue, typeVocabSize, 1...1024),
            (CodingKeys.decoderChannels.rawValue, decoderChannels, 1...4096),
        ])
        for (key, list, range) in [(CodingKeys.embedDims, embedDims, 1...8192), (.numHeads, numHeads, 1...256),
                                   (.mlpRatios, mlpRatios, 1...16), (.depths, depths, 1...64), (.srRatios, srRatios, 1...64),
                                   (.patchSizes, patchSizes, 1...64), (.pvtGrid, pvtGrid, 1...1024)] {
            guard list.count == 4 else { throw fail(key, "must have 4 entries (one per stage), got \(list.count)") }
            try ConfigChecks.bounds(key.rawValue, list, range)
        }
        let stride = patchSizes.reduce(1, *)
        guard imageSize > 0, imageSize % stride == 0, imageSize % 32 == 0 else {
            throw fail(.imageSize, "must be a positive multiple of 32, got \(imageSize)")
        }
        guard textLength <= maxPositions else {
            throw fail(.textLength, "must be at most max_positions (\(maxPositions)), got \(textLength)")
        }
        for k in 0..<4 where embedDims[k] % numHeads[k] != 0 {
            throw fail(.numHeads, "stage \(k + 1): width \(embedDims[k]) is not divisible by \(numHeads[k]) heads")
        }
        for k in 0..<4 where grid(stage: k) % srRatios[k] != 0 {
            throw fail(.srRatios, "stage \(k + 1): grid \(grid(stage: k)) is not divisible by SR ratio \(srRatios[k])")
        }
        guard dropPathRate >= 0, dropPathRate < 1 else { throw fail(.dropPathRate, "must be in [0, 1), got \(dropPathRate)") }
        guard embeddingDropout >= 0, embeddingDropout < 1 else {
            throw fail(.embeddingDropout, "must be in [0, 1), got \(embeddingDropout)")
        }
        guard heads.mlm || heads.itm || heads.mir || heads.category else {
            throw fail(.heads, "at least one head must be enabled")
        }
    }
}
