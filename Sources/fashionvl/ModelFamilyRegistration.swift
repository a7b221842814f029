import FashionEval
import FashionModels
import FashionTrain
import Torch

/// The one place where model families other than MVLT become available to `evaluate` and `embed`: each
/// registers how a run folder's config.json "model" object (with its "family") and weights open as a
/// `DualEncoder` (on the device, in eval mode), or — Kaleido-BERT, which reads cached patch features by catalog
/// row — as a `RowCrossEncoder` bound to the evaluated file. MVLT needs no entry.
enum ModelFamilyRegistration {
    static func registerAll() {
        ModelFamilies.register(ModelFamily.syncmask.rawValue) { config, weights, device in
            try SyncMask.open(config: config, weights: weights, device: device)
        }
        ModelFamilies.registerRowCrossEncoder(ModelFamily.kaleido.rawValue) { run, weights, device, file in
            try KaleidoEvaluation.open(run: run, weights: weights, device: device, file: file)
        }
    }
}

extension KaleidoEvaluation: RowCrossEncoder {}
