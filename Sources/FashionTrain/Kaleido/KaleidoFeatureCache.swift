// The Kaleido feature cache (spec/kaleido-bert.md §2.3): per catalog .h5 file, one safetensors file with the 74
// frozen backbone features of every row (55 colour patches, K1 rotated by 90°/180°/270°, 16 grey K4 cells; fp16),
// the 55 positions, the foreground box and the product ids, keyed by row. Its metadata records the catalog's
// identity (bytes, mtime, rows, SHA-256 of the product ids) and the backbone's (name, weights SHA-256, crop side,
// width); `check` names every field that differs, so a stale or foreign cache is never used silently.
import FashionData
import Foundation
import Torch

/// What identifies a catalog file's content cheaply.
public struct KaleidoCatalogIdentity: Codable, Equatable, Sendable {
    public var bytes: Int
    public var mtime: Double
    public var rows: Int
    public var productIDsSHA256: String

    public static func of(_ file: FashionGenFile) throws -> KaleidoCatalogIdentity {
        let attrs = try FileManager.default.attributesOfItem(atPath: file.path)
        let ids = try file.productIDs
        var hasher = SHA256()
        ids.map(\.littleEndian).withUnsafeBytes { hasher.update($0) }
        return KaleidoCatalogIdentity(bytes: (attrs[.size] as? NSNumber)?.intValue ?? -1,
                                      mtime: (attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0,
                                      rows: file.count, productIDsSHA256: hasher.finish())
    }
}

/// Problems with a cache file; each names the file.
public enum KaleidoCacheError: Error, CustomStringConvertible, Equatable {
    case missing(path: String, hint: String)
    /// Built for another catalog (other rows or product ids), for an older version of this one (bytes / mtime),
    /// or with another backbone: `differences` = "field: cache X, expected Y".
    case stale(path: String, differences: [String], hint: String)
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case let .missing(path, hint): return "\(path): no Kaleido cache file; \(hint)"
        case let .stale(path, diffs, hint):
            return "\(path): the cache does not match (\(diffs.joined(separator: "; "))); \(hint)"
        case let .invalid(path, reason): return "\(path): not a usable Kaleido cache: \(reason)"
        }
    }
}

/// The feature cache file of one catalog file.
public final class KaleidoFeatureFile: @unchecked Sendable {
    public static let format = "fashionvl-kaleido-features/1"
    /// The patch generator's rules, recorded so that a change of them makes old caches stale.
    public static let generator = "box=border4-median,t0.08,open3+close3,largest8,pad0.04,min0.05;grid=1..5 row-major;"
        + "crops=area-down/bilinear-up;rot=90/180/270ccw;grey=bt601"
    public static let hint = "run `fashionvl kaleido-prepare --data DIR` to (re)build it"

    public let path: String
    public let rows: Int
    public let dim: Int
    public let catalog: KaleidoCatalogIdentity
    public let backbone: KaleidoBackboneIdentity
    public let metadata: [String: String]
    private let data: Data
    private let layout: [String: SafeTensors.Entry]
    private let dataStart: Int

    /// `<cacheDir or the catalog's folder>/<catalog file name>.kaleido-features.safetensors`.
    public static func path(for catalog: String, cacheDir: String? = nil) -> String {
        let url = URL(fileURLWithPath: catalog)
        let dir = cacheDir ?? url.deletingLastPathComponent().path
        return dir + "/" + url.lastPathComponent + ".kaleido-features.safetensors"
    }

