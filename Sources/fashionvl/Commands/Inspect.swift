import ArgumentParser
import FashionData
import Foundation

/// `fashionvl inspect FILE.h5`: checks a Fashion-Gen HDF5 file against the schema and prints a JSON summary.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a Fashion-Gen HDF5 file and print a JSON summary (rows, products, categories, keys).")

    @Argument(help: "A Fashion-Gen HDF5 file (e.g. fashiongen_256_256_train.h5).")
    var file: String

    struct Summary: Encodable {
        struct Key: Encodable { var dtype: String; var shape: [Int] }
        var file: String
        var rows: Int
        var imageSize: Int
        var products: Int
        var categories: [String: Int]
        var subcategories: [String: Int]
        var keys: [String: Key]
    }

    func run() throws {
        let f = try FashionGenFile(path: file)
        let summary = Summary(
            file: file, rows: f.count, imageSize: f.imageSize, products: Set(try f.productIDs).count,
            categories: Dictionary(try f.categories.map { ($0, 1) }, uniquingKeysWith: +),
            subcategories: Dictionary(try f.subcategories.map { ($0, 1) }, uniquingKeysWith: +),
            keys: f.keys.mapValues { Summary.Key(dtype: $0.dtype, shape: $0.shape) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(summary), as: UTF8.self))
    }
}
