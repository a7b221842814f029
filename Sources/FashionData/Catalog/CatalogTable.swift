// The product table of `fashionvl import`: CSV (RFC 4180 quoting, UTF-8 with or without BOM, LF or CRLF)
// or JSONL (one JSON object per line). Parsing works on bytes so that a row with invalid UTF-8 is
// reported and skipped on its own instead of failing the table.

import Foundation

public enum CatalogImportError: Error, Equatable, CustomStringConvertible {
    case unreadableTable(file: String, reason: String)
    case unsupportedTable(file: String)
    case malformedTable(file: String, row: Int, reason: String)
    case missingColumn(file: String, column: String)
    case noRows(file: String)

    public var description: String {
        switch self {
        case let .unreadableTable(file, reason): return "\(file): cannot read table (\(reason))"
        case let .unsupportedTable(file): return "\(file): expected a .csv or .jsonl table"
        case let .malformedTable(file, row, reason): return "\(file): row \(row): \(reason)"
        case let .missingColumn(file, column):
            return "\(file): missing required column '\(column)' (expected columns: \(CatalogTable.Column.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .noRows(file): return "\(file): no row could be imported; no output written"
        }
    }
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

    /// One data row: 1-based number among data rows, and its fields (lower-cased header → value), or why
    /// it cannot be used.
    public struct Row: Sendable {
        public let number: Int
        public let fields: [String: String]
        public let problem: String?
    }

    public let file: String
    public let rows: [Row]
    /// Header name actually used for each required column.
    public let columnNames: [Column: String]

    public init(file: String) throws {
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
        for column in Column.allCases {
            guard let name = column.aliases.first(where: { header.contains($0) }) else {
                throw CatalogImportError.missingColumn(file: file, column: column.rawValue)
            }
            names[column] = name
        }
        self.file = file
        self.rows = rows
        self.columnNames = names
    }

    /// The value of a required column in `row` ("" when absent).
    public func value(_ column: Column, in row: Row) -> String {
        guard let name = columnNames[column] else { return "" }
        return row.fields[name] ?? ""
    }

    // MARK: CSV

    static func parseCSV(_ b: [UInt8], file: String) throws -> ([String], [Row]) {
        var records: [[[UInt8]]] = []
        var record: [[UInt8]] = [], field: [UInt8] = []
        var i = 0, inQuotes = false, quotedStartRow = 0
        func endField() { record.append(field); field = [] }
        func endRecord() {
            endField()
            if !(record.count == 1 && record[0].isEmpty) { records.append(record) }
            record = []
        }
        while i < b.count {
            let c = b[i]
            if inQuotes {
                if c == 0x22 {
                    if i + 1 < b.count && b[i + 1] == 0x22 { field.append(0x22); i += 2; continue }
                    inQuotes = false
                } else {
                    field.append(c)
                }
                i += 1
                continue
            }
            switch c {
            case 0x22 where field.isEmpty: inQuotes = true; quotedStartRow = records.count
            case 0x2C: endField()
            case 0x0D where i + 1 < b.count && b[i + 1] == 0x0A: endRecord(); i += 1
            case 0x0A, 0x0D: endRecord()
            default: field.append(c)
            }
            i += 1
        }
        if inQuotes {
            throw CatalogImportError.malformedTable(file: file, row: max(0, quotedStartRow), reason: "unterminated quoted field")
        }
        if !field.isEmpty || !record.isEmpty { endRecord() }
        guard let head = records.first else { throw CatalogImportError.malformedTable(file: file, row: 0, reason: "empty table, expected a header row") }
        let header = head.compactMap { String(validating: $0, as: UTF8.self) }
        guard header.count == head.count else {
            throw CatalogImportError.malformedTable(file: file, row: 0, reason: "header is not valid UTF-8")
        }
        let keys = header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        var rows: [Row] = []
        for (n, rec) in records.dropFirst().enumerated() {
            var fields: [String: String] = [:]
            var problem: String? = rec.count == keys.count ? nil : "expected \(keys.count) fields, found \(rec.count)"
            for (k, raw) in zip(keys, rec) {
                guard let s = String(validating: raw, as: UTF8.self) else { problem = "field '\(k)' is not valid UTF-8"; break }
                fields[k] = s
            }
            rows.append(Row(number: n + 1, fields: fields, problem: problem))
        }
        return (keys, rows)
    }

    // MARK: JSONL

    static func parseJSONL(_ b: [UInt8]) -> ([String], [Row]) {
        var rows: [Row] = []
        var header: [String] = []
        var n = 0
        for line in b.split(separator: 0x0A, omittingEmptySubsequences: false) {
            var bytes = Array(line)
            if bytes.last == 0x0D { bytes.removeLast() }
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            n += 1
            guard String(validating: bytes, as: UTF8.self) != nil else {
                rows.append(Row(number: n, fields: [:], problem: "line is not valid UTF-8")); continue
            }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
                rows.append(Row(number: n, fields: [:], problem: "not a JSON object")); continue
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
            rows.append(Row(number: n, fields: fields, problem: nil))
        }
        return (header, rows)
    }
}
