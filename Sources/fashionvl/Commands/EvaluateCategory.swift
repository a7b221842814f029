import ArgumentParser
import FashionEval
import Foundation
import Torch

/// Options shared by `evaluate mcr` and `evaluate scr`.
struct CategoryEvalOptions: ParsableArguments {
    @Option(help: "A `fashionvl finetune` run folder (its newest checkpoint) or a fine-tuned MVLT weights file.")
    var checkpoint: String
    @OptionGroup var data: EvaluationDataOptions
    @Option(help: "Run folder for eval/*.json and the confusion PNG (default: the checkpoint's run folder).")
    var out: String?
    @Option(help: "Train .h5 or data folder giving the class lists, for a weights file without a run config.")
    var classesFrom: String?
    @Option(help: "Input size of a weights-file model (default 256; a run folder's config gives its own).")
    var imageSize: Int?
    @Option(help: "Batch size.") var batch = 32
    @Option(help: "libtorch threads.") var threads = 2
    @Option(help: "cpu, cuda or cuda:N.") var device = "cpu"

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
        guard threads > 0 else { throw ValidationError("--threads must be positive, got \(threads)") }
        if let imageSize, imageSize <= 0 || imageSize % 32 != 0 {
            throw ValidationError("--image-size must be a positive multiple of 32, got \(imageSize)")
        }
    }

    /// Scores `head`, prints the JSON line on stdout and a short table on stderr.
    func run(_ head: CategoryHead) throws {
        Torch.setNumThreads(threads)
        let (result, summary) = try CategoryEvaluation.run(head, .init(
            checkpoint: checkpoint, data: data.data, out: out, batch: batch, device: try Device(parsing: device),
            classesFrom: classesFrom, imageSize: imageSize, allRows: data.allRows))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        let m = result.metrics
        let table = String(format: "%@  acc %.4f  macro-F1 %.4f (all classes %.4f)  %d classes  %d samples (%d unknown)  %.1f s\n",
                           summary.task, m.accuracy, m.macroF1, m.macroF1AllClasses, summary.classes, m.samples,
                           summary.unknownLabels, summary.wallSeconds)
        FileHandle.standardError.write(Data(table.utf8))
    }
}

/// `fashionvl evaluate mcr`: main-category recognition (M-CR) of a fine-tuned checkpoint.
struct EvaluateMCR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcr",
        abstract: "Main-category recognition: accuracy, macro-F1, confusion matrix → RUN/eval/mcr.json.")
    @OptionGroup var options: CategoryEvalOptions
    func run() throws { try options.run(.mcr) }
}

/// `fashionvl evaluate scr`: subcategory recognition (S-CR) of a fine-tuned checkpoint.
struct EvaluateSCR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scr",
        abstract: "Subcategory recognition: accuracy, macro-F1, confusion matrix → RUN/eval/scr.json.")
    @OptionGroup var options: CategoryEvalOptions
    func run() throws { try options.run(.scr) }
}
