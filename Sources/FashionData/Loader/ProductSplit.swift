// Train/validation split by product: every pose (row) of a product lands in the same split, so a model is
// never validated on another photo of a product it trained on.

public enum ProductSplit {
    /// Rows of the train and validation splits; `validationFraction` of the products (rounded, at least one
    /// when there are two or more products) go to validation, drawn by `seed`. Rows keep their file order.
    public static func split(productIDs: [Int64], validationFraction: Double, seed: UInt64) -> (train: [Int], validation: [Int]) {
        var products = Array(Set(productIDs)).sorted()
        var rng = SeededRNG(seed: seed)
        rng.shuffle(&products)
        var count = Int((validationFraction * Double(products.count)).rounded())
        if validationFraction > 0, products.count >= 2 { count = min(max(count, 1), products.count - 1) }
        let validation = Set(products.prefix(max(count, 0)))
        var train: [Int] = [], held: [Int] = []
        for (row, id) in productIDs.enumerated() {
            if validation.contains(id) { held.append(row) } else { train.append(row) }
        }
        return (train, held)
    }
}
