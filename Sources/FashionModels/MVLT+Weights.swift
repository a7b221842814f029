// Loading original MVLT weights by name (spec §11): key fixes, strict loading with errors that list the
// keys, and the configuration a weights file implies (for `fashionvl debug-step`).
import Torch

extension MVLT {
    public static let wordKey = "text_embeddings.word_embeddings.weight"
    public static let decoderKey = "mlm_head.mlm_decoder.weight"
    /// Keys a weights file may omit: the tied decoder (same matrix as the word table) and the arange buffer.
    public static let optionalKeys: Set<String> = ["text_embeddings.position_ids", decoderKey]

    /// Key fixes for checkpoints: strips DistributedDataParallel's `module.` prefix.
    public static func sanitize(_ weights: [String: Tensor]) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (k, v) in weights { out[k.hasPrefix("module.") ? String(k.dropFirst(7)) : k] = v }
        return out
    }

    /// Loads a safetensors file of original MVLT names, strictly: any missing, unexpected or mis-shaped key is
    /// an error that lists them and names the file. Nothing changes when loading fails.
    public func load(weightsPath: String) throws {
        let tensors: [String: Tensor]
        do { tensors = try SafeTensors.load(weightsPath).tensors } catch let e as TorchError {
            throw ModelError.badWeights(path: weightsPath, reason: e.reasonWithoutPath)
        }
        try load(weights: tensors, source: weightsPath)
    }

    public func load(weights: [String: Tensor], source: String) throws {
        var w = MVLT.sanitize(weights)
        if let dec = w[MVLT.decoderKey], let word = w[MVLT.wordKey] {
            guard dec.shape == word.shape, try dec.eq(word).all().itemInt() == 1 else {
                throw ModelError.badWeights(path: source, reason: "\(MVLT.decoderKey) differs from \(MVLT.wordKey); they must be tied")
            }
            w.removeValue(forKey: MVLT.decoderKey)
        }
        do {
            try loadStateDict(w, strict: true, optional: MVLT.optionalKeys)
        } catch let TorchError.stateDict(missing, unexpected, mismatched) {
            throw ModelError.weights(path: source, missing: missing, unexpected: unexpected, mismatched: mismatched)
        }
    }

    /// Builds a model whose config is read from the weights' shapes (text length, vocabulary, widths, depths,
    /// SR and MLP ratios, heads present) at `imageSize`, then loads them. Head counts come from `base`
    /// when its widths match, else from a registered config of the same widths, else head dim 64.
    public static func fromWeights(path: String, imageSize: Int, base: MVLTConfig = .tiny) throws -> MVLT {
        let tensors: [String: Tensor]
        do { tensors = try SafeTensors.load(path).tensors } catch let e as TorchError {
            throw ModelError.badWeights(path: path, reason: e.reasonWithoutPath)
        }
        let w = sanitize(tensors)
        let config = try MVLTConfig.inferred(fromWeights: w, imageSize: imageSize, base: base, source: path)
        let model = try MVLT(config)
        try model.load(weights: w, source: path)
        return model
    }
}

extension MVLTConfig {
    /// The configuration a state dict of original names implies (see `MVLT.fromWeights`).
    public static func inferred(fromWeights w: [String: Tensor], imageSize: Int, base: MVLTConfig = .tiny,
                                source: String = "weights") throws -> MVLTConfig {
        func shape(_ key: String) throws -> [Int] {
            guard let t = w[key] else { throw ModelError.badWeights(path: source, reason: "not MVLT weights: no '\(key)'") }
            return t.shape
        }
        var c = base
        c.imageSize = imageSize
        let word = try shape(MVLT.wordKey), textPos = try shape("text_pos_embed1")
        guard word.count == 2, textPos.count == 3 else {
            throw ModelError.badWeights(path: source, reason: "\(MVLT.wordKey) / text_pos_embed1 have unexpected ranks")
        }
        (c.vocabSize, c.textHidden, c.textLength) = (word[0], word[1], textPos[1])
        c.maxPositions = try shape("text_embeddings.position_embeddings.weight").first ?? c.maxPositions
        var dims: [Int] = [], depths: [Int] = [], sr: [Int] = [], mlp: [Int] = [], patch: [Int] = [], grid: [Int] = []
        for k in 1...4 {
            let proj = try shape("patch_embed\(k).proj.weight")
            guard proj.count == 4 else { throw ModelError.badWeights(path: source, reason: "patch_embed\(k).proj.weight is not 4-D") }
            dims.append(proj[0]); patch.append(proj[2])
            depths.append((0...).prefix { w["block\(k).\($0).norm1.weight"] != nil }.count)
            sr.append(w["block\(k).0.attn.sr.weight"]?.shape[2] ?? 1)
            mlp.append((try shape("block\(k).0.mlp.fc1.weight")[0]) / max(proj[0], 1))
            let slots = try shape("pos_embed\(k)")[1] - (k == 4 ? 1 : 0)
            grid.append(Int(Double(slots).squareRoot().rounded()))
        }
        if dims != base.embedDims {   // heads are not in the shapes: a registered config of these widths, else head dim 64
            let named = ModelRegistry.names.compactMap { try? ModelRegistry.config(named: $0) }.first { $0.embedDims == dims }
            c.numHeads = named?.numHeads ?? dims.map { max(1, $0 / 64) }
            c.textEmbeddingInit = named?.textEmbeddingInit ?? c.textEmbeddingInit   // recorded only; weights replace it
        }
        (c.embedDims, c.depths, c.srRatios, c.mlpRatios, c.patchSizes, c.pvtGrid) = (dims, depths, sr, mlp, patch, grid)
        c.heads = MVLTHeads(mlm: w["mlm_head.bias"] != nil, itm: w["itm_head.linear.weight"] != nil,
                            mir: w["t2i_head.score.0.weight"] != nil, category: w["sup_cls_head.linear.weight"] != nil)
        if let r = w["t2i_head.reduction1.0.weight"] { c.decoderChannels = r.shape[0] }
        do { try c.validate() } catch let ModelError.invalidConfig(field, reason) {
            throw ModelError.configFile(path: source, field: field, reason: reason)
        }
        return c
    }
}

extension TorchError {
    /// The message without the path prefix that `.file` errors carry (the caller names the file itself).
    var reasonWithoutPath: String {
        if case let .file(_, reason) = self { return reason }
        return description
    }
}
