// Batches of a Fashion-Gen file for training and evaluation: a deterministic order per (seed, epoch), samples
// read row by row from HDF5, resized to the model's size, tokenized, run through the method's transforms and
// assembled into a `HostBatch`. A batch depends only on (seed, epoch, batch index), never on thread timing;
// `epoch(_:)` prefetches batches on background threads.
import Foundation

public struct LoaderConfig: Sendable {
    public enum Caption: String, Sendable, CaseIterable { case description, name, concatDescription }

    public var batchSize = 32
    /// Side of the model's images; rows of another size are resized (bilinear).
    public var imageSize = 256
    /// Text length L (MVLT: 128).
    public var textLength = 128
    /// Pad each batch only to its longest text (at most `textLength`) instead of to `textLength`: for models
    /// whose text length is free (SyncMask's BERT), the same result at a fraction of the cost on short titles.
    public var padToLongest = false
    public var seed: UInt64 = 0
    public var shuffle = true
    /// Drop the last, smaller batch of an epoch.
    public var dropLast = false
    /// Background threads assembling batches.
    public var threads = 2
    /// Batches assembled ahead of the consumer (at least `threads`).
    public var prefetch = 4
    /// Which text is the caption (MVLT: the description).
    public var caption: Caption = .description
    /// Crop each image to its product before resizing, as MVLT's loader does (`ProductCrop`).
    public var cropToProduct = false
    /// Rows to load (a split, see `ProductSplit`); nil = every row.
    public var rows: [Int]?
    /// Data-parallel sharding: `batchSize` is the global batch, and this process gets slice `shardRank` of
    /// `shardCount` equal slices of each one. Order, sample transforms and their random streams are those of the
    /// global batch, so the shards of all ranks together are exactly the batch one process would see.
    public var shardRank = 0
    public var shardCount = 1

    public init() {}
}

public enum LoaderError: Error, Equatable, CustomStringConvertible {
    case badConfig(field: String, expected: String, actual: String)

    public var description: String {
        switch self {
        case let .badConfig(field, expected, actual): return "loader config '\(field)' is \(actual), expected \(expected)"
        }
    }
}

/// Notices about the data that hold for a whole run: printed to stderr once per process, however many loaders
/// (training, validation, evaluation) meet the same situation.
public final class LoaderNotice: @unchecked Sendable {
    private static let shared = LoaderNotice()
    private let lock = NSLock()
    private var said: Set<String> = []

    public static func once(_ key: String, _ message: String) {
        shared.lock.lock()
        let first = shared.said.insert(key).inserted
        shared.lock.unlock()
        if first { FileHandle.standardError.write(Data((message + "\n").utf8)) }
    }
}

public final class FashionGenLoader: Sendable {
    public let file: FashionGenFile
    public let config: LoaderConfig
    public let catalog: LoaderCatalog
    public let transforms: [any SampleTransform]
    /// Sorted category and subcategory names; `HostBatch.categoryLabels` index into them.
    public let categories: [String]
    public let subcategories: [String]
    private let categoryOfRow: [Int]
    private let resampler: ImageResampler
    private let pool: FloatArrayPool

