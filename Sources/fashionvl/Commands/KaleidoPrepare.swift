import ArgumentParser
import FashionData
import FashionEval
import FashionTrain
import Foundation
import Torch

/// `fashionvl kaleido-prepare`: makes a catalog ready for Kaleido-BERT (spec/kaleido-bert.md §2, §4): the frozen
/// patch-feature cache of every catalog file, the alignment generator's captioner (trained on the train split)
/// and every file's token↔patch alignments, plus a PNG of some alignments. Up-to-date files are reused; a stale
/// cache is rebuilt with a notice naming what changed.
struct KaleidoPrepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kaleido-prepare",
        abstract: "Build Kaleido-BERT's patch-feature caches, captioner and alignments for a catalog (one JSON summary line).")

    @Option(help: "A folder with train.h5 and validation.h5, or one Fashion-Gen file (validation products are split off).")
    var data: String
    @Option(help: "Folder for the cache files (default: beside each catalog file).") var cacheDir: String?
    @Option(help: "Patch backbone: \(KaleidoBackbones.names.joined(separator: ", ")) (resnet50: the paper's, 2048-d, for kaleido-base; its weights are a converted torchvision file, docs/KALEIDO-PREPARE.md §2).")
    var backbone = EfficientNetLiteBackbone.name
    @Option(help: "Backbone weights, safetensors (default: efficientnet-lite0's registered file, scripts/fetch-weights efficientnet-lite0; resnet50's $FASHIONVL_WEIGHTS/resnet50/model.safetensors).")
    var weights: String?
    @Option(help: "Side of every patch crop fed to the backbone, in pixels.") var cropSize = 32
    @Option(help: "Catalog rows per backbone forward (74 crops each; default: the most that keep every activation within glibc's heap limit, 4 at 32 px).")
    var rowsPerBatch: Int?
    @Option(help: "Captioner epochs over the train split.") var captionerEpochs = 4
    @Option(help: "Captioner batch size.") var captionerBatch = 64
    @Option(help: "Captioner peak learning rate (Adam; 3e-3: SAT's 4e-4, the spec's, leaves a catalog of a few thousand rows with one generic caption, docs/KALEIDO-PREPARE.md).") var captionerLr = 3e-3
    @Option(help: "Text the alignments refer to: title or description.") var textField = "title"
    @Option(help: "How the captioner gives alignments: greedy (its greedy caption's words found in the text; the spec's default) or teacher (teacher-forced on the text: the words it gives probability ≥ 0.1 at their step; spec §4.2's optional mode).") var alignmentMode = KaleidoAlignmentMode.greedy
    @Option(help: "Encoded text length the alignments' token positions refer to.") var textLength = 64
    @Option(help: "libtorch threads.") var threads = 2
    @Option(help: "Seed (captioner; the split of a single-file catalog).") var seed: UInt64 = 0
    @Option(help: "PNG of some validation alignments (default: CACHE/kaleido-alignments.png; 'none' to skip).") var figure: String?

    func validate() throws {
        guard (8...512).contains(cropSize) else { throw ValidationError("--crop-size must be 8...512, got \(cropSize)") }
        guard (rowsPerBatch ?? 1) > 0, captionerEpochs > 0, captionerBatch > 0, captionerLr > 0, threads > 0, textLength >= 2 else {
            throw ValidationError("--rows-per-batch, --captioner-epochs, --captioner-batch, --captioner-lr and --threads must be positive, --text-length ≥ 2")
        }
        guard ["title", "description"].contains(textField) else { throw ValidationError("--text-field must be title or description") }
    }

    func run() throws {
        var o = KaleidoPrepareOptions()
        (o.backbone, o.weights, o.cropSize, o.rowsPerBatch, o.cacheDir) = (backbone, weights, cropSize, rowsPerBatch, cacheDir)
        (o.textField, o.textLength, o.threads, o.seed) = (textField, textLength, threads, seed)
        o.alignmentMode = alignmentMode
        o.captioner.epochs = captionerEpochs
        o.captioner.batch = captionerBatch
        o.captioner.lr = captionerLr
        o.captioner.seed = seed
        o.captioner.threads = threads
        var summary = try KaleidoInputs.prepare(data: data, options: o)
        if figure != "none" {
            let files = (summary["files"] as? [[String: Any]]) ?? []
            guard let last = files.last?["catalog"] as? String else { return }
            let dir = cacheDir ?? URL(fileURLWithPath: last).deletingLastPathComponent().path
            let path = figure ?? dir + "/kaleido-alignments.png"
            let file = try FashionGenFile(path: last)
            let inputs = try KaleidoInputs.open(catalog: last, cacheDir: cacheDir)
            let rows = Array(stride(from: 0, to: file.count, by: max(1, file.count / 6)).prefix(6))
            try KaleidoAlignmentFigure.render(KaleidoAlignmentFigure.items(rows: rows, file: file, inputs: inputs)).writePNG(to: path)
            summary["figure"] = path
            FileHandle.standardError.write(Data("wrote \(path)\n".utf8))
        }
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}

extension KaleidoAlignmentMode: ExpressibleByArgument {}
