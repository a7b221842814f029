import ArgumentParser
import FashionData
import Foundation

extension ResizeFilter: ExpressibleByArgument {}

/// `fashionvl import`: a folder of images plus a CSV/JSONL table → one Fashion-Gen HDF5 file.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import your own catalog (images + CSV/JSONL table) into a Fashion-Gen HDF5 file.",
        discussion: """
            Table columns: image_path, product_id, title, description, category, subcategory; brand, \
            composition, department, gender, season, pose and msrpUSD are kept when present. Rows whose image \
            is missing, undecodable or outside --images, or whose text is not valid UTF-8, are reported (by their \
            line in the table) and skipped; rows sharing a product id must share its text. The output's folder \
            is created when missing.
            """)

    @Option(help: "Folder the table's image paths are relative to.")
    var images: String

    @Option(help: "The product table: FILE.csv or FILE.jsonl.")
    var table: String

    @Option(help: "Output HDF5 file (written atomically).")
    var out: String

    @Option(help: "Output image side in pixels (images are padded to square on white, then resized).")
    var imageSize: Int = 256

    @Option(help: "Resize filter: area or bilinear.")
    var filter: ResizeFilter = .area

    func validate() throws {
        guard (8...1024).contains(imageSize) else { throw ValidationError("--image-size must be 8...1024, got \(imageSize)") }
    }

    func run() throws {
        let job = CatalogImport(imagesDir: images, table: table, out: out, imageSize: imageSize, filter: filter)
        let result = try job.run(report: { issue in
            FileHandle.standardError.write(Data("skipped \(oneLine(issue))\n".utf8))
        }, warn: { notice in
            FileHandle.standardError.write(Data("warning: \(notice.split(whereSeparator: \.isNewline).joined(separator: " "))\n".utf8))
        })
        print("wrote \(out): \(result.imported) rows imported, \(result.skipped.count) skipped")
    }
}
