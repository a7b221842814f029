// The product table of `fashionvl import`: CSV (RFC 4180 quoting, UTF-8 with or without BOM, LF or CRLF)
// or JSONL (one JSON object per line). Parsing works on bytes so that a row with invalid UTF-8 is
// reported and skipped on its own instead of failing the table. Rows are named by their line in the file (a
// CSV record spanning lines by the line it starts on), the same way for both formats.

import Foundation

public enum CatalogImportError: Error, Equatable, CustomStringConvertible {
    case unreadableTable(file: String, reason: String)
    case unsupportedTable(file: String)
    /// `line` is the 1-based line of the file.
    case malformedTable(file: String, line: Int, reason: String)
    case missingColumn(file: String, column: String)
    case noRows(file: String)
    case imagesFolder(folder: String, reason: String)
    case conflictingProduct(file: String, productID: Int64, field: String, firstLine: Int, line: Int, first: String, other: String)

    public var description: String {
        switch self {
        case let .unreadableTable(file, reason): return "\(file): cannot read table (\(reason))"
        case let .unsupportedTable(file): return "\(file): expected a .csv or .jsonl table"
        case let .malformedTable(file, line, reason): return "\(file): line \(line): \(reason)"
        case let .missingColumn(file, column):
            return "\(file): missing required column '\(column)' (expected columns: \(CatalogTable.Column.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .noRows(file): return "\(file): no row could be imported; no output written"
        case let .imagesFolder(folder, reason): return "\(folder): images folder (--images) \(reason)"
        case let .conflictingProduct(file, id, field, firstLine, line, first, other):
            return "\(file): lines \(firstLine) and \(line) both have product id \(id) but different \(field) "
                + "('\(Self.excerpt(first))' vs '\(Self.excerpt(other))'); expected one text per product (poses of one product "
                + "share it); no output written"
        }
    }
}

extension CatalogImportError {
    /// At most 40 characters of a value, for messages.
    static func excerpt(_ s: String) -> String { s.count <= 40 ? s : String(s.prefix(40)) + "…" }
}

public struct CatalogTable: Sendable {
    /// Required columns, with the header names accepted for each (case-insensitive).
    public enum Column: String, CaseIterable, Sendable {
        case imagePath = "image_path", productID = "product_id", title, description, category, subcategory
        var aliases: [String] {
            switch self {
            case .imagePath: return ["image_path", "image", "path", "file"]
            case .productID: return ["product_id", "productid", "product id", "id"]
            case .title: return ["title", "name"]
            default: return [rawValue]
            }
        }
    }

    /// Optional columns the import keeps (lower-cased header names); any other column is reported as unknown.
    public static let optionalColumns = ["brand", "composition", "department", "gender", "season", "pose",
                                         "msrpusd", "msrp_usd", "price"]

    /// One data row: 1-based number among data rows, the 1-based line of the file it starts on, and its fields
    /// (lower-cased header → value), or why it cannot be used.
    public struct Row: Sendable {
        public let number: Int
        public let line: Int
        public let fields: [String: String]
        public let problem: String?
    }

    public let file: String
    public let rows: [Row]
    /// Header name actually used for each required column.
    public let columnNames: [Column: String]
    /// Header names the schema does not know (sorted); their values are not imported.
    public let unknownColumns: [String]

