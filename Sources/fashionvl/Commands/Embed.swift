import ArgumentParser
import FashionEval
import FashionTrain
import Foundation
import Torch

/// `fashionvl embed`: a dual encoder's L2-normalised image and text embeddings of every scored row.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Image and text embeddings (ITC) of a dual-encoder checkpoint → one safetensors file.",
        discussion: """
        Writes image_embeddings (n, E) f32, text_embeddings (n, E) f32, product_ids (n) i64 and rows (n) i64, one \
        per scored row of --data (a folder's validation.h5; on the run's own single file its held-out products; \
        --all-rows: every row), with metadata naming the checkpoint (path and SHA-256 of the weights file), the \
        data file, the text field and the model config. The file appears only when complete (a temporary file, \
        then a rename). MVLT checkpoints have no ITC heads and are refused. Data-parallel as pretrain (--nproc N, or \
        --rank/--world-size/--master or torchrun's environment): each rank embeds a share of the rows and texts in \
        whole batches, rank 0 gathers them and writes the file, the same as one process (docs/DISTRIBUTED.md).
        """)

    @Option(help: "A dual-encoder run folder (e.g. SyncMask).") var checkpoint: String
    @OptionGroup var data: EvaluationDataOptions
    @Option(help: "The safetensors file to write.") var out: String
    @Option(help: "Text of a row: title, description or concat.") var textField: TextField = .description
    @Option(help: "Images or texts per forward pass.") var batch = 64
    @Option(help: "cpu, cuda or cuda:N.") var device = "cpu"
    @Option(help: "libtorch threads.") var threads = 2
    @OptionGroup(title: "Distributed") var dist: DistributedOptions

    func validate() throws {
        guard batch > 0, threads > 0 else { throw ValidationError("--batch and --threads must be positive") }
    }

    func run() throws {
        Torch.setNumThreads(threads)
        let (parallel, dev) = try dist.join(device: device)
        let model = try EvalCheckpoint.open(checkpoint, device: dev).dualEncoder(checkpoint: checkpoint, for: "embed")
        let data = try self.data.open(run: model.runFolder)
        let main = parallel?.isMain ?? true
        let summary = try EmbeddingExport.write(model, checkpoint: checkpoint, data: data, textField: textField, batch: batch,
                                                device: dev, to: out, showProgress: main, parallel: parallel)
        try parallel?.barrier()
        guard main else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(summary), as: UTF8.self))
    }
}
