import Torch

/// The input check shared by the ImageNet backbones (EfficientNet-Lite0, ResNet-50).
enum PixelInput {
    /// Checks that `pixels` is (B, 3, H, W) RGB in [0, 255], uint8 or floating point, and returns it as float32;
    /// errors name `model`.
    static func float32(_ pixels: Tensor, model: String) throws -> Tensor {
        let s = pixels.shape
        guard s.count == 4, s[1] == 3, s[0] > 0, s[2] > 0, s[3] > 0 else {
            throw ModelError.input("\(model): pixels must be (B, 3, H, W) RGB in [0, 255], got shape \(s)")
        }
        guard pixels.dtype == .uint8 || pixels.dtype.isFloatingPoint else {
            throw ModelError.input("\(model): pixels must be uint8 or floating point, got \(pixels.dtype)")
        }
        return pixels.dtype == .float32 ? pixels : try pixels.to(dtype: .float32)
    }
}

/// The weights-file reading shared by the ImageNet backbones.
enum BackboneWeights {
    /// Reads `path` for `model`: a file of another architecture is a `ModelError.weights` naming the first missing
    /// key (names in `optional` may be absent), else the first unexpected one, else the first tensor of the wrong
    /// shape (all sorted by name); an unreadable file is `ModelError.badWeights` saying "cannot read `label` weights".
    static func read(_ path: String, for model: Module, label: String, optional: Set<String> = []) throws -> [String: Tensor] {
        let tensors: [String: Tensor]
        do { tensors = try SafeTensors.load(path).tensors } catch let e as TorchError {
            throw ModelError.badWeights(path: path, reason: "cannot read \(label) weights: \(e)")
        }
        let own = model.stateDict()
        let ownNames = Set(own.map(\.0))
        if let missing = own.map(\.0).filter({ tensors[$0] == nil && !optional.contains($0) }).sorted().first {
            throw ModelError.weights(path: path, missing: [missing], unexpected: [], mismatched: [])
        }
        if let unexpected = tensors.keys.filter({ !ownNames.contains($0) }).sorted().first {
            throw ModelError.weights(path: path, missing: [], unexpected: [unexpected], mismatched: [])
        }
        for (name, t) in own.sorted(by: { $0.0 < $1.0 }) {
            if let v = tensors[name], v.shape != t.shape {
                throw ModelError.weights(path: path, missing: [], unexpected: [],
                                         mismatched: ["\(name): expected \(t.shape), got \(v.shape)"])
            }
        }
        return tensors
    }
}
