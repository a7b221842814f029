import ArgumentParser
import FashionModels
import Foundation
import Torch

/// `fashionvl debug-step`: spec §12 on one batch: losses and gradient norms of original-name weights, as one
/// JSON line comparable with `Tests/reference/mvlt_parity.py losses`.
struct DebugStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug-step",
        abstract: "One eval-mode float32 step of MVLT on a batch file: prints losses and gradient norms as one JSON line.")

    @Option(help: "safetensors weights under the original MVLT names (scripts/convert-mvlt-checkpoint output).")
    var weights: String
    @Option(help: "safetensors batch: image, mask, input_ids, mlm_labels, itm_labels (mvlt_parity.py make).")
    var batch: String
    @Option(help: "Base config (registry name or JSON) for what the weights do not say: heads per stage, token order.")
    var config = "mvlt-tiny"
    @Option(help: "libtorch threads.") var threads = 1
    @Flag(help: "Feed the clean image instead of image.masked_fill(mask, 1e-6).") var clean = false

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
    }

    func run() throws {
        Torch.setNumThreads(threads)
        let base = try MVLTConfig.load(nameOrPath: config)
        let tensors: [String: Tensor]
        do { tensors = try SafeTensors.load(batch).tensors } catch let e as TorchError {
            throw ModelError.badWeights(path: batch, reason: "cannot read the batch: \(e)")
        }
        guard let image = tensors["image"], image.ndim == 4 else {
            throw ModelError.input("\(batch): no 4-D 'image' tensor")
        }
        let model = try MVLT.fromWeights(path: weights, imageSize: image.size(-1), base: base)
        model.eval()
        let report = try model.checkStep(batch: tensors, masked: !clean)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
    }
}
