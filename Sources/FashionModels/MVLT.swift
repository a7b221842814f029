// MVLT, "Masked Vision-Language Transformer in Fashion" (Ji et al., MIR 2023), ported from the original
// code GewelsJI/MVLT @174aac1 (libs/pvlt.py `pvlt_tiny`, libs/vl_heads.py) as shared/spec/mvlt.md describes
// it. Parameter names are the original checkpoint's (spec §11), so `checkpoint_retrieval.pth` converted by
// scripts/convert-mvlt-checkpoint loads by name. Config: MVLTConfig.swift; blocks: PVT.swift; decoder:
// MIRDecoder.swift; losses: MVLTLosses.swift; loading: MVLT+Weights.swift.
import Torch

// MARK: - Text embedding and heads

/// transformers 4.10.2 `BertEmbeddings` (spec §4.2): (word + type 0) + position, LayerNorm(1e-12), dropout.
public final class BertEmbeddings: Module {
    public let position_ids: Buffer
    public let word_embeddings: Embedding
    public let position_embeddings: Embedding
    public let token_type_embeddings: Embedding
    public let layerNorm: LayerNorm
    public let dropout: Dropout
    override public var keys: [String: String] { ["layerNorm": "LayerNorm"] }

    init(_ c: MVLTConfig) throws {
        position_ids = Buffer(try Tensor.arange(0, Double(c.maxPositions)).view([1, c.maxPositions]))
        word_embeddings = try Embedding(c.vocabSize, c.textHidden, paddingIdx: 0)
        position_embeddings = try Embedding(c.maxPositions, c.textHidden)
        token_type_embeddings = try Embedding(c.typeVocabSize, c.textHidden)
        layerNorm = try LayerNorm(c.textHidden, eps: 1e-12)
        dropout = Dropout(c.embeddingDropout)
    }

    /// ids (B, L) int64 → (B, L, textHidden). Segment ids are all 0 and positions are 0..<L (position_ids is
    /// arange), so rows are sliced from the tables instead of gathered: same values and gradients.
    public func callAsFunction(_ ids: Tensor) throws -> Tensor {
        let words = try Tensor.embedding(word_embeddings.weight, ids, paddingIdx: 0)
        let type0 = try token_type_embeddings.weight.select(dim: 0, index: 0)
        let positions = try position_embeddings.weight.narrow(dim: 0, start: 0, length: ids.size(1))
        return try dropout(layerNorm(words.add(type0).add(positions)))
    }
}

/// Linear → exact GELU → LayerNorm(1e-5) (`mlm_head.transform`).
public final class HeadTransform: Module {
    public let dense: Linear
    public let layerNorm: LayerNorm
    override public var keys: [String: String] { ["layerNorm": "LayerNorm"] }

    init(_ width: Int) throws {
        dense = try Linear(width, width)
        layerNorm = try LayerNorm(width)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try layerNorm(dense(x).gelu()) }
}

/// The MLM decoder: no bias, its weight IS the word-embedding table (tied).
public final class TiedDecoder: Module {
    public let weight: Tensor
    init(tiedTo weight: Tensor) { self.weight = weight }
}

/// `mlm_head`: transform → tied decoder → + separate bias `mlm_head.bias` (spec §4.6).
public final class MLMHead: Module {
    public let bias: Tensor
    public let transform: HeadTransform
    public let mlm_decoder: TiedDecoder

    init(width: Int, wordTable: Tensor) throws {
        bias = try Tensor.zeros([wordTable.size(0)]).requiresGrad(true)
        transform = try HeadTransform(width)
        mlm_decoder = TiedDecoder(tiedTo: wordTable)
    }

    /// (…, width) → (…, vocab); the bias is added inside the matmul (addmm) rather than as a separate pass.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try transform(x).linear(weight: mlm_decoder.weight, bias: bias)
    }
}

/// ITM / category head: Linear(width, n) plus a second, separate bias `linear_bias`.
public final class LinearHead: Module {
    public let linear_bias: Tensor
    public let linear: Linear

    init(width: Int, classes: Int) throws {
        linear_bias = try Tensor.zeros([classes]).requiresGrad(true)
        linear = try Linear(width, classes)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try linear(x) + linear_bias }
}

// MARK: - Model

