// The alignment generator's captioner (spec/kaleido-bert.md §4.2): "Show, Attend and Tell" (Xu et al. 2015)
// trained on the catalog itself. Encoder: the frozen backbone's features of the box's grid × grid cells (the
// K5 colour features of the feature cache). Decoder: an LSTM cell with Bahdanau (additive) soft attention over
// the cells and the gated context of the paper, a doubly-stochastic attention regulariser, teacher-forced
// cross-entropy. Parameter names follow the common PyTorch SAT layout (`attention.encoder_att`, `decode_step`
// as `nn.LSTMCell`, `init_h`, `f_beta`, `fc`); the PyTorch port is Tests/reference/kaleido_captioner_port.py.
// The vocabulary is the WordPiece ids the training captions use (compact index → WordPiece id in `vocab_ids`).
import Foundation
import Torch

public struct KaleidoCaptionerConfig: Codable, Sendable, Equatable {
    /// Backbone feature width.
    public var featureDim = 1280
    /// The heat map's side S (S² cells).
    public var grid = 5
    public var hidden = 256
    public var embed = 256
    public var attention = 256
    /// Compact vocabulary size (including [PAD] = 0, [CLS] = 1, [SEP] = 2, [UNK] = 3).
    public var vocab = 4
    public var dropout = 0.5
    /// Longest caption, special tokens included.
    public var maxLength = 32
    /// Weight λ of the doubly-stochastic regulariser.
    public var lambda = 1.0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case featureDim = "feature_dim", grid, hidden, embed, attention, vocab, dropout, maxLength = "max_length", lambda
    }

    public func validate() throws {
        for (name, v, range) in [("feature_dim", featureDim, 1...8192), ("grid", grid, 1...16), ("hidden", hidden, 1...4096),
                                 ("embed", embed, 1...4096), ("attention", attention, 1...4096), ("vocab", vocab, 4...100_000),
                                 ("max_length", maxLength, 3...512)] where !range.contains(v) {
            throw ModelError.invalidConfig(field: name, reason: "must be in \(range), got \(v)")
        }
        guard (0..<1).contains(dropout), lambda >= 0 else {
            throw ModelError.invalidConfig(field: "dropout/lambda", reason: "dropout must be in [0, 1) and lambda ≥ 0")
        }
    }
}

/// `nn.LSTMCell`: gates = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, split i, f, g, o.
public final class LSTMCell: Module {
    public let weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor, bias_hh: Tensor

    public init(_ input: Int, _ hidden: Int) throws {
        let b = 1 / Double(hidden).squareRoot()
        func u(_ shape: [Int]) throws -> Tensor {
            let t = try Tensor.empty(shape)
            try t.uniform_(from: -b, to: b)
            return try t.requiresGrad(true)
        }
        weight_ih = try u([4 * hidden, input])
        weight_hh = try u([4 * hidden, hidden])
        bias_ih = try u([4 * hidden])
        bias_hh = try u([4 * hidden])
    }

    public func callAsFunction(_ x: Tensor, _ state: (h: Tensor, c: Tensor)) throws -> (h: Tensor, c: Tensor) {
        let gates = try x.linear(weight: weight_ih, bias: bias_ih) + state.h.linear(weight: weight_hh, bias: bias_hh)
        let g = try gates.chunk(4, dim: 1)
        let c = try g[1].sigmoid() * state.c + g[0].sigmoid() * g[2].tanh()
        return (try g[3].sigmoid() * c.tanh(), c)
    }
}

/// Additive attention: e = full_att(relu(encoder_att(a) + decoder_att(h))), α = softmax over the cells.
public final class SATAttention: Module {
    public let encoder_att: Linear, decoder_att: Linear, full_att: Linear

    init(featureDim: Int, hidden: Int, attention: Int) throws {
        encoder_att = try Linear(featureDim, attention)
        decoder_att = try Linear(hidden, attention)
        full_att = try Linear(attention, 1)
    }

    /// `projected` = encoder_att(features) (B, P, A), computed once per caption; returns α (B, P).
    func callAsFunction(projected: Tensor, hidden h: Tensor) throws -> Tensor {
        let e = try full_att((projected + decoder_att(h).unsqueeze(1)).relu()).squeeze(dim: 2)
        return try e.softmax(dim: 1)
    }
}

public final class KaleidoCaptioner: Module {
    public static let pad = 0, cls = 1, sep = 2, unk = 3

