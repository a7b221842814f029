// The "sample-100" retrieval sets (shared/spec/protocols.md §2.3): per query 1 positive + 100 negatives from
// OTHER products of the same subcategory, filled from the same category and then from random products when the
// subcategory is too small. One random image row per product. Deterministic per seed (SeededRNG), saved as
// JSON so every method is scored on identical sets.
import FashionData
import Foundation

public enum RetrievalDirection: String, Codable, Sendable, CaseIterable {
    /// Text → image: the query is the positive product's text; candidates are image rows.
    case tir
    /// Image → text: the query is one image row; candidates are product texts.
    case itr
}

/// One query with its candidates. Rows index the Fashion-Gen file. For TIR `queryRow` is a row of the query
/// product whose text is the query (all rows of a product share one text) and `candidateRows` are the images;
/// for ITR `queryRow` is the query image and `candidateRows` are rows whose product text is the candidate.
public struct S100Query: Codable, Equatable, Sendable {
    public var queryProduct: Int64
    public var queryRow: Int
    public var candidateProducts: [Int64]
    public var candidateRows: [Int]
    /// Index of the positive in the candidate lists (0 in sets drawn here; ties are pessimistic, so it never matters).
    public var positiveIndex: Int
    /// How the negatives were found: same subcategory, then same category, then any product.
    public var fromSubcategory: Int
    public var fromCategory: Int
    public var fromRandom: Int

    public var negativeCount: Int { candidateProducts.count - 1 }
    /// Negatives that did not come from the query's subcategory.
    public var filled: Int { fromCategory + fromRandom }
}

/// One draw of queries for one direction.
public struct S100Draw: Codable, Equatable, Sendable {
    public var direction: RetrievalDirection
    public var seed: UInt64
    public var requestedQueries: Int
    public var negativesPerQuery: Int
    /// Distinct products in the file the draw came from.
    public var productCount: Int
    public var queries: [S100Query]
    /// Share of all negatives that were filled from outside the query's subcategory, in [0, 1].
    public var fillFraction: Double
    /// Share of queries that needed any fill, in [0, 1].
    public var filledQueryFraction: Double
    /// Things the report must say (fewer queries or negatives than requested, fill).
    public var notes: [String]
}

/// The draws of one evaluation (5 seeds × 2 directions by default), saved as one JSON file.
public struct S100DrawSet: Codable, Equatable, Sendable {
    public var protocolName: String = "sample100"
    public var source: String
    public var draws: [S100Draw]

    public init(source: String, draws: [S100Draw]) {
        self.source = source
        self.draws = draws
    }

    public func draws(_ direction: RetrievalDirection) -> [S100Draw] { draws.filter { $0.direction == direction } }

    public func save(to path: String) throws { try EvalJSON.write(self, to: path) }
    public static func load(from path: String) throws -> S100DrawSet { try EvalJSON.read(S100DrawSet.self, from: path) }

    enum CodingKeys: String, CodingKey { case protocolName = "protocol", source, draws }
}

/// Products of a Fashion-Gen file grouped for drawing: id, rows, subcategory and category per product.
public struct S100Sampler: Sendable {
    public struct Product: Sendable {
        public var id: Int64
        public var rows: [Int]
        public var subcategory: String
        public var category: String
    }

    /// Products sorted by id, so the draw does not depend on row order.
    public let products: [Product]
    private let bySubcategory: [String: [Int]]
    private let byCategory: [String: [Int]]

    /// Groups rows (all, or only `rows`) by product id; each product takes the subcategory and category of its
    /// first row.
    public init(productIDs: [Int64], subcategories: [String], categories: [String], rows: [Int]? = nil) throws {
        guard productIDs.count == subcategories.count, productIDs.count == categories.count else {
            throw EvalError.invalidArgument(
                "S100Sampler: \(productIDs.count) product ids, \(subcategories.count) subcategories and "
                    + "\(categories.count) categories; expected one of each per row")
        }
        var index: [Int64: Int] = [:]
        var products: [Product] = []
        for row in rows ?? Array(productIDs.indices) {
            guard productIDs.indices.contains(row) else {
                throw EvalError.invalidArgument("S100Sampler: row \(row) is outside the file's \(productIDs.count) rows")
            }
            let id = productIDs[row]
            if let i = index[id] {
                products[i].rows.append(row)
            } else {
                index[id] = products.count
                products.append(Product(id: id, rows: [row], subcategory: subcategories[row], category: categories[row]))
            }
        }
        products.sort { $0.id < $1.id }
        self.products = products
        var sub: [String: [Int]] = [:], cat: [String: [Int]] = [:]
        for (i, p) in products.enumerated() {
            sub[p.subcategory, default: []].append(i)
            cat[p.category, default: []].append(i)
        }
        bySubcategory = sub
        byCategory = cat
    }