/// Outputs of one forward; a head that is not configured gives nil.
public struct MVLTOutput {
    /// Reconstructed image (B, 3, S, S), no sigmoid.
    public var mir: Tensor?
    /// Image-text matching logits (B, 2); index 1 = matched.
    public var itm: Tensor?
    /// Masked-language-model logits (B, L, vocab) at every position.
    public var mlm: Tensor?
    /// Main (48) and sub (122) category logits.
    public var supCategory: Tensor?
    public var subCategory: Tensor?

    public init(mir: Tensor? = nil, itm: Tensor? = nil, mlm: Tensor? = nil, supCategory: Tensor? = nil,
                subCategory: Tensor? = nil) {
        self.mir = mir; self.itm = itm; self.mlm = mlm; self.supCategory = supCategory; self.subCategory = subCategory
    }
}

public final class MVLT: Module {
    public let config: MVLTConfig

    // Position tables, in the original registration order (stored at the 224-px PVT grids).
    public let pos_embed1: Tensor, text_pos_embed1: Tensor
    public let pos_embed2: Tensor, text_pos_embed2: Tensor
    public let pos_embed3: Tensor, text_pos_embed3: Tensor
    public let pos_embed4: Tensor, text_pos_embed4: Tensor
    // Stages.
    public let patch_embed1: PatchEmbed, text_embed1: LinearNorm, block1: [PVTBlock]
    public let patch_embed2: PatchEmbed, text_embed2: LinearNorm, block2: [PVTBlock]
    public let patch_embed3: PatchEmbed, text_embed3: LinearNorm, block3: [PVTBlock]
    public let patch_embed4: PatchEmbed, text_embed4: LinearNorm, block4: [PVTBlock]
    // Text input and heads.
    public let text_embeddings: BertEmbeddings
    public let mlm_head_embed: LinearNorm?, mlm_head: MLMHead?
    public let itm_head_embed: LinearNorm?, itm_head: LinearHead?
    public let sup_cls_head_embed: LinearNorm?, sup_cls_head: LinearHead?
    public let sub_cls_head_embed: LinearNorm?, sub_cls_head: LinearHead?
    public let t2i_head: MIRDecoder?

    public static let supCategories = 48, subCategories = 122

    /// Builds the model with the initialisation of spec §4.8 (without the ImageNet PVT weights), drawing from
    /// libtorch's default generator (seed it with `Torch.manualSeed`).
    public init(_ config: MVLTConfig) throws {
        try config.validate()
        self.config = config
        let c = config, d = c.embedDims, L = c.textLength
        func table(_ rows: Int, _ dim: Int) throws -> Tensor { try truncNormal(Tensor.empty([1, rows, dim])) }
        pos_embed1 = try table(c.posSlots(stage: 0), d[0]); text_pos_embed1 = try table(L, d[0])
        pos_embed2 = try table(c.posSlots(stage: 1), d[1]); text_pos_embed2 = try table(L, d[1])
        pos_embed3 = try table(c.posSlots(stage: 2), d[2]); text_pos_embed3 = try table(L, d[2])
        pos_embed4 = try table(c.posSlots(stage: 3), d[3]); text_pos_embed4 = try table(L, d[3])

        let rates = dropPathRates(c.dropPathRate, c.totalBlocks)
        func stage(_ k: Int) throws -> (PatchEmbed, LinearNorm, [PVTBlock]) {
            let first = c.depths[0..<k].reduce(0, +)
            return (try PatchEmbed(k == 0 ? 3 : d[k - 1], d[k], patch: c.patchSizes[k]),
                    try LinearNorm(k == 0 ? c.textHidden : d[k - 1], d[k]),
                    try (0..<c.depths[k]).map {
                        try PVTBlock(dim: d[k], heads: c.numHeads[k], mlpRatio: c.mlpRatios[k], srRatio: c.srRatios[k],
                                     dropPath: rates[first + $0])
                    })
        }
        (patch_embed1, text_embed1, block1) = try stage(0)
        (patch_embed2, text_embed2, block2) = try stage(1)
        (patch_embed3, text_embed3, block3) = try stage(2)
        (patch_embed4, text_embed4, block4) = try stage(3)

        text_embeddings = try BertEmbeddings(c)
        let h = c.textHidden
        mlm_head_embed = c.heads.mlm ? try LinearNorm(d[3], h) : nil
        mlm_head = c.heads.mlm ? try MLMHead(width: h, wordTable: text_embeddings.word_embeddings.weight) : nil
        itm_head_embed = c.heads.itm ? try LinearNorm(d[3], h) : nil
        itm_head = c.heads.itm ? try LinearHead(width: h, classes: 2) : nil
        sup_cls_head_embed = c.heads.category ? try LinearNorm(d[3], h) : nil
        sup_cls_head = c.heads.category ? try LinearHead(width: h, classes: MVLT.supCategories) : nil
        sub_cls_head_embed = c.heads.category ? try LinearNorm(d[3], h) : nil
        sub_cls_head = c.heads.category ? try LinearHead(width: h, classes: MVLT.subCategories) : nil
        t2i_head = c.heads.mir ? try MIRDecoder(dims: Array(d[1...3]), c: c.decoderChannels) : nil
        super.init()
        try resetLinears()
    }

