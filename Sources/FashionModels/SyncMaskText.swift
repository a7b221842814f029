// SyncMask's text side (docs/SYNCMASK.md §2–3): ALBEF's BERT, whose first `text_layers` layers read the text
// alone and whose last `fusion_layers` layers add cross-attention to the image tokens, plus BERT's MLM head with
// the decoder tied to the word table. Post-LN, LayerNorm eps 1e-12, exact GELU. Parameter names are Hugging
// Face's `BertForMaskedLM` (`bert.encoder.layer.0.attention.self.query.weight`), so BERT-layout checkpoints
// (MiniLM, ALBEF) load by name.
import Torch

/// BERT's embeddings: LN(word + position + token type 0). No position-id buffer: positions are 0..<L.
public final class BertTextEmbeddings: Module {
    public let word_embeddings: Embedding
    public let position_embeddings: Embedding
    public let token_type_embeddings: Embedding
    public let layerNorm: LayerNorm
    override public var keys: [String: String] { ["layerNorm": "LayerNorm"] }

    init(vocab: Int, width: Int, maxPositions: Int) throws {
        word_embeddings = try Embedding(vocab, width, paddingIdx: 0)
        position_embeddings = try Embedding(maxPositions, width)
        token_type_embeddings = try Embedding(2, width)
        layerNorm = try LayerNorm(width, eps: 1e-12)
    }

    convenience init(_ c: SyncMaskConfig) throws {
        try self.init(vocab: c.vocabSize, width: c.textWidth, maxPositions: c.maxPositions)
    }

    public func callAsFunction(_ ids: Tensor) throws -> Tensor {
        let words = try Tensor.embedding(word_embeddings.weight, ids)
        let positions = try position_embeddings.weight.narrow(dim: 0, start: 0, length: ids.size(1))
        let type0 = try token_type_embeddings.weight.select(dim: 0, index: 0)
        return try layerNorm(words.add(positions).add(type0))
    }
}

/// `attention.self` / `crossattention.self`: query, key, value projections (keys/values may come from another width).
public final class BertSelfAttention: Module {
    public let query: Linear, key: Linear, value: Linear
    let heads: Int

    init(width: Int, contextWidth: Int, heads: Int) throws {
        query = try Linear(width, width)
        key = try Linear(contextWidth, width)
        value = try Linear(contextWidth, width)
        self.heads = heads
    }

    /// Context (B, L, W). With `probabilities`, the attention is computed explicitly and its softmax returned
    /// (B, heads, Lq, Lk); otherwise through libtorch's fused attention.
    func callAsFunction(_ x: Tensor, context: Tensor, keyMask: Tensor?, probabilities: Bool) throws -> (Tensor, Tensor?) {
        let (b, n, d) = (x.size(0), x.size(1), x.size(2))
        func split(_ t: Tensor) throws -> Tensor { try t.view([b, t.size(1), heads, d / heads]).transpose(1, 2) }
        let (q, k, v) = (try split(query(x)), try split(key(context)), try split(value(context)))
        let out: Tensor, probs: Tensor?
        if probabilities {
            var scores = try q.matmul(k.transpose(-2, -1)).mul(1 / Double(d / heads).squareRoot())
            if let keyMask { scores = try scores + keyMask }
            let p = try scores.softmax(dim: -1)
            (out, probs) = (try p.matmul(v), p)
        } else {
            (out, probs) = (try Tensor.attention(q, k, v, mask: keyMask), nil)
        }
        return (try out.transpose(1, 2).reshape([b, n, d]), probs)
    }
}

/// `*.output` of BERT: LN(dense(x) + residual).
public final class BertResidualOutput: Module {
    public let dense: Linear
    public let layerNorm: LayerNorm
    override public var keys: [String: String] { ["layerNorm": "LayerNorm"] }

    init(_ inWidth: Int, _ width: Int) throws {
        dense = try Linear(inWidth, width)
        layerNorm = try LayerNorm(width, eps: 1e-12)
    }

