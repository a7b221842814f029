// Pretrained towers for SyncMask (docs/SYNCMASK.md "Pretrained towers"): `text_init` loads a BERT-layout checkpoint
// (all-MiniLM-L6-v2 as `minilm-l6`, or any HF BERT safetensors file) into `text_encoder.bert` — the embeddings and
// the first text_layers + fusion_layers encoder layers; the fusion layers' cross-attention stays fresh, as ALBEF
// starts its fusion layers from BERT layers 6–11 — and `image_init` loads `visual_encoder.*` tensors, or (image_encoder
// efficientnet_lite0) EfficientNet-Lite0's ImageNet weights as `efficientnet-lite0` into `visual_encoder.backbone`.
// The momentum copies start equal to the loaded towers. Every check runs before any tensor is written.
import Foundation
import Torch

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
        let (file, original, fileLayers) = try BertTowerFile.read(path)
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

/// A BERT-layout weights file (all-MiniLM-L6-v2 as `minilm-l6`, or any Hugging Face BERT safetensors), read for a
/// text tower: names normalised to `embeddings.*` / `encoder.layer.N.*` / `cls.predictions.{bias,transform.*}` (a
/// `bert.` or `text_encoder.bert.` prefix dropped; `pooler.*`, `embeddings.position_ids` and the rest of `cls.*`
/// ignored); any other key is an error naming the file. SyncMask's `text_init` and Kaleido-BERT's read it.
public enum BertTowerFile {
    /// (normalised name → tensor, normalised name → the file's key, the file's encoder layer count).
    public static func read(_ path: String) throws -> (tensors: [String: Tensor], original: [String: String], layers: Int) {
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
        return (file, original, (layerIndices.max() ?? -1) + 1)
    }
}