    /// Spec §4.8: every Linear weight (and so the tied word table) trunc-normal(0.02), biases 0; the BERT
    /// position/type tables stay N(0, 1) unless `text_embedding_init` is "bert".
    private func resetLinears() throws {
        func visit(_ m: Module) throws {
            if let l = m as? Linear {
                try truncNormal(l.weight)
                if let b = l.bias { try Torch.noGrad { try b.zero_() } }
            }
            for (_, child) in m.children() { try visit(child) }
        }
        try visit(self)
        try truncNormal(text_embeddings.word_embeddings.weight)
        if config.textEmbeddingInit == .bert {
            try truncNormal(text_embeddings.position_embeddings.weight)
            try truncNormal(text_embeddings.token_type_embeddings.weight)
        }
    }

    var posEmbeds: [Tensor] { [pos_embed1, pos_embed2, pos_embed3, pos_embed4] }
    var textPosEmbeds: [Tensor] { [text_pos_embed1, text_pos_embed2, text_pos_embed3, text_pos_embed4] }
    var patchEmbeds: [PatchEmbed] { [patch_embed1, patch_embed2, patch_embed3, patch_embed4] }
    var textEmbeds: [LinearNorm] { [text_embed1, text_embed2, text_embed3, text_embed4] }
    var blocks: [[PVTBlock]] { [block1, block2, block3, block4] }

    /// Stage k's image position table at grid h×w (spec §4.4): the stored 224-px table, bilinearly resized
    /// (align_corners false) unless the resize rule says it already fits.
    func imagePosition(_ k: Int, h: Int, w: Int) throws -> Tensor {
        let g = config.pvtGrid[k]
        var table = posEmbeds[k]
        if k == 3 { table = try table.narrow(dim: 1, start: 1, length: g * g) }   // PVT's unused cls slot
        switch config.posEmbedResize {
        case .originalQuirk: if h * w == config.posSlots(stage: 0) { return table }
        case .whenGridDiffers: if h == g, w == g { return table }
        }
        let d = table.size(2)
        let map = try table.reshape([1, g, g, d]).permute([0, 3, 1, 2])
        return try map.upsampleBilinear(size: [h, w], alignCorners: false).reshape([1, d, h * w]).permute([0, 2, 1])
    }

    /// The four stages: image maps (B, D_k, H_k, W_k) and text tokens (B, L, D_k) after each stage.
    /// `stageStats`, when given, receives (mean |image tokens|, mean |text tokens|) per stage.
    public func features(image: Tensor, inputIds: Tensor,
                         stageStats: ((Double, Double) throws -> Void)? = nil) throws -> (maps: [Tensor], text: [Tensor]) {
        try checkInputs(image: image, inputIds: inputIds)
        let b = image.size(0), L = config.textLength
        let imageFirst = config.tokenOrder == .imageFirst
        var x = image
        var y = try text_embeddings(inputIds)
        var maps: [Tensor] = [], texts: [Tensor] = []
        for k in 0..<4 {
            let (tokens, h, w) = try patchEmbeds[k](x)
            y = try textEmbeds[k](y)
            let xi = try tokens + imagePosition(k, h: h, w: w)
            let yt = try y + textPosEmbeds[k]
            var z = try Tensor.cat(imageFirst ? [xi, yt] : [yt, xi], dim: 1)
            let layout = JointLayout(h: h, w: w, textLength: L, imageFirst: imageFirst)
            for block in blocks[k] { z = try block(z, layout) }
            let imageTokens = try z.narrow(dim: 1, start: layout.imageStart, length: h * w)
            y = try z.narrow(dim: 1, start: layout.textStart, length: L)
            if let stageStats { try stageStats(imageTokens.abs().mean().item(), y.abs().mean().item()) }
            x = try imageTokens.transpose(1, 2).reshape([b, config.embedDims[k], h, w])
            maps.append(x)
            texts.append(y)
        }
        return (maps, texts)
    }

