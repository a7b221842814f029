// SyncMask for category recognition (shared/spec/syncmask.md §6, FashionSAP's usage): image and text go through
// the fusion encoder and a classifier MLP(H→H→C) reads the fusion state at [CLS] (FashionVL reads [CLS]; the
// FashionSAP prompt "… the image category is [MASK]" is not used). Two heads, one per task:
//   cls_head_main.0.{weight,bias}  Linear(Wt, Wt)      cls_head_main.2.{weight,bias}  Linear(Wt, C_main)
//   cls_head_sub.0.{weight,bias}   Linear(Wt, Wt)      cls_head_sub.2.{weight,bias}   Linear(Wt, C_sub)
// (index 1 is the exact GELU: PyTorch's nn.Sequential(Linear, GELU, Linear) has the same state-dict names).
// Every other name is SyncMask's (docs/SYNCMASK.md §2), so pretraining checkpoints load by name.
import Foundation
import Torch

/// MLP(H→H→C): Linear, exact GELU, Linear.
public final class SyncMaskCategoryHead: Module {
    public let hidden: Linear
    public let output: Linear
    override public var keys: [String: String] { ["hidden": "0", "output": "2"] }

    init(width: Int, classes: Int) throws {
        hidden = try Linear(width, width)
        output = try Linear(width, classes)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try output(hidden(x).gelu()) }
}

/// SyncMask with the main-category and subcategory heads. Fine-tuning trains `categoryParameters()`: the student
/// image tower, the BERT text and fusion layers and the two heads (no momentum copies, queues or pretraining heads).
public final class SyncMaskClassifier: SyncMask {
    public let cls_head_main: SyncMaskCategoryHead
    public let cls_head_sub: SyncMaskCategoryHead

    /// Prefixes of the category heads in the state dict.
    public static let headPrefixes = ["cls_head_main.", "cls_head_sub."]
    /// Prefixes of what the category loss reaches (and so what fine-tuning trains).
    public static let categoryPrefixes = ["visual_encoder.", "text_encoder.bert."] + headPrefixes

    /// A fresh model (SyncMask's initialisation; heads N(0, 0.02) weights, zero biases).
    public init(_ config: SyncMaskConfig, mainClasses: Int, subClasses: Int) throws {
        guard mainClasses > 0, subClasses > 0 else {
            throw ModelError.input("a category head needs at least one class (main \(mainClasses), sub \(subClasses))")
        }
        cls_head_main = try SyncMaskCategoryHead(width: config.textWidth, classes: mainClasses)
        cls_head_sub = try SyncMaskCategoryHead(width: config.textWidth, classes: subClasses)
        try super.init(config)
        for head in [cls_head_main, cls_head_sub] {
            for l in [head.hidden, head.output] {
                try truncNormal(l.weight)
                if let b = l.bias { try Torch.noGrad { try b.zero_() } }
            }
        }
    }

    public var mainClasses: Int { cls_head_main.output.weight.size(0) }
    public var subClasses: Int { cls_head_sub.output.weight.size(0) }

    /// The fusion encoder's [CLS] state (B, Wt) of (image, text) pairs.
    public func fusionCLS(images: Tensor, ids: Tensor, attentionMask: Tensor) throws -> Tensor {
        let keyMask = try TextEncoder.keyMask(attentionMask)
        let text = try text_encoder.text(ids, keyMask: keyMask)
        return try text_encoder.fusion(text, keyMask: keyMask, image: visual_encoder(images)).0.select(dim: 1, index: 0)
    }

    /// Main (B, C_main) and sub (B, C_sub) category logits.
    public func categoryLogits(images: Tensor, ids: Tensor, attentionMask: Tensor) throws -> (main: Tensor, sub: Tensor) {
        let cls = try fusionCLS(images: images, ids: ids, attentionMask: attentionMask)
        return (try cls_head_main(cls), try cls_head_sub(cls))
    }

    /// The parameters category fine-tuning trains, with their names.
    public func categoryParameters() -> [(String, Tensor)] {
        trainableParameters().filter { name, _ in SyncMaskClassifier.categoryPrefixes.contains { name.hasPrefix($0) } }
    }

    /// Loads a SyncMask checkpoint's weights by name (optimizer tensors skipped); the category heads keep their
    /// fresh values even when the checkpoint has some (a fine-tuned checkpoint's heads may have other classes).
    public func loadPretrained(weights path: String) throws {
        let tensors = try SafeTensors.load(path).tensors.filter { key, _ in
            !key.hasPrefix("optimizer.") && !SyncMaskClassifier.headPrefixes.contains { key.hasPrefix($0) }
        }
        let heads = Set(stateDict().map(\.0).filter { name in SyncMaskClassifier.headPrefixes.contains { name.hasPrefix($0) } })
        do {
            try loadStateDict(tensors, optional: heads)
        } catch let TorchError.stateDict(missing, unexpected, mismatched) {
            throw ModelError.weights(path: path, missing: missing, unexpected: unexpected, mismatched: mismatched)
        }
    }

    /// A fine-tuned classifier from its run's model config (JSON), class counts and checkpoint, on `device`, in
    /// eval mode. A checkpoint without both heads (a pretraining checkpoint) is one error naming the file.
    public static func open(config: Data, mainClasses: Int, subClasses: Int, weights path: String,
                            device: Device) throws -> SyncMaskClassifier {
        let c = try SyncMaskConfig.decode(config, source: path)
        let tensors = try SafeTensors.load(path).tensors.filter { !$0.key.hasPrefix("optimizer.") }
        for prefix in headPrefixes where !tensors.keys.contains(where: { $0.hasPrefix(prefix) }) {
            throw ModelError.badWeights(path: path, reason: "no category head (\(prefix)*): a SyncMask pretraining checkpoint, not a `fashionvl finetune` one")
        }
        let model = try SyncMaskClassifier(c, mainClasses: mainClasses, subClasses: subClasses)
        try model.loadForEvaluation(tensors, path: path, device: device)
        return model
    }
}
