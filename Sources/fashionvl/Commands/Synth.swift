import ArgumentParser
import FashionData
import Foundation

extension Difficulty: ExpressibleByArgument {}

/// `fashionvl synth`: writes the built-in synthetic catalog (train.h5, validation.h5, attributes.jsonl).
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate the synthetic fashion catalog: DIR/train.h5, DIR/validation.h5, DIR/attributes.jsonl.")

    @Option(help: "Output folder (created if missing).")
    var out: String

    @Option(help: "Number of products over both splits (≈13 % go to validation).")
    var products: Int = 2_300

    @Option(help: "Image side in pixels: 64, 128 or 256.")
    var imageSize: Int = 128

    @Option(help: "Random seed; the same seed gives byte-identical files.")
    var seed: UInt64 = 0

    @Option(help: "Attribute space: easy, medium or hard.")
    var difficulty: Difficulty = .medium

    @Flag(help: "Also write DIR/preview.png, a contact sheet of the first products.")
    var preview = false

    func validate() throws {
        guard products > 0 else { throw ValidationError("--products must be > 0, got \(products)") }
        guard [64, 128, 256].contains(imageSize) else {
            throw ValidationError("--image-size must be 64, 128 or 256, got \(imageSize)")
        }
    }

    func run() throws {
        let start = Date()
        var lastPrint = Date.distantPast
        let catalog = try SyntheticCatalog(.init(products: products, imageSize: imageSize, seed: seed, difficulty: difficulty))
        let summary = try catalog.write(to: out, preview: preview) { done, total in
            let now = Date()
            guard now.timeIntervalSince(lastPrint) > 0.5 || done == total else { return }
            lastPrint = now
            let rate = Double(done) / max(1e-9, now.timeIntervalSince(start))
            FileHandle.standardError.write(Data(String(format: "\rsynth: %d/%d images, %.0f images/s", done, total, rate).utf8))
        }
        let seconds = Date().timeIntervalSince(start)
        FileHandle.standardError.write(Data("\n".utf8))
        print(String(format: "wrote %@: train %d products / %d images, validation %d products / %d images, %.1f s (%.0f images/s)",
                     out, summary.trainProducts, summary.trainImages, summary.validationProducts,
                     summary.validationImages, seconds, Double(summary.images) / max(1e-9, seconds)))
    }
}