    /// Opens and validates a cache file; with `catalog` / `backbone`, also checks that it was built for them.
    public init(path: String, catalog expected: KaleidoCatalogIdentity? = nil,
                backbone expectedBackbone: KaleidoBackboneIdentity? = nil) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw KaleidoCacheError.missing(path: path, hint: Self.hint) }
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw KaleidoCacheError.invalid(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        let (entries, meta, start) = try bytes.withUnsafeBytes { try SafeTensors.parseHeader($0, path: path) }
        let layout = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
        guard meta["format"] == Self.format else {
            throw KaleidoCacheError.invalid(path: path, reason: "format is \(meta["format"] ?? "absent"), expected \(Self.format)")
        }
        guard let info = meta["identity"], let ident = try? JSONDecoder().decode(Identity.self, from: Data(info.utf8)) else {
            throw KaleidoCacheError.invalid(path: path, reason: "no readable identity in its metadata")
        }
        let (rows, dim) = (ident.catalog.rows, ident.backbone.featureDim)
        let want: [String: (DType, [Int])] = [
            "features": (.float16, [rows, KaleidoCrops.count, dim]), "positions": (.float32, [rows, 55, 5]),
            "boxes": (.float32, [rows, 4]), "product_ids": (.int64, [rows]),
        ]
        for (name, (dtype, shape)) in want.sorted(by: { $0.key < $1.key }) {
            guard let e = layout[name], e.dtype == dtype, e.shape == shape else {
                throw KaleidoCacheError.invalid(path: path, reason: "tensor '\(name)' should be \(dtype) \(shape), found "
                    + (layout[name].map { "\($0.dtype) \($0.shape)" } ?? "none"))
            }
        }
        var diffs = expected.map { Self.differences(cache: ident.catalog, expected: $0) } ?? []
        if let b = expectedBackbone { diffs += Self.differences(cache: ident.backbone, expected: b) }
        if ident.generator != Self.generator { diffs.append("patch generator: cache '\(ident.generator)', expected '\(Self.generator)'") }
        if !diffs.isEmpty { throw KaleidoCacheError.stale(path: path, differences: diffs, hint: Self.hint) }
        self.path = path
        data = bytes
        metadata = meta
        dataStart = start
        self.layout = layout
        catalog = ident.catalog
        backbone = ident.backbone
        self.rows = rows
        self.dim = dim
    }

    struct Identity: Codable {
        var catalog: KaleidoCatalogIdentity
        var backbone: KaleidoBackboneIdentity
        var generator: String
    }

    static func differences(cache c: KaleidoCatalogIdentity, expected e: KaleidoCatalogIdentity) -> [String] {
        var out: [String] = []
        if c.rows != e.rows { out.append("catalog rows: cache \(c.rows), file \(e.rows)") }
        if c.productIDsSHA256 != e.productIDsSHA256 { out.append("catalog product ids differ (another catalog)") }
        if c.bytes != e.bytes { out.append("catalog size: cache \(c.bytes) bytes, file \(e.bytes)") }
        if c.mtime != e.mtime { out.append("catalog modified: cache \(c.mtime), file \(e.mtime)") }
        return out
    }

    static func differences(cache c: KaleidoBackboneIdentity, expected e: KaleidoBackboneIdentity) -> [String] {
        var out: [String] = []
        if c.name != e.name { out.append("backbone: cache \(c.name), expected \(e.name)") }
        if c.weightsSHA256 != e.weightsSHA256 {
            out.append("backbone weights sha256: cache \(c.weightsSHA256.prefix(12))…, expected \(e.weightsSHA256.prefix(12))…")
        }
        if c.cropSize != e.cropSize { out.append("crop size: cache \(c.cropSize), expected \(e.cropSize)") }
        if c.featureDim != e.featureDim { out.append("feature width: cache \(c.featureDim), expected \(e.featureDim)") }
        return out
    }

    private func floats<T: BitwiseCopyable>(_ name: String, _ type: T.Type, from: Int, count: Int, _ convert: (T) -> Float) -> [Float] {
        let e = layout[name]!
        let size = MemoryLayout<T>.size
        return data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart + e.begin + from * size
            var out = [Float](repeating: 0, count: count)
            for i in 0..<count { out[i] = convert(base.loadUnaligned(fromByteOffset: i * size, as: T.self)) }
            return out
        }
    }

    private func checkRow(_ row: Int) throws {
        guard (0..<rows).contains(row) else {
            throw KaleidoCacheError.invalid(path: path, reason: "row \(row) is outside 0..<\(rows)")
        }
    }

    /// The patch set of `row` (features widened to Float).
    public func patches(row: Int) throws -> KaleidoPatchSet {
        try checkRow(row)
        let per = KaleidoCrops.count * dim
        let f = floats("features", Float16.self, from: row * per, count: per) { Float($0) }
        return KaleidoPatchSet(dim: dim, colour: Array(f[0..<(55 * dim)]), rotated: Array(f[(55 * dim)..<(58 * dim)]),
                               grey: Array(f[(58 * dim)...]),
                               positions: floats("positions", Float.self, from: row * 275, count: 275) { $0 })
    }

    /// The foreground box of `row`: [x1, x2, y1, y2] normalised by the image size.
    public func box(row: Int) throws -> [Float] {
        try checkRow(row)
        return floats("boxes", Float.self, from: row * 4, count: 4) { $0 }
    }

    /// Features of `rows`, slots `slots` of the 74, as one (rows.count, slots.count, D) float32 tensor (fp16 bytes
    /// handed to libtorch, widened there): the fast path for batches.
    public func featureTensor(rows: [Int], slots: Range<Int> = 0..<KaleidoCrops.count) throws -> Tensor {
        for r in rows { try checkRow(r) }
        guard slots.lowerBound >= 0, slots.upperBound <= KaleidoCrops.count, !slots.isEmpty else {
            throw KaleidoCacheError.invalid(path: path, reason: "slots \(slots) outside 0..<\(KaleidoCrops.count)")
        }
        let e = layout["features"]!
        let rowBytes = KaleidoCrops.count * dim * 2, sliceBytes = slots.count * dim * 2
        var bytes = [UInt8](repeating: 0, count: rows.count * sliceBytes)
        data.withUnsafeBytes { raw in
            bytes.withUnsafeMutableBytes { out in
                for (i, r) in rows.enumerated() {
                    let src = raw.baseAddress! + dataStart + e.begin + r * rowBytes + slots.lowerBound * dim * 2
                    (out.baseAddress! + i * sliceBytes).copyMemory(from: src, byteCount: sliceBytes)
                }
            }
        }
        return try bytes.withUnsafeBytes {
            try Tensor.fromBytes($0, shape: [rows.count, slots.count, dim], dtype: .float16).to(dtype: .float32)
        }
    }

    /// Builds the cache of `file` with `backbone`: crops of `rowsPerBatch` rows per forward, progress on stderr,
    /// written piece by piece to a temporary file renamed into place at the end (an error leaves no file).
    /// Returns the number of crops per second of the whole build.
    @discardableResult
    public static func build(file: FashionGenFile, backbone: KaleidoBackbone, to path: String, rowsPerBatch: Int = 8,
                             label: String? = nil) throws -> Double {
        let id = backbone.identity
        let generator = try KaleidoPatchGenerator(cropSize: id.cropSize)
        let identity = Identity(catalog: try KaleidoCatalogIdentity.of(file), backbone: id, generator: Self.generator)
        let n = file.count, d = id.featureDim
        let meta = ["format": format, "identity": String(decoding: try JSONEncoder.sorted.encode(identity), as: UTF8.self),
                    "catalog_file": file.path]
        let writer = try SafeTensorsWriter(path: path, tensors: [
            ("features", .float16, [n, KaleidoCrops.count, d]), ("positions", .float32, [n, 55, 5]),
            ("boxes", .float32, [n, 4]), ("product_ids", .int64, [n]),
        ], metadata: meta)
        let ids = try file.productIDs
        try ids.withUnsafeBytes { try writer.write("product_ids", offset: 0, $0) }
        let progress = ProgressLine(total: n, label: label ?? "kaleido features \(URL(fileURLWithPath: file.path).lastPathComponent)")
        let start = Date()
        let c = id.cropSize
        var image = [UInt8](repeating: 0, count: file.imageBytes)
        var row = 0
        while row < n {
            let batch = min(rowsPerBatch, n - row)
            var pixels: [UInt8] = []
            pixels.reserveCapacity(batch * KaleidoCrops.count * 3 * c * c)
            var positions: [Float] = [], boxes: [Float] = []
            for r in row..<(row + batch) {
                try image.withUnsafeMutableBytes { try file.readImages(r ..< r + 1, into: $0) }
                let img = try RGBImage(width: file.imageSize, height: file.imageSize, pixels: image)
                let crops: KaleidoCrops
                do { crops = try generator.crops(of: img) } catch {
                    throw KaleidoCacheError.invalid(path: file.path, reason: "row \(r): \(error)")
                }
                pixels += crops.pixels
                positions += crops.positions
                let b = crops.box.rect
                boxes += [Float(b.x0) / Float(img.width), Float(b.x1) / Float(img.width),
                          Float(b.y0) / Float(img.height), Float(b.y1) / Float(img.height)]
            }
            let input = try Tensor(pixels, shape: [batch * KaleidoCrops.count, 3, c, c])
            let features = try Torch.noGrad { try backbone.pooled(input).to(dtype: .float16).contiguous() }
            guard features.shape == [batch * KaleidoCrops.count, d] else {
                throw TrainError.badArgument("backbone \(id.name) gave features of shape \(features.shape), expected [\(batch * KaleidoCrops.count), \(d)]")
            }
            try features.toBytes().withUnsafeBytes {
                try writer.write("features", offset: row * KaleidoCrops.count * d * 2, $0)
            }
            try positions.withUnsafeBytes { try writer.write("positions", offset: row * 275 * 4, $0) }
            try boxes.withUnsafeBytes { try writer.write("boxes", offset: row * 16, $0) }
            row += batch
            progress.update(row, items: row)
        }
        try writer.finish()
        return Double(n * KaleidoCrops.count) / max(Date().timeIntervalSince(start), 1e-9)
    }
}
