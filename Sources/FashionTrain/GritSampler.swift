// GRIT grouped mini-batch sampling with the semi-hard enhancement (spec syncmask.md §4). The sampling unit is a
// product: every training product is visited once per epoch, with one of its rows (images) drawn uniformly from
// (seed, epoch, product id). Epoch 0 visits the products in the subcategory warm start (§4.1 item 5); epoch e ≥ 1
// visits them in the order GROUP built from the features collected during epoch e − 1 (§4.1 items 1–4).
//
//     let rows = try sampler.order(epoch: e)          // give to FashionGenLoader.epoch(e, order: rows)
//     after each step: try sampler.collect(rows: batch.rows, imageFeatures:, textFeatures:, dim:, temperature:)
//     after the epoch: try sampler.finishEpoch(e)     // automatic once every product was collected
//
// Determinism: every random choice comes from a SeededRNG derived from (seed, epoch, flush), so the orders depend
// only on the seed and the collected features. `state()` / `restore(_:)` carry everything that later orders
// depend on. Not thread-safe: call from the training loop only.
import FashionData
import Foundation

public final class GritSampler {
    public let batchSize: Int, searchSpace: Int, bufferSize: Int, warmGroup: Int
    public let next: GritNext
    public let margin: Double
    public let seed: UInt64
    /// The training products (first-appearance order in `rows`), their rows, subcategories and categories.
    public let productIDs: [Int64]
    private let productRows: [[Int]]
    private let productOfRow: [Int: Int]
    private let textHashOfRow: [Int64]
    private let subcategoryOfProduct: [Int]?
    private let categoryOfProduct: [Int]
    private let fingerprint: UInt64

    private var collectingEpoch = 0
    private var orderEpoch: Int?
    private var orderProducts: [Int] = []
    private var nextOrder: [Int] = []
    private var nextSpaceSizes: [Int] = []
    private var flushes = 0
    private var dim = 0
    private var temperature = 1.0
    private var bufferRows: [Int] = []
    private var bufferImage: [Float] = []
    private var bufferText: [Float] = []
    private var isCollected: [Bool]
    public private(set) var stats = GritSamplerStats()

    /// - Parameters: rows: the training rows; the `…OfRow` arrays are indexed by row (e.g. the whole file).
    ///   `subcategoryOfRow` empty = no category metadata (epoch 0 is then a random order); `categoryOfRow` empty =
    ///   one category. batchSize B, searchSpace M (B | M), buffer Q (M | Q), margin μ_g > 0, warmGroup m.
    public init(rows: [Int], productIDOfRow: [Int64], textHashOfRow: [Int64], subcategoryOfRow: [Int] = [],
                categoryOfRow: [Int] = [], batchSize: Int, searchSpace: Int, buffer: Int, next: GritNext = .semihard,
                margin: Double = .infinity, warmGroup: Int, seed: UInt64) throws {
        typealias E = GritSamplerError
        for (name, value) in [("--batch", batchSize), ("--grit-search-space", searchSpace), ("--grit-buffer", buffer),
                              ("--grit-warm-group", warmGroup)] where value <= 0 {
            throw E.notPositive(parameter: name, value: "\(value)")
        }
        guard margin > 0 else { throw E.notPositive(parameter: "--grit-margin", value: "\(margin)") }
        guard searchSpace % batchSize == 0 else {
            throw E.notMultiple(parameter: "--grit-search-space", value: searchSpace, of: "--batch", ofValue: batchSize)
        }
        guard buffer % searchSpace == 0 else {
            throw E.notMultiple(parameter: "--grit-buffer", value: buffer, of: "--grit-search-space", ofValue: searchSpace)
        }
        let n = productIDOfRow.count
        guard !rows.isEmpty else { throw E.badInput("no training rows") }
        guard textHashOfRow.count == n, subcategoryOfRow.isEmpty || subcategoryOfRow.count == n,
              categoryOfRow.isEmpty || categoryOfRow.count == n else {
            throw E.badInput("per-row arrays differ in length (product ids \(n), text hashes \(textHashOfRow.count), "
                             + "subcategories \(subcategoryOfRow.count), categories \(categoryOfRow.count))")
        }
        var index: [Int64: Int] = [:], pids: [Int64] = [], prows: [[Int]] = [], ofRow: [Int: Int] = [:]
        for row in rows {
            guard (0..<n).contains(row) else { throw E.badInput("row \(row) is not in 0..<\(n)") }
            let pid = productIDOfRow[row]
            let p = index[pid] ?? pids.count
            if p == pids.count { index[pid] = p; pids.append(pid); prows.append([]) }
            guard ofRow.updateValue(p, forKey: row) == nil else { throw E.badInput("row \(row) is listed twice") }
            prows[p].append(row)
        }
        (self.batchSize, self.searchSpace, bufferSize, self.warmGroup) = (batchSize, searchSpace, buffer, warmGroup)
        (self.next, self.margin, self.seed) = (next, margin, seed)
        (productIDs, productRows, productOfRow, self.textHashOfRow) = (pids, prows, ofRow, textHashOfRow)
        subcategoryOfProduct = subcategoryOfRow.isEmpty ? nil : prows.map { subcategoryOfRow[$0[0]] }
        categoryOfProduct = categoryOfRow.isEmpty ? prows.map { _ in 0 } : prows.map { categoryOfRow[$0[0]] }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for (pid, rs) in zip(pids, prows) {
            for x in [UInt64(bitPattern: pid)] + rs.map({ UInt64($0) }) { h = (h ^ x) &* 0x0000_0100_0000_01B3 }
        }
        fingerprint = h
        isCollected = [Bool](repeating: false, count: pids.count)
    }

