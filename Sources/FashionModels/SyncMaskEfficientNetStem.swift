// SyncMask's EfficientNet-Lite0 stem (image_encoder efficientnet_lite0; docs/SYNCMASK.md §7 "EfficientNet-Lite0
// image tower"): the ImageNet network of EfficientNetLite.swift under `visual_encoder.backbone.*` (its lukemelas
// names), fed its own normalisation ((x·255 − 127)/128, not CLIP's), its last feature grid (B, 1280, S/32, S/32)
// flattened row-major into S²/32² tokens and mapped by `visual_encoder.proj` to the vision width. BatchNorm stays
// in evaluation mode whatever mode the model is in: the running statistics (ImageNet's, when loaded) are frozen,
// as is usual when a small-batch detector or VL model fine-tunes a BN backbone; the affine weights and the
// convolutions train. PyTorch port: Tests/reference/syncmask_port.py (`VisualEncoder`, reusing effnet_lite_port.py).
import Foundation
import Torch

extension VisualEncoder {
    /// images (B, 3, S, S) in [0, 1] → tokens (B, (S/32)², Wv). Masked 32×32 pixel patches take `mask_token`
    /// (in the normalised input, as the conv stem does) before the backbone sees them.
    func efficientNetTokens(_ images: Tensor, backbone: EfficientNetLite, patchMask: Tensor?) throws -> Tensor {
        // `train()` on the model reaches the backbone too; its BatchNorm must keep using the running statistics.
        if backbone.training { backbone.eval() }
        var x = try EfficientNetLite.normalize(images.mul(255))
        if let patchMask { x = try maskPixels(x, patchMask) }
        let grid = try backbone.features(normalized: x)
        guard let proj else { throw ModelError.input("EfficientNet-Lite0 visual encoder without a projection") }
        return try proj(grid.flatten(startDim: 2).transpose(1, 2))
    }
}

extension SyncMask {
    /// Whether a weights file holds `visual_encoder.*` tensors (a whole image tower) rather than a bare backbone.
    static func isVisualEncoderFile(_ path: String) throws -> Bool {
        try readWeights(path).keys.contains { $0.hasPrefix("visual_encoder.") }
    }

    /// Loads a converted EfficientNet-Lite0 file (scripts/convert-efficientnet-lite0: lukemelas names, BatchNorm
    /// running statistics included) into `visual_encoder.backbone` and `visual_encoder_m.backbone`, parameters and
    /// buffers; `proj`, the tokens' position table and the blocks stay fresh. Every key and shape is checked before
    /// anything is written. Returns the tensors loaded.
    public func initialiseEfficientNet(fromFile path: String) throws -> Int {
        guard let student = visual_encoder.backbone, let momentum = visual_encoder_m.backbone else {
            throw ModelError.badWeights(path: path, reason: "image_init: an EfficientNet-Lite0 file needs image_encoder efficientnet_lite0, the config has \(config.imageEncoder.rawValue)")
        }
        let raw = try SyncMask.readWeights(path)
        let expects = "image_init expects the EfficientNet-Lite0 file of scripts/convert-efficientnet-lite0, lukemelas names such as _conv_stem.weight, _blocks.0._depthwise_conv.weight"
        func notTower(_ why: String) -> ModelError {
            let sample = raw.keys.sorted().prefix(3).map { "'\($0)'" }.joined(separator: ", ")
            return ModelError.badWeights(path: path, reason: "not an EfficientNet-Lite0 image tower: \(why) (the file's keys begin \(sample); \(expects))")
        }
        let own = student.stateDict()
        let ownNames = Set(own.map(\.0))
        if let unexpected = raw.keys.sorted().first(where: { !ownNames.contains($0) }) {
            throw notTower("unexpected key '\(unexpected)'")
        }
        if let missing = own.map(\.0).first(where: { raw[$0] == nil }) { throw notTower("missing key '\(missing)'") }
        for (name, t) in own {
            guard let v = raw[name], v.shape != t.shape else { continue }
            throw ModelError.badWeights(path: path, reason: "key '\(name)' has shape \(v.shape), expected \(t.shape) (EfficientNet-Lite0)")
        }
        let values = Dictionary(uniqueKeysWithValues: own.compactMap { name, _ in raw[name].map { (name, $0) } })
        try student.loadStateDict(values)
        try momentum.loadStateDict(values)
        return values.count
    }
}