    public init(file: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isDir), isDir.boolValue {
            throw CatalogImportError.unreadableTable(file: file, reason: "is a folder, expected a .csv or .jsonl file")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
            throw CatalogImportError.unreadableTable(file: file, reason: ImageDecoder.reason(of: error))
        }
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        let ext = (file as NSString).pathExtension.lowercased()
        let header: [String]
        let rows: [Row]
        switch ext {
        case "csv": (header, rows) = try Self.parseCSV(bytes, file: file)
        case "jsonl", "ndjson": (header, rows) = Self.parseJSONL(bytes)
        default: throw CatalogImportError.unsupportedTable(file: file)
        }
        var names: [Column: String] = [:]
        // A table without any data row (an empty JSONL, a header-only CSV) imports nothing; a JSONL table's header is
        // the keys of its objects, so without a parsable object there is no column to miss.
        let checkColumns = ext == "csv" ? !header.isEmpty : rows.contains { $0.problem == nil }
        for column in Column.allCases {
            guard let name = column.aliases.first(where: { header.contains($0) }) else {
                if checkColumns { throw CatalogImportError.missingColumn(file: file, column: column.rawValue) }
                continue
            }
            names[column] = name
        }
        let known = Set(Column.allCases.flatMap(\.aliases) + Self.optionalColumns)
        self.file = file
        self.rows = rows
        self.columnNames = names
        self.unknownColumns = Set(header.filter { !known.contains($0) }).sorted()
    }

    /// The value of a required column in `row` ("" when absent).
    public func value(_ column: Column, in row: Row) -> String {
        guard let name = columnNames[column] else { return "" }
        return row.fields[name] ?? ""
    }

    // MARK: CSV

    static func parseCSV(_ b: [UInt8], file: String) throws -> ([String], [Row]) {
        var records: [(line: Int, fields: [[UInt8]])] = []
        var record: [[UInt8]] = [], field: [UInt8] = []
        var i = 0, inQuotes = false, line = 1, recordLine = 1, quotedStartLine = 1
        func endField() { record.append(field); field = [] }
        func endRecord() {
            endField()
            if !(record.count == 1 && record[0].isEmpty) { records.append((recordLine, record)) }
            record = []
        }
        func newLine() { line += 1; recordLine = line }
        while i < b.count {
            let c = b[i]
            if inQuotes {
                if c == 0x22 {
                    if i + 1 < b.count && b[i + 1] == 0x22 { field.append(0x22); i += 2; continue }
                    inQuotes = false
                } else {
                    if c == 0x0A || (c == 0x0D && !(i + 1 < b.count && b[i + 1] == 0x0A)) { line += 1 }
                    field.append(c)
                }
                i += 1
                continue
            }
            switch c {
            case 0x22 where field.isEmpty: inQuotes = true; quotedStartLine = line
            case 0x2C: endField()
            case 0x0D where i + 1 < b.count && b[i + 1] == 0x0A: endRecord(); i += 1; newLine()
            case 0x0A, 0x0D: endRecord(); newLine()
            default: field.append(c)
            }
            i += 1
        }
        if inQuotes {
            throw CatalogImportError.malformedTable(file: file, line: quotedStartLine, reason: "unterminated quoted field")
        }
        if !field.isEmpty || !record.isEmpty { endRecord() }
        guard let head = records.first else { return ([], []) }   // an empty file: no header, no rows
        let header = head.fields.compactMap { String(validating: $0, as: UTF8.self) }
        guard header.count == head.fields.count else {
            throw CatalogImportError.malformedTable(file: file, line: head.line, reason: "header is not valid UTF-8")
        }
        let keys = header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        var rows: [Row] = []
        for (n, rec) in records.dropFirst().enumerated() {
            var fields: [String: String] = [:]
            var problem: String? = rec.fields.count == keys.count ? nil : "expected \(keys.count) fields, found \(rec.fields.count)"
            for (k, raw) in zip(keys, rec.fields) {
                guard let s = String(validating: raw, as: UTF8.self) else { problem = "field '\(k)' is not valid UTF-8"; break }
                fields[k] = s
            }
            rows.append(Row(number: n + 1, line: rec.line, fields: fields, problem: problem))
        }
        return (keys, rows)
    }

    // MARK: JSONL

    static func parseJSONL(_ b: [UInt8]) -> ([String], [Row]) {
        var rows: [Row] = []
        var header: [String] = []
        var n = 0
        for (index, line) in b.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            var bytes = Array(line)
            if bytes.last == 0x0D { bytes.removeLast() }
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            n += 1
            guard String(validating: bytes, as: UTF8.self) != nil else {
                rows.append(Row(number: n, line: index + 1, fields: [:], problem: "line is not valid UTF-8")); continue
            }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
                rows.append(Row(number: n, line: index + 1, fields: [:], problem: "not a JSON object")); continue
            }
            var fields: [String: String] = [:]
            for key in object.keys.sorted() {
                let k = key.trimmingCharacters(in: .whitespaces).lowercased()
                switch object[key] {
                case let s as String: fields[k] = s
                case let num as NSNumber: fields[k] = num.stringValue
                default: continue
                }
                if !header.contains(k) { header.append(k) }
            }
            rows.append(Row(number: n, line: index + 1, fields: fields, problem: nil))
        }
        return (header, rows)
    }
}