    public var productCount: Int { productIDs.count }

    // MARK: Orders

    /// The rows of `epoch` in batch order, one per product. Epoch 0: the warm start. Epoch e ≥ 1: the order built
    /// from epoch e − 1's features; available from the end of epoch e − 1 until the end of epoch e.
    public func order(epoch: Int) throws -> [Int] {
        let products: [Int]
        if epoch == orderEpoch { products = orderProducts } else if epoch == 0 { products = warmStart() } else {
            throw GritSamplerError.orderUnavailable(epoch: epoch, held: orderEpoch)
        }
        return products.map { row(of: $0, epoch: epoch) }
    }

    /// The row product `p` is visited with in `epoch`: uniform over its rows, from (seed, epoch, product id).
    func row(of p: Int, epoch: Int) -> Int {
        let rows = productRows[p]
        guard rows.count > 1 else { return rows[0] }
        var rng = SeededRNG(seed: seed ^ 0x524F_5744_5241_5700 &+ UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9,
                            stream: UInt64(bitPattern: productIDs[p]))
        return rows[rng.int(0...(rows.count - 1))]
    }

    /// §4.1 item 5: groups of m products of one subcategory; each subcategory's remainder (< m) is pooled within
    /// its category and cut again, and what remains of the categories is pooled once more. The full groups are
    /// shuffled; the one short group left at the end stays last. Random order without subcategories.
    func warmStart() -> [Int] {
        var rng = SeededRNG(seed: seed ^ 0x5741_524D_0000_0000, stream: 0)
        guard let subOf = subcategoryOfProduct else {
            var all = Array(0..<productCount)
            rng.shuffle(&all)
            return all
        }
        var groups: [[Int]] = []
        func cut(_ items: [Int]) -> [Int] {  // appends the full groups of m, returns the remainder
            var items = items
            rng.shuffle(&items)
            let full = items.count / warmGroup * warmGroup
            for s in stride(from: 0, to: full, by: warmGroup) { groups.append(Array(items[s ..< s + warmGroup])) }
            return Array(items[full...])
        }
        let bySub = Dictionary(grouping: 0..<productCount) { subOf[$0] }
        var leftByCategory: [Int: [Int]] = [:]
        for sub in bySub.keys.sorted() {
            for p in cut(bySub[sub]!) { leftByCategory[categoryOfProduct[p], default: []].append(p) }
        }
        var left: [Int] = []
        for cat in leftByCategory.keys.sorted() { left += cut(leftByCategory[cat]!) }
        let last = cut(left)
        rng.shuffle(&groups)
        return groups.flatMap { $0 } + last
    }

