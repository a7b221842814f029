// The "sample-100" retrieval sets (shared/spec/protocols.md §2.3): per query 1 positive + 100 negatives from
// OTHER products of the same subcategory, filled from the same category and then from random products when the
// subcategory is too small. One random image row per product. Deterministic per seed (SeededRNG), saved as
// JSON so every method is scored on identical sets. Under `--ties distinct-text` no negative shares the
// positive's text (TextHash of the protocol's text field): Fashion-Gen gives every colour of a garment one
// description, and such a "negative" is indistinguishable from the positive by its text.
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
    /// The tie rule the negatives were drawn under ("keep" or "distinct-text"); nil in files written before the
    /// rule existed, which were drawn as "keep".
    public var ties: String?
    /// The text field whose equality excluded negatives (distinct-text draws only).
    public var textField: String?
    public var draws: [S100Draw]

    public init(source: String, draws: [S100Draw], ties: RetrievalTies = .keep, textField: String? = nil) {
        self.source = source
        self.draws = draws
        self.ties = ties.rawValue
        self.textField = ties == .distinctText ? textField : nil
    }

    /// The rule the draws were made under ("keep" for files without one).
    public var tieRule: RetrievalTies { ties.flatMap(RetrievalTies.init(rawValue:)) ?? .keep }

    public func draws(_ direction: RetrievalDirection) -> [S100Draw] { draws.filter { $0.direction == direction } }

    public func save(to path: String) throws { try EvalJSON.write(self, to: path) }
    public static func load(from path: String) throws -> S100DrawSet { try EvalJSON.read(S100DrawSet.self, from: path) }

    enum CodingKeys: String, CodingKey { case protocolName = "protocol", source, ties, textField = "text_field", draws }
}

/// Products of a Fashion-Gen file grouped for drawing: id, rows, subcategory and category per product.
public struct S100Sampler: Sendable {
    public struct Product: Sendable {
        public var id: Int64
        public var rows: [Int]
        public var subcategory: String
        public var category: String
        /// `TextHash` of the product's text (its first row's), when the sampler was given texts.
        public var textHash: Int64?
    }

    /// Products sorted by id, so the draw does not depend on row order.
    public let products: [Product]
    private let bySubcategory: [String: [Int]]
    private let byCategory: [String: [Int]]
    /// Product indices per text hash (only when texts were given).
    private let byText: [Int64: [Int]]
    /// The file the products come from, named in errors.
    public let source: String

    /// Groups rows (all, or only `rows`) by product id; each product takes the subcategory, category and text hash
    /// of its first row. `texts` (one per row, in the protocol's text field) is needed for `ties: .distinctText`.
    public init(productIDs: [Int64], subcategories: [String], categories: [String], texts: [String]? = nil,
                rows: [Int]? = nil, source: String = "the catalog") throws {
        self.source = source
        guard productIDs.count == subcategories.count, productIDs.count == categories.count,
              texts.map({ $0.count == productIDs.count }) ?? true else {
            throw EvalError.invalidArgument(
                "\(source): S100Sampler: \(productIDs.count) product ids, \(subcategories.count) subcategories, "
                    + "\(categories.count) categories\(texts.map { " and \($0.count) texts" } ?? ""); expected one of each per row")
        }
        var index: [Int64: Int] = [:]
        var products: [Product] = []
        for row in rows ?? Array(productIDs.indices) {
            guard productIDs.indices.contains(row) else {
                throw EvalError.invalidArgument("\(source): S100Sampler: row \(row) is outside the file's \(productIDs.count) rows")
            }
            let id = productIDs[row]
            if let i = index[id] {
                products[i].rows.append(row)
            } else {
                index[id] = products.count
                products.append(Product(id: id, rows: [row], subcategory: subcategories[row], category: categories[row],
                                        textHash: texts.map { TextHash.of($0[row]) }))
            }
        }
        products.sort { $0.id < $1.id }
        self.products = products
        var sub: [String: [Int]] = [:], cat: [String: [Int]] = [:], text: [Int64: [Int]] = [:]
        for (i, p) in products.enumerated() {
            sub[p.subcategory, default: []].append(i)
            cat[p.category, default: []].append(i)
            if let h = p.textHash { text[h, default: []].append(i) }
        }
        bySubcategory = sub
        byCategory = cat
        byText = text
    }

