import FashionEval

/// The one place where model families other than MVLT become available to `evaluate` and `embed`: each
/// registers how a run folder's config.json "model" object (with its "family") and weights open as a
/// `DualEncoder` (on the device, in eval mode). MVLT needs no entry.
enum ModelFamilyRegistration {
    static func registerAll() {
        // SyncMask (docs/SYNCMASK.md), once its model exists, e.g.:
        // ModelFamilies.register("syncmask") { config, weights, device in
        //     try SyncMask.openForEvaluation(config: config, weights: weights, device: device)
        // }
    }
}
