import FashionEval
import FashionModels

/// The one place where model families other than MVLT become available to `evaluate` and `embed`: each
/// registers how a run folder's config.json "model" object (with its "family") and weights open as a
/// `DualEncoder` (on the device, in eval mode). MVLT needs no entry.
enum ModelFamilyRegistration {
    static func registerAll() {
        ModelFamilies.register(ModelFamily.syncmask.rawValue) { config, weights, device in
            try SyncMask.open(config: config, weights: weights, device: device)
        }
    }
}