    public let config: KaleidoCaptionerConfig
    /// Compact index → WordPiece id (int64).
    public let vocab_ids: Buffer
    public let embedding: Embedding
    public let attention: SATAttention
    public let init_h: Linear, init_c: Linear
    public let f_beta: Linear
    public let decode_step: LSTMCell
    public let fc: Linear
    let dropout: Dropout

    /// `vocabIDs[i]` = the WordPiece id of compact index i (4 specials first: [PAD], [CLS], [SEP], [UNK]).
    public init(_ config: KaleidoCaptionerConfig, vocabIDs: [Int64]) throws {
        var c = config
        c.vocab = vocabIDs.count
        try c.validate()
        self.config = c
        vocab_ids = Buffer(try Tensor(vocabIDs))
        let emb = try Embedding(c.vocab, c.embed)
        try Torch.noGrad { try emb.weight.uniform_(from: -0.1, to: 0.1) }
        embedding = emb
        attention = try SATAttention(featureDim: c.featureDim, hidden: c.hidden, attention: c.attention)
        init_h = try Linear(c.featureDim, c.hidden)
        init_c = try Linear(c.featureDim, c.hidden)
        f_beta = try Linear(c.hidden, c.featureDim)
        decode_step = try LSTMCell(c.embed + c.featureDim, c.hidden)
        fc = try Linear(c.hidden, c.vocab)
        dropout = Dropout(c.dropout)
    }

    func checkFeatures(_ f: Tensor) throws {
        let s = config.grid * config.grid
        guard f.shape.count == 3, f.shape[1] == s, f.shape[2] == config.featureDim else {
            throw ModelError.input("KaleidoCaptioner: features must be (B, \(s), \(config.featureDim)), got \(f.shape)")
        }
    }

    /// One decoder step from `token` (B) compact ids: the attention α (B, P) and the logits (B, V).
    func step(_ token: Tensor, features: Tensor, projected: Tensor, state: inout (h: Tensor, c: Tensor)) throws -> (alpha: Tensor, logits: Tensor) {
        let alpha = try attention(projected: projected, hidden: state.h)
        let context = try alpha.unsqueeze(1).bmm(features).squeeze(dim: 1) * f_beta(state.h).sigmoid()
        state = try decode_step(Tensor.cat([embedding(token), context], dim: 1), state)
        return (alpha, try fc(dropout(state.h)))
    }

    func initialState(_ features: Tensor) throws -> (h: Tensor, c: Tensor) {
        let mean = try features.mean(dims: [1])
        return (try init_h(mean), try init_c(mean))
    }

    /// Teacher forcing on `ids` (B, T) compact, [CLS] first, [PAD] = 0 after the end: logits (B, T−1, V) for
    /// ids[:, 1:] and the attention (B, T−1, P) of each step.
    public func forward(features: Tensor, ids: Tensor) throws -> (logits: Tensor, alphas: Tensor) {
        try checkFeatures(features)
        guard ids.shape.count == 2, ids.shape[0] == features.shape[0], ids.shape[1] >= 2 else {
            throw ModelError.input("KaleidoCaptioner: ids must be (B, T ≥ 2) for B = \(features.shape[0]), got \(ids.shape)")
        }
        let projected = try attention.encoder_att(features)
        var state = try initialState(features)
        var logits: [Tensor] = [], alphas: [Tensor] = []
        for t in 0..<(ids.shape[1] - 1) {
            let (a, l) = try step(ids.select(dim: 1, index: t), features: features, projected: projected, state: &state)
            alphas.append(a)
            logits.append(l)
        }
        return (try Tensor.stack(logits, dim: 1), try Tensor.stack(alphas, dim: 1))
    }

    /// The training loss: cross-entropy of the next token (padding ignored, mean over real tokens) +
    /// λ · mean over captions and cells of (1 − Σ_t α_t)², the sum over each caption's real steps.
    public func loss(features: Tensor, ids: Tensor) throws -> (total: Tensor, ce: Tensor, attention: Tensor) {
        let (logits, alphas) = try forward(features: features, ids: ids)
        let target = try ids.slice(dim: 1, start: 1)
        let v = config.vocab
        let ce = try logits.reshape([-1, v]).crossEntropy(target: target.reshape([-1]).maskedFill(target.reshape([-1]).eq(Double(Self.pad)), -100))
        let real = try target.ne(Double(Self.pad)).to(dtype: .float32).unsqueeze(2)
        let ds = try (alphas * real).sum(dims: [1]).rsub(1).square().mean()
        return (try ce + ds * config.lambda, ce, ds)
    }

