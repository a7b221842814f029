// The built-in synthetic catalog (DATA.md §3): products drawn from one seed, split train/validation by
// product (all poses of a product in one split), rendered into Fashion-Gen records. Every product draws
// from its own RNG stream, so records can be rendered in parallel and still be byte-identical.

public enum CatalogSplit: String, Sendable, Codable { case train, validation }

public struct SyntheticCatalog: Sendable {
    public struct Config: Sendable {
        /// Total products over both splits.
        public var products: Int
        /// Image side in pixels (64, 128 or 256 are the intended sizes).
        public var imageSize: Int
        public var seed: UInt64
        public var difficulty: Difficulty
        /// Share of products in the validation split.
        public var validationFraction: Double

        public init(products: Int = 2_300, imageSize: Int = 128, seed: UInt64 = 0, difficulty: Difficulty = .medium,
                    validationFraction: Double = 0.13) {
            self.products = products
            self.imageSize = imageSize
            self.seed = seed
            self.difficulty = difficulty
            self.validationFraction = validationFraction
        }
    }

    public let config: Config
    public let products: [Product]
    public let splits: [CatalogSplit]
    let renderer: CatalogRenderer

    public static let firstProductID: Int64 = 100_000

    public init(_ config: Config) throws {
        guard config.products > 0 else {
            throw ImageError.invalidArgument(operation: "synthetic catalog", reason: "expected products > 0, got \(config.products)")
        }
        guard (8...1024).contains(config.imageSize) else {
            throw ImageError.invalidArgument(operation: "synthetic catalog", reason: "expected image size 8...1024, got \(config.imageSize)")
        }
        guard (0..<1).contains(config.validationFraction) else {
            throw ImageError.invalidArgument(operation: "synthetic catalog",
                                             reason: "expected validation fraction in [0, 1), got \(config.validationFraction)")
        }
        self.config = config
        renderer = CatalogRenderer(size: config.imageSize, difficulty: config.difficulty)
        let sampler = ProductSampler(difficulty: config.difficulty, seed: config.seed)
        products = (0..<config.products).map { i in
            var rng = SeededRNG(seed: config.seed, stream: UInt64(i) &+ 1)
            return sampler.sample(id: Self.firstProductID + Int64(i), rng: &rng)
        }
        var order = Array(0..<config.products)
        var rng = SeededRNG(seed: config.seed, stream: 0x5_9117)
        rng.shuffle(&order)
        let validationCount = config.products > 1 ? Int((Double(config.products) * config.validationFraction).rounded()) : 0
        var s = [CatalogSplit](repeating: .train, count: config.products)
        for i in order.prefix(validationCount) { s[i] = .validation }
        splits = s
    }

    /// Title and description of product `i` (the same for all its poses).
    public func text(of i: Int) -> (title: String, description: String) {
        var rng = SeededRNG(seed: products[i].renderSeed, stream: 0x7E47)
        let title = CatalogText.title(products[i], rng: &rng)
        return (title, CatalogText.description(products[i], rng: &rng))
    }

    /// One record per pose of product `i`; `index`/`index2` are filled by the caller.
    public func records(of i: Int) -> [FashionGenRecord] {
        let p = products[i]
        let (title, description) = text(of: i)
        return p.poses.enumerated().map { k, pose in
            FashionGenRecord(
                image: renderer.render(p, pose: pose).pixels, name: title, description: description,
                category: p.category.rawValue, subcategory: p.subcategory.rawValue, brand: p.brand,
                composition: p.composition, department: p.department, gender: p.gender, season: p.season,
                pose: "id_gridfs_\(k + 1)", productID: p.productID, msrpUSD: p.priceUSD)
        }
    }
}
