// `fashionvl import`: a folder of JPEG/PNG images plus a CSV/JSONL table → one Fashion-Gen HDF5 file.
// Images are padded to square on white and resized; rows whose image is missing or undecodable (or lies
// outside the images folder), whose text is not valid UTF-8 (or has no latin-1 form), or whose product id is not
// an integer are reported and skipped. Rows sharing a product id with different product text refuse the table.
// The output's folder is created when missing (the writer itself refuses a missing folder). The output appears
// atomically (the writer renames a finished temp file) or not at all.

import Foundation

public struct CatalogImport: Sendable {
    /// A skipped row: the line of the table it starts on, its product id when it has a readable one, the image
    /// file it names, and why.
    public struct Issue: Error, Sendable, Equatable, CustomStringConvertible {
        public let line: Int
        public let productID: String?
        public let file: String
        public let reason: String
        public var description: String {
            "line \(line)" + (productID.map { " (product id \($0))" } ?? "") + ": \(file.isEmpty ? "-" : file): "
                + (reason.isEmpty ? "unusable row (no reason given)" : reason)
        }
    }

    public struct Result: Sendable, Equatable {
        public var imported = 0
        public var skipped: [Issue] = []
    }

    /// A field longer than this many characters is reported (once per import) and still imported.
    public static let longFieldWarning = 10_000
    /// The fields that describe the product, not the view: rows sharing a product id must agree on them.
    static let productFields = ["title", "description", "category", "subcategory", "brand", "composition",
                                "department", "gender", "season"]

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

    /// A row's text, checked, before its image is read.
    struct Prepared {
        var id: Int64
        var path: String
        var text: [String: String]
        var price: Double
    }

    /// Runs the import; `report` is called for each skipped row as it happens, `warn` for each notice about the
    /// table (unknown columns, an overlong field, no data rows), once each.
    public func run(report: (Issue) -> Void = { _ in }, warn: (String) -> Void = { _ in }) throws -> Result {
        guard (8...1024).contains(imageSize) else {
            throw ImageError.invalidArgument(operation: "import", reason: "expected image size 8...1024, got \(imageSize)")
        }
        var outIsDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: outPath, isDirectory: &outIsDir), outIsDir.boolValue {
            throw FashionGenError.io(file: outPath, key: "", operation: "write the catalog",
                                     detail: "--out is a folder; expected a file path such as \(outPath)/catalog.h5")
        }
        let table = try CatalogTable(file: tablePath)
        let root = try Self.imagesRoot(imagesDir)
        if !table.unknownColumns.isEmpty {
            warn("\(tablePath): columns the schema does not know are not imported: \(table.unknownColumns.joined(separator: ", "))")
        }
        if table.rows.isEmpty { warn("\(tablePath): the table has no data rows; writing a catalog of 0 products") }

        // Every row's text first, so a conflict between rows is refused before anything is written.
        var prepared: [(row: CatalogTable.Row, value: Swift.Result<Prepared, Issue>)] = []
        var firstOf: [Int64: (line: Int, text: [String: String])] = [:]
        var warnedLong = false
        for row in table.rows {
            let p = prepare(row, table: table)
            if case let .success(rec) = p {
                if !warnedLong, let (key, count) = Self.longField(rec.text) {
                    warn("\(tablePath): line \(row.line) (product id \(rec.id)): column '\(key)' has \(count) characters "
                         + "(more than \(Self.longFieldWarning)); imported whole, though the models read only its first tokens "
                         + "(further long fields are not reported)")
                    warnedLong = true
                }
                if let first = firstOf[rec.id] {
                    for key in Self.productFields where first.text[key] != rec.text[key] {
                        throw CatalogImportError.conflictingProduct(file: tablePath, productID: rec.id, field: key, firstLine: first.line,
                                                                    line: row.line, first: first.text[key] ?? "", other: rec.text[key] ?? "")
                    }
                } else {
                    firstOf[rec.id] = (row.line, rec.text)
                }
            }
            prepared.append((row, p))
        }

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
            for (row, value) in prepared {
                switch value.flatMap({ makeRecord($0, row: row, root: root) }) {
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
            guard result.imported > 0 || table.rows.isEmpty else { throw CatalogImportError.noRows(file: tablePath) }
            try writer.finish()
        } catch {
            writer.cancel()
            throw error
        }
        return result
    }

