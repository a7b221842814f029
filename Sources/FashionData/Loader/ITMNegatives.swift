// Image–text matching negatives: with probability p the caption is replaced by another product's caption
// (label 0); otherwise it stays (label 1). Negatives are never of the same product (poses share a product).

public struct ITMNegatives: SampleTransform {
    public var probability: Double
    /// Draw the negative from the same subcategory (hard negatives, as the retrieval protocol); falls back
    /// to any other product when the subcategory holds one product only.
    public var sameSubcategory: Bool

    public init(probability: Double = 0.5, sameSubcategory: Bool = false) {
        self.probability = probability
        self.sameSubcategory = sameSubcategory
    }

    public func apply(to sample: inout LoaderSample, catalog: LoaderCatalog, rng: inout SeededRNG) {
        guard rng.chance(probability) else { return }
        let sub = catalog.subcategoryOfRow[sample.row]
        let pool = sameSubcategory ? catalog.rowsBySubcategory[sub] : catalog.rows
        guard let other = Self.otherProduct(in: pool, than: sample.productID, catalog: catalog, rng: &rng)
                ?? Self.otherProduct(in: catalog.rows, than: sample.productID, catalog: catalog, rng: &rng)
        else { return }  // a single product: no negative exists, keep the positive
        sample.caption = catalog.captions[other]
        sample.inputIds = catalog.tokenize(sample.caption, catalog.textLength)
        sample.itmLabel = 0
    }

    /// A uniformly drawn row of `pool` whose product differs from `product`, or nil when there is none.
    static func otherProduct(in pool: [Int], than product: Int64, catalog: LoaderCatalog,
                             rng: inout SeededRNG) -> Int? {
        guard !pool.isEmpty else { return nil }
        for _ in 0..<32 {  // rejection: almost always succeeds at once
            let row = rng.pick(pool)
            if catalog.productIDs[row] != product { return row }
        }
        let others = pool.filter { catalog.productIDs[$0] != product }
        return others.isEmpty ? nil : rng.pick(others)
    }
}