    public func callAsFunction(_ x: Tensor, residual: Tensor) throws -> Tensor { try layerNorm(dense(x) + residual) }
}

/// `attention` / `crossattention`: the attention and its residual output.
public final class BertAttention: Module {
    public let self_: BertSelfAttention
    public let output: BertResidualOutput
    override public var keys: [String: String] { ["self_": "self"] }

    init(width: Int, contextWidth: Int, heads: Int) throws {
        self_ = try BertSelfAttention(width: width, contextWidth: contextWidth, heads: heads)
        output = try BertResidualOutput(width, width)
    }

    func callAsFunction(_ x: Tensor, context: Tensor, keyMask: Tensor?, probabilities: Bool = false) throws -> (Tensor, Tensor?) {
        let (h, p) = try self_(x, context: context, keyMask: keyMask, probabilities: probabilities)
        return (try output(h, residual: x), p)
    }
}

/// `intermediate`: dense → GELU.
public final class BertIntermediate: Module {
    public let dense: Linear
    init(_ width: Int, _ hidden: Int) throws { dense = try Linear(width, hidden) }
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try dense(x).gelu() }
}

/// One BERT layer; fusion layers also hold `crossattention` (queries text, keys/values image tokens).
public final class BertLayer: Module {
    public let attention: BertAttention
    public let crossattention: BertAttention?
    public let intermediate: BertIntermediate
    public let output: BertResidualOutput

    /// A self-attention layer of `width`; with `crossContextWidth`, also cross-attention to tokens of that width.
    init(width: Int, heads: Int, intermediateSize: Int, crossContextWidth: Int? = nil) throws {
        attention = try BertAttention(width: width, contextWidth: width, heads: heads)
        crossattention = try crossContextWidth.map { try BertAttention(width: width, contextWidth: $0, heads: heads) }
        intermediate = try BertIntermediate(width, intermediateSize)
        output = try BertResidualOutput(intermediateSize, width)
    }

    convenience init(_ c: SyncMaskConfig, fusion: Bool) throws {
        try self.init(width: c.textWidth, heads: c.textHeads, intermediateSize: c.intermediateSize,
                      crossContextWidth: fusion ? c.visionWidth : nil)
    }

    /// Returns the new hidden states and, when asked, the cross-attention probabilities (B, heads, L, 1+N).
    /// `skipCrossAttention` runs the layer as the plain BERT layer it was initialised from (TextEncoder.plainBERT).
    func callAsFunction(_ x: Tensor, keyMask: Tensor, image: Tensor?, crossProbabilities: Bool,
                        skipCrossAttention: Bool = false) throws -> (Tensor, Tensor?) {
        var (h, _) = try attention(x, context: x, keyMask: keyMask)
        var probs: Tensor?
        if let crossattention, !skipCrossAttention {
            guard let image else { throw ModelError.input("a fusion layer needs the image tokens") }
            (h, probs) = try crossattention(h, context: image, keyMask: nil, probabilities: crossProbabilities)
        }
        return (try output(intermediate(h), residual: h), probs)
    }
}

public final class BertEncoderLayers: Module {
    public let layer: [BertLayer]
    init(layers: [BertLayer]) { layer = layers }
    convenience init(_ c: SyncMaskConfig) throws {
        self.init(layers: try (0..<(c.textLayers + c.fusionLayers)).map { try BertLayer(c, fusion: $0 >= c.textLayers) })
    }
}

/// `bert`: embeddings and layers.
public final class BertBody: Module {
    public let embeddings: BertTextEmbeddings
    public let encoder: BertEncoderLayers
    init(embeddings: BertTextEmbeddings, encoder: BertEncoderLayers) {
        self.embeddings = embeddings
        self.encoder = encoder
    }
    convenience init(_ c: SyncMaskConfig) throws {
        self.init(embeddings: try BertTextEmbeddings(c), encoder: try BertEncoderLayers(c))
    }
}