    /// Reads the product id, subcategory and category columns of a Fashion-Gen file (all rows, or only `rows`), and
    /// the texts of `textField` when given (needed for `ties: .distinctText`).
    public init(file: FashionGenFile, rows: [Int]? = nil, textField: TextField? = nil) throws {
        try self.init(productIDs: try file.productIDs, subcategories: try file.subcategories, categories: try file.categories,
                      texts: try textField?.column(file), rows: rows, source: file.path)
    }

    /// Products whose text equals product `i`'s (itself included); just `i` without texts.
    func sameText(_ i: Int) -> [Int] {
        guard let h = products[i].textHash, let group = byText[h] else { return [i] }
        return group
    }

    /// One draw for one direction. Queries are distinct products; when the file has fewer products than
    /// `queries`, every product is a query once and a note says so. With `ties: .distinctText` no negative has
    /// the query product's text (a query whose text is shared by many products may get fewer negatives; a note
    /// says so); `.keep` draws exactly as before the option existed.
    public func draw(_ direction: RetrievalDirection, seed: UInt64, queries: Int = 1000, negatives: Int = 100,
                     ties: RetrievalTies = .keep) throws -> S100Draw
    {
        guard queries > 0, negatives >= 0 else {
            throw EvalError.invalidArgument("S100Sampler.draw: queries must be > 0 and negatives ≥ 0, got \(queries), \(negatives)")
        }
        guard products.count >= 2 else {
            throw EvalError.invalidArgument("\(source): the sample-100 protocol needs at least 2 products, the "
                + "evaluated rows hold \(products.count)")
        }
        if ties == .distinctText, products.contains(where: { $0.textHash == nil }) {
            throw EvalError.invalidArgument("S100Sampler.draw: ties distinct-text needs the products' texts (build the sampler with a text field)")
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
        var totalFilled = 0, filledQueries = 0, shortQueries = 0
        for q in chosen {
            let excluded = ties == .distinctText ? sameText(q) : [q]
            let count = min(available, products.count - excluded.count)
            if count < available { shortQueries += 1 }
            let (negs, fromSub, fromCat) = negativesFor(q, excluding: excluded, count: count, rng: &rng)
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
        if shortQueries > 0 {
            notes.append("\(direction.rawValue.uppercased()): \(shortQueries) queries got fewer than \(available) negatives: too few products have a text other than the query's (ties distinct-text)")
        }
        let drawn = out.reduce(0) { $0 + $1.negativeCount }
        let fill = drawn > 0 ? Double(totalFilled) / Double(drawn) : 0
        if totalFilled > 0 {
            notes.append(String(format: "%@: %.1f%% of negatives (in %d of %d queries) were filled from outside the query's subcategory",
                                direction.rawValue.uppercased(), 100 * fill, filledQueries, out.count))
        }
        return S100Draw(direction: direction, seed: seed, requestedQueries: queries, negativesPerQuery: available,
                        productCount: products.count, queries: out, fillFraction: fill,
                        filledQueryFraction: Double(filledQueries) / Double(max(out.count, 1)), notes: notes)
    }

    /// `draws` seeds (seed, seed+1, …) × both directions. `textField` names the field the sampler's texts came
    /// from, recorded in the set for distinct-text draws.
    public func drawSet(seed: UInt64 = 0, draws: Int = 5, queries: Int = 1000, negatives: Int = 100, source: String,
                        ties: RetrievalTies = .keep, textField: TextField? = nil) throws -> S100DrawSet
    {
        var all: [S100Draw] = []
        for d in 0..<max(draws, 1) {
            for direction in RetrievalDirection.allCases {
                all.append(try draw(direction, seed: seed &+ UInt64(d), queries: queries, negatives: negatives, ties: ties))
            }
        }
        return S100DrawSet(source: source, draws: all, ties: ties, textField: textField?.rawValue)
    }

    /// `count` distinct products outside `excluding` (the query product, and under distinct-text every product
    /// with its text): the subcategory first, then the category, then anything.
    private func negativesFor(_ q: Int, excluding: [Int], count: Int, rng: inout SeededRNG)
        -> (negatives: [Int], fromSub: Int, fromCat: Int)
    {
        let p = products[q]
        var taken = Set(excluding)
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