    /// Reads the product id, subcategory and category columns of a Fashion-Gen file (all rows, or only `rows`).
    public init(file: FashionGenFile, rows: [Int]? = nil) throws {
        try self.init(productIDs: try file.productIDs, subcategories: try file.subcategories, categories: try file.categories,
                      rows: rows)
    }

    /// One draw for one direction. Queries are distinct products; when the file has fewer products than
    /// `queries`, every product is a query once and a note says so.
    public func draw(_ direction: RetrievalDirection, seed: UInt64, queries: Int = 1000, negatives: Int = 100) throws
        -> S100Draw
    {
        guard queries > 0, negatives >= 0 else {
            throw EvalError.invalidArgument("S100Sampler.draw: queries must be > 0 and negatives ≥ 0, got \(queries), \(negatives)")
        }
        guard products.count >= 2 else {
            throw EvalError.invalidArgument("S100Sampler.draw: need at least 2 products, the file has \(products.count)")
        }
        var rng = SeededRNG(seed: seed, stream: direction == .tir ? 0 : 1)
        var order = Array(products.indices)
        rng.shuffle(&order)
        let chosen = Array(order.prefix(queries))
        var notes: [String] = []
        if chosen.count < queries {
            notes.append("\(direction.rawValue.uppercased()): only \(chosen.count) products, so \(chosen.count) queries instead of \(queries)")
        }
        let available = min(negatives, products.count - 1)
        if available < negatives {
            notes.append("\(direction.rawValue.uppercased()): only \(products.count - 1) other products, so \(available) negatives per query instead of \(negatives)")
        }
        var out: [S100Query] = []
        out.reserveCapacity(chosen.count)
        var totalFilled = 0, filledQueries = 0
        for q in chosen {
            let (negs, fromSub, fromCat) = negativesFor(q, count: available, rng: &rng)
            let fromRandom = negs.count - fromSub - fromCat
            let candidates = [q] + negs
            let rows = candidates.map { rng.pick(products[$0].rows) }
            let queryRow = rng.pick(products[q].rows)
            out.append(S100Query(
                queryProduct: products[q].id, queryRow: queryRow, candidateProducts: candidates.map { products[$0].id },
                candidateRows: rows, positiveIndex: 0, fromSubcategory: fromSub, fromCategory: fromCat, fromRandom: fromRandom))
            totalFilled += fromCat + fromRandom
            if fromCat + fromRandom > 0 { filledQueries += 1 }
        }
        let fill = available * out.count > 0 ? Double(totalFilled) / Double(available * out.count) : 0
        if totalFilled > 0 {
            notes.append(String(format: "%@: %.1f%% of negatives (in %d of %d queries) were filled from outside the query's subcategory",
                                direction.rawValue.uppercased(), 100 * fill, filledQueries, out.count))
        }
        return S100Draw(direction: direction, seed: seed, requestedQueries: queries, negativesPerQuery: available,
                        productCount: products.count, queries: out, fillFraction: fill,
                        filledQueryFraction: Double(filledQueries) / Double(max(out.count, 1)), notes: notes)
    }

    /// `draws` seeds (seed, seed+1, …) × both directions.
    public func drawSet(seed: UInt64 = 0, draws: Int = 5, queries: Int = 1000, negatives: Int = 100, source: String)
        throws -> S100DrawSet
    {
        var all: [S100Draw] = []
        for d in 0..<max(draws, 1) {
            for direction in RetrievalDirection.allCases {
                all.append(try draw(direction, seed: seed &+ UInt64(d), queries: queries, negatives: negatives))
            }
        }
        return S100DrawSet(source: source, draws: all)
    }

    /// `count` distinct other products: the subcategory first, then the category, then anything.
    private func negativesFor(_ q: Int, count: Int, rng: inout SeededRNG) -> (negatives: [Int], fromSub: Int, fromCat: Int) {
        let p = products[q]
        var taken: Set<Int> = [q]
        var result: [Int] = []
        func take(from pool: [Int]) {
            var pool = pool.filter { !taken.contains($0) }
            // Partial Fisher–Yates: the first k of a uniform shuffle.
            let k = min(count - result.count, pool.count)
            for i in 0..<k {
                pool.swapAt(i, rng.int(i...(pool.count - 1)))
                taken.insert(pool[i])
                result.append(pool[i])
            }
        }
        take(from: bySubcategory[p.subcategory] ?? [])
        let fromSub = result.count
        if result.count < count { take(from: byCategory[p.category] ?? []) }
        let fromCat = result.count - fromSub
        if result.count < count {
            if products.count > 4 * count {
                // Rejection sampling: cheap when most products are free.
                while result.count < count {
                    let i = rng.int(0...(products.count - 1))
                    if taken.insert(i).inserted { result.append(i) }
                }
            } else {
                take(from: Array(products.indices))
            }
        }
        return (result, fromSub, fromCat)
    }
}