/// `cls.predictions.transform`: dense → GELU → LN.
public final class BertPredictionTransform: Module {
    public let dense: Linear
    public let layerNorm: LayerNorm
    override public var keys: [String: String] { ["layerNorm": "LayerNorm"] }
    init(_ width: Int) throws {
        dense = try Linear(width, width)
        layerNorm = try LayerNorm(width, eps: 1e-12)
    }
}

/// `cls.predictions`: transform, then the tied decoder plus its own bias.
public final class BertLMPredictions: Module {
    public let bias: Tensor
    public let transform: BertPredictionTransform
    public let decoder: TiedDecoder

    init(width: Int, wordTable: Tensor) throws {
        bias = try Tensor.zeros([wordTable.size(0)]).requiresGrad(true)
        transform = try BertPredictionTransform(width)
        decoder = TiedDecoder(tiedTo: wordTable)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try transform.layerNorm(transform.dense(x).gelu()).linear(weight: decoder.weight, bias: bias)
    }
}

public final class BertMLMHead: Module {
    public let predictions: BertLMPredictions
    init(width: Int, wordTable: Tensor) throws { predictions = try BertLMPredictions(width: width, wordTable: wordTable) }
}

/// `text_encoder`: BERT body + MLM head. Text mode runs the text layers; fusion runs the rest on that output.
public final class TextEncoder: Module {
    public let bert: BertBody
    public let cls: BertMLMHead
    let config: SyncMaskConfig

    init(_ c: SyncMaskConfig) throws {
        config = c
        bert = try BertBody(c)
        cls = try BertMLMHead(width: c.textWidth, wordTable: bert.embeddings.word_embeddings.weight)
    }

    /// BERT's additive key mask (B, 1, 1, L): 0 on tokens, −10000 on padding.
    public static func keyMask(_ attentionMask: Tensor) throws -> Tensor {
        try attentionMask.to(dtype: .float32).rsub(1).mul(-10000).unsqueeze(1).unsqueeze(1)
    }

    /// ids (B, L) → (B, L, Wt) after the text-only layers.
    public func text(_ ids: Tensor, keyMask: Tensor) throws -> Tensor {
        var h = try bert.embeddings(ids)
        for layer in bert.encoder.layer.prefix(config.textLayers) {
            h = try layer(h, keyMask: keyMask, image: nil, crossProbabilities: false).0
        }
        return h
    }

    /// Every layer as plain BERT (self-attention and FFN; the fusion layers' cross-attention blocks skipped): the
    /// function a BERT checkpoint computes, so a pretrained init can be checked against its source model
    /// (SyncMaskPretrained.swift). ids (B, L) → (B, L, Wt).
    public func plainBERT(_ ids: Tensor, keyMask: Tensor) throws -> Tensor {
        var h = try bert.embeddings(ids)
        for layer in bert.encoder.layer {
            h = try layer(h, keyMask: keyMask, image: nil, crossProbabilities: false, skipCrossAttention: true).0
        }
        return h
    }

    /// The fusion layers on text-mode states and image tokens; `probabilitiesOf` = the fusion layer index whose
    /// cross-attention probabilities to return.
    public func fusion(_ text: Tensor, keyMask: Tensor, image: Tensor, probabilitiesOf: Int? = nil) throws -> (Tensor, Tensor?) {
        var h = text
        var probs: Tensor?
        for (i, layer) in bert.encoder.layer.dropFirst(config.textLayers).enumerated() {
            let (out, p) = try layer(h, keyMask: keyMask, image: image, crossProbabilities: probabilitiesOf == i)
            h = out
            if probabilitiesOf == i { probs = p }
        }
        return (h, probs)
    }

    /// MLM logits (B, L, V) of the masked ids with the image tokens.
    public func mlmLogits(_ ids: Tensor, keyMask: Tensor, image: Tensor) throws -> Tensor {
        try cls.predictions(fusion(text(ids, keyMask: keyMask), keyMask: keyMask, image: image).0)
    }
}