    /// The first column (by name) whose text is longer than `longFieldWarning` characters, and its length.
    static func longField(_ text: [String: String]) -> (String, Int)? {
        text.map { ($0.key, $0.value.count) }.filter { $0.1 > longFieldWarning }.min { $0.0 < $1.0 }
    }

    /// The images folder, symbolic links resolved; refused when it is missing or not a folder.
    static func imagesRoot(_ dir: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else {
            throw CatalogImportError.imagesFolder(folder: dir, reason: "does not exist")
        }
        guard isDir.boolValue else { throw CatalogImportError.imagesFolder(folder: dir, reason: "is not a folder") }
        guard let real = realPath(dir) else { throw CatalogImportError.imagesFolder(folder: dir, reason: "cannot be resolved") }
        return real
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// The file a row's image path names inside `root`, or why it may not be read: absolute paths, `..` and
    /// symbolic links that lead outside the images folder are refused.
    static func imageFile(_ path: String, root: String) -> Swift.Result<String, Refusal> {
        if path.hasPrefix("/") { return .failure(Refusal(reason: "image path is absolute; expected a path relative to --images")) }
        if path.split(separator: "/").contains("..") {
            return .failure(Refusal(reason: "image path contains '..'; expected a path inside --images"))
        }
        let joined = root + "/" + path
        guard let real = realPath(joined) else { return .success(joined) }   // missing: the decoder says so
        guard real.hasPrefix(root.hasSuffix("/") ? root : root + "/") else {
            return .failure(Refusal(reason: "image path leads outside --images (through a symbolic link, to \(real))"))
        }
        return .success(real)
    }

    struct Refusal: Error { let reason: String }

    func prepare(_ row: CatalogTable.Row, table: CatalogTable) -> Swift.Result<Prepared, Issue> {
        let path = table.value(.imagePath, in: row)
        let idText = table.value(.productID, in: row).trimmingCharacters(in: .whitespaces)
        func skip(_ reason: String) -> Swift.Result<Prepared, Issue> {
            .failure(Issue(line: row.line, productID: idText.isEmpty ? nil : idText, file: path, reason: reason))
        }
        if let problem = row.problem { return skip(problem) }
        guard !path.isEmpty else { return skip("empty image path") }
        guard let id = Int64(idText) else { return skip("product id '\(idText)' is not an integer") }
        var text: [String: String] = [:]
        for key in ["title", "description", "category", "subcategory", "brand", "composition", "department", "gender", "season", "pose"] {
            let raw = key == "title" ? table.value(.title, in: row) : (row.fields[key] ?? "")
            guard let latin = Latin1Text.fold(raw) else { return skip("\(key) has characters outside latin-1") }
            text[key] = latin
        }
        let price = Double(row.fields["msrpusd"] ?? row.fields["msrp_usd"] ?? row.fields["price"] ?? "") ?? 0
        return .success(Prepared(id: id, path: path, text: text, price: price))
    }

    func makeRecord(_ p: Prepared, row: CatalogTable.Row, root: String) -> Swift.Result<FashionGenRecord, Issue> {
        func skip(_ reason: String) -> Swift.Result<FashionGenRecord, Issue> {
            .failure(Issue(line: row.line, productID: "\(p.id)", file: p.path, reason: reason))
        }
        let resolved: String
        switch Self.imageFile(p.path, root: root) {
        case let .success(file): resolved = file
        case let .failure(refusal): return skip(refusal.reason)
        }
        let image: RGBImage
        do {
            image = try decoder.decode(file: resolved).squared(size: imageSize, filter: filter)
        } catch let e as ImageError {
            return skip(Self.short(e))
        } catch {
            return skip("\(error)")
        }
        let text = p.text
        return .success(FashionGenRecord(
            image: image.pixels, name: text["title"] ?? "", description: text["description"] ?? "",
            category: text["category"] ?? "", subcategory: text["subcategory"] ?? "", brand: text["brand"] ?? "",
            composition: text["composition"] ?? "", department: text["department"] ?? "", gender: text["gender"] ?? "",
            season: text["season"] ?? "", pose: text["pose"] ?? "", productID: p.id, msrpUSD: p.price))
    }

    /// The reason part of an image error (the file is reported separately); never an empty "()".
    static func short(_ e: ImageError) -> String {
        func detail(_ reason: String) -> String { reason.isEmpty ? "" : " (\(reason))" }
        switch e {
        case let .unreadable(_, reason): return "image missing or unreadable" + detail(reason)
        case let .corrupt(_, reason): return "image cannot be decoded" + detail(reason)
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