    /// image (B, 3, S, S) in [0, 1] (no mean/std normalisation), inputIds (B, L) int64 → every configured head.
    public func callAsFunction(image: Tensor, inputIds: Tensor) throws -> MVLTOutput {
        let (maps, texts) = try features(image: image, inputIds: inputIds)
        return try heads(maps: maps, texts: texts)
    }

    /// The configured heads on the stage outputs of `features`: MLM on all stage-4 text tokens, ITM and
    /// category on [CLS] (text position 0), MIR on the stage 2–4 maps.
    /// `mlmRows`: compute MLM logits only for these rows of the flattened (B·L) tokens, giving (rows, vocab)
    /// (the training path: the loss ignores unlabelled positions); nil = every position, (B, L, vocab).
    public func heads(maps: [Tensor], texts: [Tensor], mlmRows: Tensor? = nil, mlm: Bool = true) throws -> MVLTOutput {
        let t = texts[3]
        let cls = try t.select(dim: 1, index: 0)   // [CLS]
        var out = MVLTOutput()
        if mlm, let mlm_head, let mlm_head_embed {
            let tokens = try mlmRows.map { try t.reshape([-1, t.size(2)]).indexSelect(dim: 0, index: $0) } ?? t
            out.mlm = try mlm_head(mlm_head_embed(tokens))
        }
        if let itm_head, let itm_head_embed { out.itm = try itm_head(itm_head_embed(cls)) }
        if let sup_cls_head, let sup_cls_head_embed, let sub_cls_head, let sub_cls_head_embed {
            out.supCategory = try sup_cls_head(sup_cls_head_embed(cls))
            out.subCategory = try sub_cls_head(sub_cls_head_embed(cls))
        }
        if let t2i_head { out.mir = try t2i_head(maps[1], maps[2], maps[3]) }
        return out
    }

    func checkInputs(image: Tensor, inputIds: Tensor) throws {
        let s = image.shape
        guard s.count == 4, s[1] == 3, s[2] == s[3], s[2] > 0, s[2] % 32 == 0 else {
            throw ModelError.input("MVLT: image must be (B, 3, S, S) with S a multiple of 32, got \(s)")
        }
        guard inputIds.shape == [s[0], config.textLength] else {
            throw ModelError.input("MVLT: input_ids must be (\(s[0]), \(config.textLength)), got \(inputIds.shape)")
        }
        guard inputIds.dtype == .int64 else { throw ModelError.input("MVLT: input_ids must be int64, got \(inputIds.dtype)") }
    }
}

/// `[x.item() for x in torch.linspace(0, rate, n)]` bit for bit: float32 values, computed as libtorch's CPU
/// linspace does (start + i·step for the first half, end − (n−1−i)·step for the rest).
func dropPathRates(_ rate: Double, _ n: Int) -> [Double] {
    guard n > 1 else { return [Double](repeating: 0, count: n) }
    let end = Float(rate), step = end / Float(n - 1)
    return (0..<n).map { i in Double(i < n / 2 ? Float(i) * step : end - step * Float(n - 1 - i)) }
}

/// timm's trunc_normal_(std 0.02, bounds ±2): with absolute bounds of 100 σ this is a plain normal.
@discardableResult
func truncNormal(_ t: Tensor, std: Double = 0.02) throws -> Tensor {
    try Torch.noGrad {
        try t.normal_(mean: 0, std: std)
        try t.clamp_(min: -2, max: 2)
    }
    if !t.requiresGrad { try t.requiresGrad(true) }
    return t
}