    /// §4.1 item 4: cuts `items` into chunks of `chunk` and shuffles whole chunks; a final partial chunk stays last.
    public static func shuffleChunks<T>(_ items: [T], chunk: Int, rng: inout SeededRNG) -> [T] {
        let full = items.count / chunk
        var chunks = Array(0..<full)
        rng.shuffle(&chunks)
        return chunks.flatMap { items[$0 * chunk ..< ($0 + 1) * chunk] } + items[(full * chunk)...]
    }

    // MARK: Collection

    /// Appends one training step's detached ITC features (row-major (B, dim) host arrays, the batch's rows in the
    /// same order) to the collection buffer; groups when the buffer reaches Q, and finishes the epoch once every
    /// product has been collected. Validates the whole call before changing anything.
    public func collect(rows: [Int], imageFeatures: [Float], textFeatures: [Float], dim: Int, temperature: Double) throws {
        typealias E = GritSamplerError
        guard dim > 0, imageFeatures.count == rows.count * dim, textFeatures.count == rows.count * dim else {
            throw E.badInput("features of \(rows.count) rows × dim \(dim) have \(imageFeatures.count) (image) and "
                             + "\(textFeatures.count) (text) values")
        }
        guard self.dim == 0 || self.dim == dim else { throw E.badInput("feature dim \(dim), earlier \(self.dim)") }
        guard temperature > 0, temperature.isFinite else { throw E.badInput("temperature \(temperature)") }
        var seen = Set<Int>()
        for row in rows {
            guard let p = productOfRow[row] else { throw E.badInput("row \(row) is not a training row") }
            guard !isCollected[p], seen.insert(p).inserted else {
                throw E.badInput("product \(productIDs[p]) (row \(row)) collected twice in epoch \(collectingEpoch)")
            }
        }
        self.dim = dim
        self.temperature = temperature
        for (i, row) in rows.enumerated() {
            bufferRows.append(row)
            bufferImage += imageFeatures[i * dim ..< (i + 1) * dim]
            bufferText += textFeatures[i * dim ..< (i + 1) * dim]
            isCollected[productOfRow[row]!] = true
            if bufferRows.count == bufferSize { flush() }
        }
        if nextOrder.count + bufferRows.count == productCount { try finishEpoch(collectingEpoch) }
    }

    /// Ends the collection of `epoch`: groups the buffer's remainder, appends the products never collected (in a
    /// seeded random order), and chunk-shuffles the result into the order of `epoch + 1`. A no-op when `epoch`
    /// was already finished (e.g. automatically by the last `collect`).
    public func finishEpoch(_ epoch: Int) throws {
        if epoch == collectingEpoch - 1 && epoch >= 0 { return }
        guard epoch == collectingEpoch else {
            throw GritSamplerError.epochMismatch(collecting: collectingEpoch, finished: epoch)
        }
        if !bufferRows.isEmpty { flush() }
        var rng = SeededRNG(seed: seed ^ 0x4348_554E_4B00_0000, stream: UInt64(truncatingIfNeeded: epoch))
        var missing = (0..<productCount).filter { !isCollected[$0] }
        rng.shuffle(&missing)
        stats.uncollectedProducts += missing.count
        orderProducts = Self.shuffleChunks(nextOrder + missing, chunk: batchSize, rng: &rng)
        orderEpoch = epoch + 1
        collectingEpoch = epoch + 1
        nextOrder = []
        nextSpaceSizes = []
        flushes = 0
        isCollected = [Bool](repeating: false, count: productCount)
    }