    public init(file: FashionGenFile, config: LoaderConfig, tokenize: @escaping CaptionTokenizer,
                transforms: [any SampleTransform] = []) throws {
        func check(_ ok: Bool, _ field: String, _ expected: String, _ actual: Any) throws {
            if !ok { throw LoaderError.badConfig(field: field, expected: expected, actual: "\(actual)") }
        }
        try check(config.batchSize > 0, "batchSize", "> 0", config.batchSize)
        try check(config.imageSize > 0, "imageSize", "> 0", config.imageSize)
        try check(config.textLength >= 2, "textLength", ">= 2", config.textLength)
        try check(config.threads > 0, "threads", "> 0", config.threads)
        try check(config.shardCount > 0 && (0..<config.shardCount).contains(config.shardRank), "shardRank",
                  "in 0..<shardCount (\(config.shardCount))", config.shardRank)
        let rows = config.rows ?? Array(0..<file.count)
        try check(rows.allSatisfy { (0..<file.count).contains($0) }, "rows", "rows in 0..<\(file.count)", "out of range")
        self.file = file
        self.config = config
        self.transforms = transforms
        let captions: [String]
        switch config.caption {
        case .description: captions = try file.descriptions
        case .name: captions = try file.names
        case .concatDescription: captions = try file.concatDescriptions
        }
        let cats = try file.categories, subs = try file.subcategories
        categories = Array(Set(cats)).sorted()
        subcategories = Array(Set(subs)).sorted()
        let catIndex = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) })
        let subIndex = Dictionary(uniqueKeysWithValues: subcategories.enumerated().map { ($1, $0) })
        categoryOfRow = cats.map { catIndex[$0] ?? 0 }
        let subOfRow = subs.map { subIndex[$0] ?? 0 }
        var bySub = [[Int]](repeating: [], count: subcategories.count)
        for row in rows { bySub[subOfRow[row]].append(row) }
        catalog = LoaderCatalog(captions: captions, productIDs: try file.productIDs, subcategoryOfRow: subOfRow,
                                subcategoryNames: subcategories, rows: rows, rowsBySubcategory: bySub,
                                imageSize: config.imageSize, textLength: config.textLength, tokenize: tokenize)
        resampler = ImageResampler(inputSize: file.imageSize, outputSize: config.imageSize)
        if file.imageSize < config.imageSize {
            LoaderNotice.once("\(file.imageSize)->\(config.imageSize)",
                              "notice: \(file.path): images are \(file.imageSize) px, upsampled to the model's \(config.imageSize) px "
                                + "(no detail is added; import or synthesize at \(config.imageSize) px for sharper inputs)")
        }
        pool = FloatArrayPool(limit: 2 * (max(config.prefetch, config.threads) + 2))
    }

    public var batchesPerEpoch: Int { batchesPerEpoch(rows: catalog.rows.count) }

    /// The batches of an epoch that visits `n` rows (an explicit order's length), honouring `dropLast`.
    public func batchesPerEpoch(rows n: Int) -> Int {
        let b = config.batchSize
        return config.dropLast ? n / b : (n + b - 1) / b
    }

    /// The rows of an epoch in visiting order: a seeded Fisher–Yates shuffle of the split (or file order).
    public func order(epoch: Int) -> [Int] {
        var rows = catalog.rows
        if config.shuffle {
            var rng = SeededRNG(seed: config.seed, stream: 0x5348_5546_0000_0000 | UInt64(truncatingIfNeeded: epoch))
            rng.shuffle(&rows)
        }
        return rows
    }

    /// Assembles batch `index` of `epoch` synchronously (what the prefetch threads call). `order` replaces the
    /// seeded shuffle with an explicit visiting order (e.g. `GritSampler.order(epoch:)`), batched consecutively.
    public func batch(epoch: Int, index: Int, order: [Int]? = nil) throws -> HostBatch {
        let order = order ?? self.order(epoch: epoch)
        let batchStart = index * config.batchSize
        let global = order[batchStart ..< min(batchStart + config.batchSize, order.count)]
        // This rank's slice of the global batch; `start` is the position of its first sample in the epoch.
        let lo = global.count * config.shardRank / max(1, config.shardCount)
        let hi = global.count * (config.shardRank + 1) / max(1, config.shardCount)
        let start = batchStart + lo
        let rows = Array(global.dropFirst(lo).prefix(hi - lo))
        if let bad = rows.first(where: { !(0..<file.count).contains($0) }) {
            throw LoaderError.badConfig(field: "order", expected: "rows in 0..<\(file.count)", actual: "\(bad)")
        }
        let plane = 3 * config.imageSize * config.imageSize
        var images = pool.take(count: rows.count * plane)
        var samples: [LoaderSample] = []
        var pixels = [UInt8](repeating: 0, count: file.imageBytes)
        var scratch: [Float] = []
        for (i, row) in rows.enumerated() {
            try pixels.withUnsafeMutableBytes { try file.readImages(row ..< row + 1, into: $0) }
            pixels.withUnsafeBufferPointer { src in
                images.withUnsafeMutableBufferPointer { dst in
                    // Both buffers are non-empty here (imageBytes > 0, rows non-empty).
                    let box = config.cropToProduct ? ProductCrop.box(src.baseAddress!, size: file.imageSize) : nil
                    resampler.convert(src.baseAddress!, box: box, into: dst.baseAddress! + i * plane, scratch: &scratch)
                }
            }
            var rng = SeededRNG(seed: config.seed &+ UInt64(truncatingIfNeeded: epoch) &* 0xD1B5_4A32_D192_ED03,
                                stream: UInt64(start + i))
            let caption = catalog.captions[row]
            var sample = LoaderSample(row: row, productID: catalog.productIDs[row], caption: caption,
                                      inputIds: catalog.tokenize(caption, config.textLength))
            for t in transforms { t.apply(to: &sample, catalog: catalog, rng: &rng) }
            samples.append(sample)
        }
        return assemble(rows: rows, images: images, samples: samples)
    }

    /// Gives a consumed batch's image and mask arrays back for reuse by later batches (optional; saves
    /// page faults on large batches). Do not keep other copies of the batch.
    public func recycle(_ batch: consuming HostBatch) {
        pool.give(batch.images)
        if let mask = batch.imageMask { pool.give(mask) }
    }

    /// Starts background threads that assemble the batches of `epoch` in order, from batch `start` on
    /// (a resumed run continues mid-epoch with exactly the batches it would have seen). `order`: an explicit
    /// visiting order of rows, batched consecutively (nil = the seeded shuffle of `order(epoch:)`).
    public func epoch(_ epoch: Int, start: Int = 0, order: [Int]? = nil) -> LoaderEpoch {
        LoaderEpoch(loader: self, epoch: epoch, start: start, order: order)
    }

    private func assemble(rows: [Int], images: [Float], samples: [LoaderSample]) -> HostBatch {
        let longest = samples.map { min($0.inputIds.count, config.textLength) }.max() ?? 0
        let b = rows.count, l = config.padToLongest ? max(2, longest) : config.textLength, s = config.imageSize
        var ids = [Int64](repeating: 0, count: b * l), clean = ids, attention = ids
        var mlm = [Int64](repeating: -100, count: b * l)
        var mask: [Float]? = samples.contains { $0.imageMask != nil } ? pool.take(count: b * s * s) : nil
        for (i, sample) in samples.enumerated() {
            for (j, id) in sample.inputIds.prefix(l).enumerated() {
                let label = sample.mlmLabels?[j] ?? -100
                ids[i * l + j] = Int64(id)
                clean[i * l + j] = Int64(label == -100 ? id : label)
                mlm[i * l + j] = Int64(label)
                attention[i * l + j] = 1
            }
            mask?.withUnsafeMutableBufferPointer { buf in
                guard let out = buf.baseAddress.map({ $0 + i * s * s }) else { return }
                if let m = sample.imageMask { m.expand(size: s, into: out) } else { out.update(repeating: 0, count: s * s) }
            }
        }
        return HostBatch(
            batchSize: b, imageSize: s, textLength: l, rows: rows, productIDs: rows.map { catalog.productIDs[$0] },
            images: images, inputIds: ids, originalInputIds: clean, attentionMask: attention, mlmLabels: mlm,
            itmLabels: samples.map(\.itmLabel), imageMask: mask,
            categoryLabels: rows.map { Int64(categoryOfRow[$0]) },
            subcategoryLabels: rows.map { Int64(catalog.subcategoryOfRow[$0]) })
    }
}
