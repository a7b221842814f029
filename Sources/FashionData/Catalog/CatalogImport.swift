// `fashionvl import`: a folder of JPEG/PNG images plus a CSV/JSONL table → one Fashion-Gen HDF5 file.
// Images are padded to square on white and resized; rows whose image is missing or undecodable, whose
// text is not valid UTF-8 (or has no latin-1 form), or whose product id is not an integer are reported and
// skipped. The output's folder is created when missing (the writer itself refuses a missing folder). The output
// appears atomically (the writer renames a finished temp file) or not at all.

import Foundation

public struct CatalogImport: Sendable {
    /// A skipped row: its 1-based data-row number, the image file it names, and why.
    public struct Issue: Error, Sendable, Equatable, CustomStringConvertible {
        public let row: Int
        public let file: String
        public let reason: String
        public var description: String { "row \(row): \(file.isEmpty ? "-" : file): \(reason)" }
    }

    public struct Result: Sendable, Equatable {
        public var imported = 0
        public var skipped: [Issue] = []
    }

    public var imagesDir: String
    public var tablePath: String
    public var outPath: String
    public var imageSize: Int
    public var filter: ResizeFilter
    public var decoder: ImageDecoder

    public init(imagesDir: String, table: String, out: String, imageSize: Int, filter: ResizeFilter = .area,
                decoder: ImageDecoder = ImageDecoder()) {
        self.imagesDir = imagesDir
        tablePath = table
        outPath = out
        self.imageSize = imageSize
        self.filter = filter
        self.decoder = decoder
    }

    /// Runs the import; `report` is called for each skipped row as it happens.
    public func run(report: (Issue) -> Void = { _ in }) throws -> Result {
        guard (8...1024).contains(imageSize) else {
            throw ImageError.invalidArgument(operation: "import", reason: "expected image size 8...1024, got \(imageSize)")
        }
        let table = try CatalogTable(file: tablePath)
        let folder = (outPath as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw FashionGenError.io(file: outPath, key: "", operation: "create its folder \(folder)",
                                         detail: ImageDecoder.reason(of: error))
            }
        }
        let writer = try FashionGenWriter(path: outPath, imageSize: imageSize)
        var result = Result()
        do {
            for row in table.rows {
                switch makeRecord(row, table: table) {
                case .success(var record):
                    record.index = Int64(result.imported)
                    record.index2 = Int64(row.number)
                    try writer.append(record)
                    result.imported += 1
                case .failure(let issue):
                    result.skipped.append(issue)
                    report(issue)
                }
            }
            guard result.imported > 0 else { throw CatalogImportError.noRows(file: tablePath) }
            try writer.finish()
        } catch {
            writer.cancel()
            throw error
        }
        return result
    }

    func makeRecord(_ row: CatalogTable.Row, table: CatalogTable) -> Swift.Result<FashionGenRecord, Issue> {
        let path = table.value(.imagePath, in: row)
        func skip(_ reason: String) -> Swift.Result<FashionGenRecord, Issue> { .failure(Issue(row: row.number, file: path, reason: reason)) }
        if let problem = row.problem { return skip(problem) }
        guard !path.isEmpty else { return skip("empty image path") }
        let idText = table.value(.productID, in: row).trimmingCharacters(in: .whitespaces)
        guard let id = Int64(idText) else { return skip("product id '\(idText)' is not an integer") }
        var text: [String: String] = [:]
        for key in ["title", "description", "category", "subcategory", "brand", "composition", "department", "gender", "season", "pose"] {
            let raw = key == "title" ? table.value(.title, in: row) : (row.fields[key] ?? "")
            guard let latin = Latin1Text.fold(raw) else { return skip("\(key) has characters outside latin-1") }
            text[key] = latin
        }
        let resolved = path.hasPrefix("/") ? path : imagesDir + "/" + path
        let image: RGBImage
        do {
            image = try decoder.decode(file: resolved).squared(size: imageSize, filter: filter)
        } catch let e as ImageError {
            return skip(Self.short(e))
        } catch {
            return skip("\(error)")
        }
        let price = Double(row.fields["msrpusd"] ?? row.fields["msrp_usd"] ?? row.fields["price"] ?? "") ?? 0
        return .success(FashionGenRecord(
            image: image.pixels, name: text["title"] ?? "", description: text["description"] ?? "",
            category: text["category"] ?? "", subcategory: text["subcategory"] ?? "", brand: text["brand"] ?? "",
            composition: text["composition"] ?? "", department: text["department"] ?? "", gender: text["gender"] ?? "",
            season: text["season"] ?? "", pose: text["pose"] ?? "", productID: id, msrpUSD: price))
    }

    /// The reason part of an image error (the file is reported separately).
    static func short(_ e: ImageError) -> String {
        switch e {
        case let .unreadable(_, reason): return "image missing or unreadable (\(reason))"
        case let .corrupt(_, reason): return "image cannot be decoded (\(reason))"
        case .unsupportedCMYK: return "CMYK JPEG without Adobe marker"
        case let .tooLarge(_, w, h, limit): return "image \(w)x\(h) exceeds \(limit)"
        default: return e.description
        }
    }
}

/// Fashion-Gen stores latin-1 text: typographic punctuation is folded to ASCII, anything else outside
/// latin-1 makes the row unusable.
enum Latin1Text {
    static let folds: [Character: String] = [
        "\u{2018}": "'", "\u{2019}": "'", "\u{201C}": "\"", "\u{201D}": "\"", "\u{2013}": "-", "\u{2014}": "-",
        "\u{2026}": "...", "\u{2022}": "*", "\u{00A0}": " ", "\u{2122}": "(TM)", "\u{20AC}": "EUR",
    ]

    static func fold(_ s: String) -> String? {
        var out = ""
        for ch in s {
            if let f = folds[ch] { out += f; continue }
            guard ch.unicodeScalars.allSatisfy({ $0.value < 256 }) else { return nil }
            out.append(ch)
        }
        return out
    }
}
