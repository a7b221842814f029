import ArgumentParser
import FashionData
import Foundation

/// `fashionvl bench loader --data DIR`: samples/s of the Fashion-Gen loader with MVLT's transforms (ITM
/// negatives, MLM masking, grid mask) and the BERT tokenizer, after warm-up batches; prints one JSON line.
struct BenchLoader: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader", abstract: "Loader throughput (samples/s) on a Fashion-Gen HDF5 file; one JSON line.")

    @Option(help: "A Fashion-Gen HDF5 file, or a folder: its *train*.h5, else its first .h5 file.")
    var data: String
    @Option(help: "Model image size; rows of another size are resized.")
    var imageSize = 256
    @Option(help: "Background loader threads.")
    var threads = 2
    @Option(help: "Samples per batch.")
    var batchSize = 64
    @Option(help: "Text length L.")
    var textLength = 128
    @Option(help: "Batches measured (after warm-up), at most one epoch's worth.")
    var batches = 40
    @Option(help: "Warm-up batches, not measured.")
    var warmup = 2
    @Flag(help: "Crop each image to its product first, as MVLT's loader does.")
    var cropToProduct = false

    func validate() throws {
        guard imageSize > 0, threads > 0, batchSize > 0, batches > 0, warmup >= 0, textLength >= 2 else {
            throw ValidationError("image-size, threads, batch-size and batches must be > 0, text-length ≥ 2")
        }
    }

    func run() throws {
        do {
            let path = try Self.resolve(data)
            let file = try FashionGenFile(path: path)
            var config = LoaderConfig()
            config.batchSize = batchSize
            config.imageSize = imageSize
            config.textLength = textLength
            config.threads = threads
            config.prefetch = 2 * threads
            config.cropToProduct = cropToProduct
            let loader = try FashionGenLoader(
                file: file, config: config, tokenize: try WordPieceTokenizer.bertBaseUncased().captionTokenizer,
                transforms: [ITMNegatives(), MLMMasking(), GridMask()])
            var epochIndex = 0
            var epoch = loader.epoch(epochIndex)
            func nextBatch() throws -> HostBatch {
                if let b = try epoch.next() { return b }
                epochIndex += 1
                epoch = loader.epoch(epochIndex)
                guard let b = try epoch.next() else { throw ValidationError("\(path): no rows to load") }
                return b
            }
            for _ in 0..<warmup { loader.recycle(try nextBatch()) }
            let start = DispatchTime.now().uptimeNanoseconds
            var samples = 0
            for _ in 0..<batches {
                let batch = try nextBatch()
                samples += batch.batchSize
                loader.recycle(batch)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let result: [String: Any] = [
                "bench": "loader", "file": path, "rows": file.count, "file_image_size": file.imageSize,
                "image_size": imageSize, "threads": threads, "batch_size": batchSize, "text_length": textLength,
                "batches": batches, "crop_to_product": cropToProduct, "samples": samples, "seconds": (seconds * 1000).rounded() / 1000,
                "samples_per_s": (Double(samples) / seconds).rounded(),
                "machine": ["cpus": ProcessInfo.processInfo.activeProcessorCount,
                            "os": ProcessInfo.processInfo.operatingSystemVersionString],
            ]
            let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: json, as: UTF8.self))
        } catch let error as FashionGenError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// A file as given, or the train file (else the first .h5) of a folder.
    static func resolve(_ data: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir) else {
            throw FashionGenError.unreadable(file: data, reason: "no such file or folder")
        }
        guard isDir.boolValue else { return data }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: data)) ?? []).filter { $0.hasSuffix(".h5") }.sorted()
        guard let name = names.first(where: { $0.contains("train") }) ?? names.first else {
            throw FashionGenError.unreadable(file: data, reason: "folder holds no .h5 file")
        }
        return URL(fileURLWithPath: data).appendingPathComponent(name).path
    }
}
