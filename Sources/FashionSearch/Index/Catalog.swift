// The catalog a search service serves: one Fashion-Gen .h5 file, its products (a product has one row per
// pose) and what a result shows of each: title, description, category, and the image of its first row.
import FashionData
import Foundation

public struct CatalogItem: Codable, Sendable, Equatable {
    public var id: Int64
    public var title: String
    public var description: String
    public var category: String
    /// Rows (poses) of the product in the catalog file.
    public var views: Int
    /// Where the item's image is served.
    public var image: String
}

public final class Catalog: @unchecked Sendable {
    public let path: String
    public let file: FashionGenFile
    /// Per file row.
    public let productIDs: [Int64]
    public let titles: [String]
    public let descriptions: [String]
    public let categories: [String]
    /// The rows of each product, in file order.
    public let rowsOfProduct: [Int64: [Int]]
    /// The most rows any product has (how far past k a row search looks to find k products).
    public let maxViews: Int

    public var rowCount: Int { file.count }

    public init(path: String) throws {
        self.path = path
        file = try FashionGenFile(path: path)
        productIDs = try file.productIDs
        titles = try file.names
        descriptions = try file.descriptions
        categories = try file.categories
        var byProduct: [Int64: [Int]] = [:]
        for (row, id) in productIDs.enumerated() { byProduct[id, default: []].append(row) }
        rowsOfProduct = byProduct
        maxViews = byProduct.values.map(\.count).max() ?? 1
    }

    public func item(_ id: Int64) -> CatalogItem? {
        guard let row = rowsOfProduct[id]?.first else { return nil }
        return CatalogItem(id: id, title: titles[row], description: descriptions[row], category: categories[row],
                           views: rowsOfProduct[id]?.count ?? 0, image: "/items/\(id)/image")
    }

    /// PNG of a row's catalog image.
    public func png(row: Int) throws -> Data {
        let side = file.imageSize
        return try RGBImage(width: side, height: side, pixels: try file.image(row)).pngData()
    }
}
