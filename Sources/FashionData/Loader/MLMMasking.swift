// BERT masked-language-model corruption as the MVLT loader does it (spec mvlt.md §2): every content token
// (never [CLS], [SEP] or [PAD]) is selected with p = 0.15 independently; a selected token becomes [MASK]
// with p = 0.8, a uniformly random id of the vocabulary with p = 0.1, or stays with p = 0.1. Labels are the
// original id at selected positions and −100 elsewhere.

public struct MLMMasking: SampleTransform {
    public var probability: Double
    public var maskID: Int32
    public var vocabularySize: Int
    /// Ids never selected.
    public var specialIDs: Set<Int32>

    public init(probability: Double = 0.15, maskID: Int32 = 103, vocabularySize: Int = 30_522,
                specialIDs: Set<Int32> = [0, 101, 102]) {
        self.probability = probability
        self.maskID = maskID
        self.vocabularySize = vocabularySize
        self.specialIDs = specialIDs
    }

    public func apply(to sample: inout LoaderSample, catalog: LoaderCatalog, rng: inout SeededRNG) {
        var labels = [Int32](repeating: -100, count: sample.inputIds.count)
        for i in sample.inputIds.indices where !specialIDs.contains(sample.inputIds[i]) {
            guard rng.chance(probability) else { continue }
            labels[i] = sample.inputIds[i]
            let u = rng.unit()
            if u < 0.8 {
                sample.inputIds[i] = maskID
            } else if u < 0.9 {
                sample.inputIds[i] = Int32(rng.int(0...(vocabularySize - 1)))
            }
        }
        sample.mlmLabels = labels
    }
}