    /// Greedy decoding (evaluation mode, no autograd) up to `maxLength` tokens with [CLS]: per caption the
    /// compact ids generated before [SEP] and each one's attention map (P values summing to 1). [PAD], [CLS]
    /// and [UNK] are never generated.
    public func greedy(features: Tensor) throws -> [(ids: [Int], alphas: [[Float]])] {
        try checkFeatures(features)
        let wasTraining = training
        eval()
        defer { train(wasTraining) }
        let b = features.shape[0], p = config.grid * config.grid
        return try Torch.noGrad {
            let projected = try attention.encoder_att(features)
            var state = try initialState(features)
            var banned = [Float](repeating: 0, count: config.vocab)
            for i in [Self.pad, Self.cls, Self.unk] { banned[i] = -.infinity }
            let ban = try Tensor(banned, shape: [1, config.vocab])
            var token = try Tensor.full([b], Double(Self.cls), dtype: .int64)
            var out = [(ids: [Int], alphas: [[Float]])](repeating: ([], []), count: b)
            var done = [Bool](repeating: false, count: b)
            for _ in 0..<(config.maxLength - 1) {
                let (a, l) = try step(token, features: features, projected: projected, state: &state)
                token = try (l + ban).argmax(dim: 1)
                let ids = try token.toArray(Int64.self), alpha = try a.contiguous().toArray(Float.self)
                for i in 0..<b where !done[i] {
                    if ids[i] == Int64(Self.sep) { done[i] = true; continue }
                    out[i].ids.append(Int(ids[i]))
                    out[i].alphas.append(Array(alpha[(i * p)..<((i + 1) * p)]))
                }
                if !done.contains(false) { break }
            }
            return out
        }
    }

    /// Teacher forcing on given captions (evaluation mode, no autograd): `captions` are compact ids without specials
    /// (at most `maxLength` − 2 each are read); per caption, for each of its pieces, the probability the captioner
    /// gives that piece at its step and that step's attention map (P values summing to 1). The alignment
    /// generator's `teacher` mode (spec §4.2) keeps the pieces it would have generated.
    public func teacherForced(features: Tensor, captions: [[Int]]) throws -> [(probabilities: [Float], alphas: [[Float]])] {
        try checkFeatures(features)
        let b = features.shape[0], p = config.grid * config.grid
        guard captions.count == b else { throw ModelError.input("KaleidoCaptioner: \(captions.count) captions for \(b) feature rows") }
        let kept = captions.map { Array($0.prefix(config.maxLength - 2)) }
        let t = (kept.map(\.count).max() ?? 0) + 2
        var ids = [Int64](repeating: Int64(Self.pad), count: b * t)
        for (i, c) in kept.enumerated() {
            ids[i * t] = Int64(Self.cls)
            for (j, id) in c.enumerated() { ids[i * t + 1 + j] = Int64(id) }
            ids[i * t + 1 + c.count] = Int64(Self.sep)
        }
        let wasTraining = training
        eval()
        defer { train(wasTraining) }
        return try Torch.noGrad {
            let target = try Tensor(ids, shape: [b, t]).slice(dim: 1, start: 1)
            let (logits, alphas) = try forward(features: features, ids: try Tensor(ids, shape: [b, t]))
            let prob = try logits.softmax(dim: -1).gather(dim: 2, index: target.unsqueeze(2)).squeeze(dim: 2).contiguous().toArray(Float.self)
            let a = try alphas.contiguous().toArray(Float.self)
            return kept.enumerated().map { i, c in
                (Array(prob[(i * (t - 1))..<(i * (t - 1) + c.count)]),
                 (0..<c.count).map { j in Array(a[((i * (t - 1) + j) * p)..<((i * (t - 1) + j + 1) * p)]) })
            }
        }
    }

    /// The WordPiece ids of compact ids.
    public func wordPieceIDs(_ compact: [Int]) throws -> [Int64] {
        let table = try vocab_ids.value.toArray(Int64.self)
        return compact.map { (0..<table.count).contains($0) ? table[$0] : table[Self.unk] }
    }
}
