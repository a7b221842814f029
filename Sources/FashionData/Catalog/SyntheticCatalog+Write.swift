// Writes a synthetic catalog to a folder: train.h5 and validation.h5 (Fashion-Gen schema),
// attributes.jsonl (ground truth per product) and optionally preview.png. Products are rendered in
// parallel chunks and appended in product order, so the files do not depend on thread timing. Every file
// appears atomically; on failure nothing half-written is left.

import Dispatch
import Foundation

extension SyntheticCatalog {
    public struct Summary: Sendable, Equatable {
        public var trainProducts = 0, validationProducts = 0, trainImages = 0, validationImages = 0
        public var images: Int { trainImages + validationImages }
    }

    /// One line of attributes.jsonl.
    struct AttributeLine: Encodable {
        let productID: Int64
        let split: CatalogSplit
        let title: String
        let description: String
        let attributes: Product
    }

    /// Writes the catalog into `dir` (created if missing). `progress(imagesDone, totalImages)` is called
    /// after each chunk.
    @discardableResult
    public func write(to dir: String, preview: Bool = false, chunk: Int = 32,
                      progress: (Int, Int) -> Void = { _, _ in }) throws -> Summary {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw ImageError.writeFailed(file: dir, reason: "cannot create folder: \(ImageDecoder.reason(of: error))")
        }
        let train = try FashionGenWriter(path: dir + "/train.h5", imageSize: config.imageSize)
        let validation: FashionGenWriter
        do { validation = try FashionGenWriter(path: dir + "/validation.h5", imageSize: config.imageSize) } catch {
            train.cancel(); throw error
        }
        let total = products.reduce(0) { $0 + $1.poses.count }
        var summary = Summary()
        var jsonl = Data()
        var previewTiles: [RGBImage] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            // Render chunk k+1 on other threads while chunk k is written, in order, on this one.
            let step = max(1, chunk)
            var next: RenderedChunk? = launch(start: 0, count: min(step, products.count))
            while let current = next {
                current.done.wait()
                let start = current.start, n = current.count, rendered = current.records
                let following = start + n
                next = following < products.count ? launch(start: following, count: min(step, products.count - following)) : nil
                for j in 0..<n {
                    let i = start + j
                    let isTrain = splits[i] == .train
                    let writer = isTrain ? train : validation
                    for var r in rendered[j] {
                        r.index = Int64(writer.count)
                        r.index2 = Int64(summary.images)
                        try writer.append(r)
                        if isTrain { summary.trainImages += 1 } else { summary.validationImages += 1 }
                    }
                    if isTrain { summary.trainProducts += 1 } else { summary.validationProducts += 1 }
                    let t = rendered[j].first
                    let line = AttributeLine(productID: products[i].productID, split: splits[i], title: t?.name ?? "",
                                             description: t?.description ?? "", attributes: products[i])
                    jsonl.append(try encoder.encode(line))
                    jsonl.append(0x0A)
                    if preview, previewTiles.count < 64, let first = t {
                        previewTiles.append(RGBImage(uncheckedWidth: config.imageSize, height: config.imageSize, pixels: first.image))
                    }
                }
                progress(summary.images, total)
            }
            try train.finish()
            try validation.finish()
        } catch {
            train.cancel(); validation.cancel()
            throw error
        }
        do {
            try jsonl.write(to: URL(fileURLWithPath: dir + "/attributes.jsonl"), options: .atomic)
        } catch {
            throw ImageError.writeFailed(file: dir + "/attributes.jsonl", reason: ImageDecoder.reason(of: error))
        }
        if preview, !previewTiles.isEmpty {
            try ContactSheet.make(previewTiles, columns: 8).writePNG(to: dir + "/preview.png")
        }
        return summary
    }

    /// Records of products `start ..< start + count`, rendered in parallel in the background.
    /// Each slot is written by exactly one worker before `done` is signalled, and read only after it.
    final class RenderedChunk: @unchecked Sendable {
        let start: Int, count: Int
        private let slots: UnsafeMutablePointer<[FashionGenRecord]>
        let done = DispatchSemaphore(value: 0)
        init(start: Int, count: Int) {
            self.start = start
            self.count = count
            slots = .allocate(capacity: count)
            slots.initialize(repeating: [], count: count)
        }
        deinit { slots.deinitialize(count: count); slots.deallocate() }
        func set(_ j: Int, _ r: [FashionGenRecord]) { slots[j] = r }
        var records: [[FashionGenRecord]] { Array(UnsafeBufferPointer(start: slots, count: count)) }
    }

    func launch(start: Int, count: Int) -> RenderedChunk {
        let chunk = RenderedChunk(start: start, count: count)
        DispatchQueue.global().async {
            DispatchQueue.concurrentPerform(iterations: count) { j in chunk.set(j, records(of: start + j)) }
            chunk.done.signal()
        }
        return chunk
    }
}