    /// §4.1 item 2: shuffle the buffer, cut it into search spaces of M, GROUP each, append to the next order.
    private func flush() {
        var rng = SeededRNG(seed: seed ^ 0x4752_4F55_5000_0000,
                            stream: UInt64(truncatingIfNeeded: collectingEpoch) << 24 | UInt64(flushes))
        var entries = Array(0..<bufferRows.count)
        rng.shuffle(&entries)
        for start in stride(from: 0, to: entries.count, by: searchSpace) {
            let space = Array(entries[start ..< min(start + searchSpace, entries.count)])
            nextOrder += group(space, rng: &rng).map { productOfRow[bufferRows[$0]]! }
            nextSpaceSizes.append(space.count)
            stats.searchSpaces += 1
        }
        flushes += 1
        bufferRows.removeAll(keepingCapacity: true)
        bufferImage.removeAll(keepingCapacity: true)
        bufferText.removeAll(keepingCapacity: true)
    }

    // MARK: GROUP and NEXT

    /// GROUP (§4.1 item 3) of one search space (buffer entries): a random start, then alternately the text that
    /// best matches the current image and the image that best matches that text. Returns the entries in output order.
    private func group(_ space: [Int], rng: inout SeededRNG) -> [Int] {
        let n = space.count, d = dim, b = batchSize, tau = temperature, rule = next, mu = margin
        let pid = space.map { productIDs[productOfRow[bufferRows[$0]]!] }
        let hash = space.map { textHashOfRow[bufferRows[$0]] }
        var used = [Bool](repeating: false, count: n)
        var out: [Int] = []
        out.reserveCapacity(n)
        var chunkPids = Set<Int64>(), chunkHashes = Set<Int64>()  // of the last (out.count mod B) outputs
        func emit(_ k: Int) {
            used[k] = true
            out.append(k)
            if out.count % b == 0 {
                chunkPids.removeAll(keepingCapacity: true)
                chunkHashes.removeAll(keepingCapacity: true)
            } else {
                chunkPids.insert(pid[k])
                chunkHashes.insert(hash[k])
            }
        }
        bufferImage.withUnsafeBufferPointer { image in
            bufferText.withUnsafeBufferPointer { text in
                emit(rng.int(0...(n - 1)))
                var anchor = out[0], fromImage = true
                while out.count < n {
                    let (query, keys) = fromImage ? (image.baseAddress!, text.baseAddress!) : (text.baseAddress!, image.baseAddress!)
                    let q = query + space[anchor] * d
                    func z(_ j: Int) -> Double { Double(Self.dot(q, keys + space[j] * d, d)) / tau }
                    let positive = z(anchor), a = anchor
                    let (k, pick) = Self.next(count: n, positive: positive, rule: rule, margin: mu,
                                              unused: { !used[$0] },
                                              excluded: { pid[$0] == pid[a] || hash[$0] == hash[a]
                                                  || chunkPids.contains(pid[$0]) || chunkHashes.contains(hash[$0]) },
                                              score: z)!
                    record(pick, positiveMinusChosen: positive - z(k))
                    emit(k)
                    anchor = k
                    fromImage.toggle()
                }
            }
        }
        return out.map { space[$0] }
    }

    private func record(_ pick: GritPick, positiveMinusChosen: Double) {
        stats.nextCalls += 1
        stats.positiveMinusChosenSum += positiveMinusChosen
        switch pick {
        case .semiHard: stats.semiHard += 1
        case .belowPositive: stats.belowPositive += 1
        case .leastSimilar: stats.leastSimilar += 1
        case .relaxed: stats.relaxedConstraints += 1
        case .hardest: stats.hardest += 1
        }
    }

