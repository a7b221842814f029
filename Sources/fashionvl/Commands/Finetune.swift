import ArgumentParser
import FashionData
import FashionEval
import FashionTrain
import Foundation
import Torch

extension CategoryFinetuning.Task: ExpressibleByArgument {}

/// `fashionvl finetune`: category fine-tuning (M-CR/S-CR) from a pretraining checkpoint of any family.
struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a pretrained MVLT, SyncMask or Kaleido-BERT run for category recognition (M-CR, S-CR or both).",
        discussion: """
        The checkpoint's model family picks the model. MVLT: the pretrained weights are loaded by name; the \
        MLM/ITM/MIR heads are dropped and the two category heads (48 and 122 outputs) start fresh; each step reads \
        MLM-corrupted ids of the product's own description and the clean image. SyncMask: the student towers and \
        fusion encoder, with two fresh MLP(H→H→C) heads (cls_head_main, cls_head_sub, C = the train classes) on the \
        fusion [CLS] state, read the clean image and the clean text of the pretraining's text field (--text-field \
        overrides it). Kaleido-BERT: the pretrained encoder with two fresh Dense(C) heads (N(0, 0.01)) on the \
        pooled [CLS] (dropout 0.1 while training), clean patch features from the pretraining run's feature source and \
        the clean text it read. Loss CE(main) + CE(sub) for --task both, only CE(main) for mcr, only CE(sub) for scr. \
        Class lists are the train split's sorted names (stored in RUN/config.json). Writes RUN/config.json, \
        RUN/metrics.jsonl (held-out accuracy and macro-F1 at the end and every --eval-every steps), checkpoints; \
        score the result with `fashionvl evaluate mcr|scr --checkpoint RUN`.
        """)

    @Option(help: "Which losses train: mcr, scr or both (the original recipe).") var task: CategoryFinetuning.Task = .both
    @Option(help: "Pretraining run folder (MVLT, SyncMask or Kaleido-BERT) or MVLT weights file (.safetensors).") var checkpoint: String
    @OptionGroup var loop: TrainingLoopOptions
    @Option(help: "Validation batches for the held-out accuracy (0 = the whole validation split).") var evalBatches = 0
    @Option(help: "SyncMask: the text the model reads: name or description (default: the pretraining run's).")
    var textField: LoaderConfig.Caption?

    func validate() throws {
        guard evalBatches >= 0 else { throw ValidationError("--eval-batches must not be negative, got \(evalBatches)") }
    }

    func run() throws {
        Torch.setNumThreads(loop.threads)
        let dev = try Device(parsing: loop.device)
        // A failure before the first checkpoint removes the run folder it created (RunFolder.removingIfUnstarted).
        let summary = try RunFolder.removingIfUnstarted(loop.out) {
            let job = try CategoryFinetuning(options: .init(
                task: task, checkpoint: checkpoint, data: loop.data, run: loop.out, steps: loop.steps, epochs: loop.epochs,
                batch: loop.batch, device: dev, threads: loop.threads, seed: loop.seed, lr: loop.lr, warmup: loop.warmup,
                clipNorm: loop.clip, weightDecay: loop.weightDecay, logEvery: loop.logEvery,
                checkpointEvery: loop.checkpointEvery, evalEvery: loop.evalEvery,
                evalBatches: evalBatches == 0 ? nil : evalBatches, caption: textField), resume: loop.resume)
            return try job.run()
        }
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