    /// NEXT for one anchor over samples 0..<count (§4.1 item 3, §4.2). `score(j)` = Z[anchor, j], `positive` =
    /// Z[anchor, anchor]; `excluded(j)`: j shares a product id or text hash with the anchor or the chunk being
    /// filled (ignored by `hardest`). Ties go to the lowest index; nil when no sample is unused.
    /// The argmax of SH is the argmax of the candidates below the positive whenever SH is non-empty (SH is their
    /// top band), so one pass finds both; which branch chose is told by comparing that score with z⁺ − μ_g.
    public static func next(count: Int, positive: Double, rule: GritNext, margin: Double, unused: (Int) -> Bool,
                            excluded: (Int) -> Bool, score: (Int) -> Double) -> (index: Int, pick: GritPick)? {
        var any = -1, anyScore = 0.0, below = -1, belowScore = 0.0, least = -1, leastScore = 0.0
        for j in 0..<count where unused(j) {
            let s = score(j)
            if any < 0 || s > anyScore { (any, anyScore) = (j, s) }
            guard rule == .semihard, !excluded(j) else { continue }
            if least < 0 || s < leastScore { (least, leastScore) = (j, s) }
            if s < positive, below < 0 || s > belowScore { (below, belowScore) = (j, s) }
        }
        guard any >= 0 else { return nil }
        if rule == .hardest { return (any, .hardest) }
        if below >= 0 { return (below, belowScore >= positive - margin ? .semiHard : .belowPositive) }
        if least >= 0 { return (least, .leastSimilar) }
        return (any, .relaxed)
    }

    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0, i = 0
        while i + 4 <= n {
            s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1]; s2 += a[i + 2] * b[i + 2]; s3 += a[i + 3] * b[i + 3]
            i += 4
        }
        while i < n { s0 += a[i] * b[i]; i += 1 }
        return (s0 + s1) + (s2 + s3)
    }

    // MARK: State

    public func state() -> GritSamplerState {
        GritSamplerState(
            batchSize: batchSize, searchSpace: searchSpace, buffer: bufferSize, next: next,
            margin: margin.isFinite ? margin : nil, warmGroup: warmGroup, seed: seed, catalogFingerprint: fingerprint,
            collectingEpoch: collectingEpoch, orderEpoch: orderEpoch, order: orderProducts, nextOrder: nextOrder,
            nextSpaceSizes: nextSpaceSizes, flushes: flushes, dim: dim, temperature: temperature,
            bufferRows: bufferRows, bufferImage: bufferImage.littleEndianData, bufferText: bufferText.littleEndianData,
            stats: stats)
    }

    /// Continues from `s` exactly; the sampler must have been built with the same arguments and rows.
    public func restore(_ s: GritSamplerState) throws {
        func check(_ ok: Bool, _ what: String) throws { if !ok { throw GritSamplerError.stateMismatch(what) } }
        try check(s.batchSize == batchSize && s.searchSpace == searchSpace && s.buffer == bufferSize
                  && s.next == next && (s.margin ?? .infinity) == margin && s.warmGroup == warmGroup && s.seed == seed,
                  "saved with other sampler parameters")
        try check(s.catalogFingerprint == fingerprint, "saved for other training products")
        let image = [Float](littleEndianData: s.bufferImage), text = [Float](littleEndianData: s.bufferText)
        try check(image?.count == s.bufferRows.count * s.dim && text?.count == image?.count, "buffer features")
        try check(s.bufferRows.count < bufferSize && s.bufferRows.allSatisfy { productOfRow[$0] != nil }, "buffer rows")
        let range = 0..<productCount
        try check(s.order.allSatisfy(range.contains) && s.nextOrder.allSatisfy(range.contains), "product indices")
        try check(s.nextSpaceSizes.reduce(0, +) == s.nextOrder.count, "search-space sizes")
        var collected = [Bool](repeating: false, count: productCount)
        for p in s.nextOrder + s.bufferRows.map({ productOfRow[$0]! }) {
            try check(!collected[p], "product \(productIDs[p]) collected twice")
            collected[p] = true
        }
        (collectingEpoch, orderEpoch, orderProducts) = (s.collectingEpoch, s.orderEpoch, s.order)
        (nextOrder, nextSpaceSizes, flushes, dim, temperature) = (s.nextOrder, s.nextSpaceSizes, s.flushes, s.dim, s.temperature)
        (bufferRows, bufferImage, bufferText, stats, isCollected) = (s.bufferRows, image!, text!, s.stats, collected)
    }
}
