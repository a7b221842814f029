import FashionData
import FashionModels
import Foundation
import Torch

/// Where Kaleido-BERT's per-product inputs come from, by name: the one registration point of feature sources
/// (a run records the name; evaluation opens the same source for its catalog file). Built in: `cache` (the
/// default: the feature cache and alignments `fashionvl kaleido-prepare` writes beside each catalog file, checked
/// against the file as it is now) and `pixel-grid` (KaleidoPixelFeatures: pooled pixels, D = 48, no alignments).
public enum KaleidoSources {
    /// Opens the source for one catalog file; `textField` and `textLength` are what the alignments must refer to.
    public typealias Opener = (_ file: FashionGenFile, _ textField: String, _ textLength: Int) throws -> any KaleidoInputSource

    private static let lock = NSLock()
    nonisolated(unsafe) private static var openers: [String: Opener] = [
        KaleidoPixelFeatures.name: { file, field, length in try KaleidoPixelFeatures(file: file, textField: field, textLength: length) },
        cacheName: { file, field, length in try openCache(file: file, textField: field, textLength: length) },
    ]

    /// The name of the kaleido-prepare cache source.
    public static let cacheName = "cache"

    /// The kaleido-prepare cache of `file`: a missing, stale or foreign features or alignments file is one
    /// `KaleidoCacheError` naming it and saying to run kaleido-prepare; alignments made for another text are refused.
    static func openCache(file: FashionGenFile, textField: String, textLength: Int) throws -> any KaleidoInputSource {
        let inputs = try KaleidoInputs.open(catalog: file.path)
        guard inputs.alignedTextField == textField, inputs.alignedTextLength == textLength else {
            throw KaleidoCacheError.stale(path: inputs.alignmentFile.path,
                                          differences: ["text: alignments of \(inputs.alignedTextField) at length \(inputs.alignedTextLength), the model reads \(textField) at length \(textLength)"],
                                          hint: "run `fashionvl kaleido-prepare --data DIR --text-field \(textField) --text-length \(textLength)` to rebuild them")
        }
        return inputs
    }

    public static func register(_ name: String, _ opener: @escaping Opener) {
        lock.lock(); defer { lock.unlock() }
        openers[name] = opener
    }

    public static var names: [String] { lock.lock(); defer { lock.unlock() }; return openers.keys.sorted() }

    /// The named source for `file`, checked against the model's feature width.
    public static func open(_ name: String, file: FashionGenFile, textField: String, textLength: Int,
                            featureDim: Int) throws -> any KaleidoInputSource {
        lock.lock()
        let opener = openers[name]
        lock.unlock()
        guard let opener else {
            throw TrainError.badArgument("unknown Kaleido feature source '\(name)' (known: \(names.joined(separator: ", ")))")
        }
        let source = try opener(file, textField, textLength)
        guard source.featureDim == featureDim else {
            var hint = "use a config with \"feature_dim\": \(source.featureDim)"
            if name == KaleidoSources.cacheName, let b = KaleidoBackbones.name(featureDim: featureDim) {
                hint += ", or rebuild the cache with `fashionvl kaleido-prepare --backbone \(b)`"
            }
            throw TrainError.badArgument("\(file.path): the '\(name)' features are \(source.featureDim)-d but the model's feature_dim is \(featureDim) (\(hint))")
        }
        return source
    }
}

/// The choices of a Kaleido-BERT pretraining run beyond the model (spec §5–7; Table 4's ablations).
public struct KaleidoRecipe: Codable, Sendable, Equatable {
    public var terms = KaleidoTerms()
    public var masking = KaleidoMaskingMode.agm
    /// The feature source (`KaleidoSources`): the kaleido-prepare cache unless a run chose another.
    public var features = KaleidoSources.cacheName
    /// The text the model reads: the title (`name`) or the description.
    public var caption = LoaderConfig.Caption.name
    /// Validation products of the held-out accuracies.
    public var evalProducts = 256
    /// `--camouflage-head`: replaces the model config's `camouflage_head` of a new run (nil = the config's).
    public var camouflageHead: KaleidoCamouflageHead?
    public init() {}
}

/// Kaleido-BERT pretraining with the shared trainer: per step the batch's rows are turned into masked and
/// perturbed inputs on the host (KaleidoBatchBuilder), then AMLM + ITM + the five AKPM losses, summed.
/// Optimiser (spec §7): Adam β = (0.9, 0.98), ε = 1e-6, peak lr 1e-4, warm-up 10 % of the steps; the decay is
/// the shared trainer's cosine to 0 (the code decays linearly).
public final class KaleidoPretraining {
    public struct RunConfig: Codable, Sendable {
        public var model: KaleidoConfig
        public var train: TrainOptions
        public var data: String
        public var recipe: KaleidoRecipe
    }

    public let runConfig: RunConfig
    public let model: KaleidoBERT
    let trainer: Trainer
    let resume: Bool

    public init(options o: MVLTPretraining.Options, recipe: KaleidoRecipe, resume: Bool) throws {
        // Data-parallel runs go through the shared trainer's hooks: rank 0 owns the run folder, every rank loads its
        // slice of each global batch, gradients are averaged by the trainer.
        let dp = o.dataParallel, main = dp?.isMain ?? true, world = dp?.worldSize ?? 1
        let saved = main || resume ? try RunFolder.savedConfig(RunConfig.self, run: o.run, resume: resume, kind: "Kaleido-BERT pretraining run") : nil
        let recipe = saved?.recipe ?? recipe
        var modelConfig = try saved?.model ?? KaleidoConfig.load(nameOrPath: o.config)
        if saved == nil, let head = recipe.camouflageHead { modelConfig.camouflageHead = head }
        let split = try DataSplit.open(o.data, seed: o.seed)
        // AMLM is a mean over each process's masked tokens and ITM negatives / camouflage sources are drawn per
        // process: the step depends on how the global batch is split, so a run resumes on its own world size.
        let train = try saved?.train.resumed(onWorld: world, splitInvariant: false, run: o.run)
            ?? KaleidoPretraining.trainOptions(o, trainRows: split.trainRows.count)
        guard split.trainRows.count >= train.globalBatch else {
            throw TrainError.badArgument("\(o.data): the training split has \(split.trainRows.count) rows, fewer than the global batch \(train.globalBatch)")
        }
        let productIDs = try split.trainFile.productIDs
        guard Set(split.trainRows.map { productIDs[$0] }).count >= 2 else {
            throw TrainError.badArgument("\(o.data): the training split has fewer than 2 products; ITM negatives and camouflage come from other products")
        }
        // The sources open before the run folder, so that a missing or mismatched cache leaves none.
        let field = recipe.caption == .name ? "title" : "description"
        let trainSource = try KaleidoSources.open(recipe.features, file: split.trainFile, textField: field,
                                                  textLength: modelConfig.textLength, featureDim: modelConfig.featureDim)
        let rc = RunConfig(model: modelConfig, train: train, data: o.data, recipe: recipe)
        runConfig = rc
        Torch.manualSeed(train.seed)
        let model = try KaleidoBERT(modelConfig)
        // Before the run folder, so that a wrong or missing weights file leaves none (a resumed run's checkpoint
        // then overwrites them).
        if let line = try model.loadPretrainedText(), main { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
        if saved == nil, main { try RunFolder.create(rc, run: o.run) }
        try model.to(o.device)
        self.model = model
        let optimizer = AdamW(ParamGroup.decayAndNoDecay(model.namedParameters(), weightDecay: train.weightDecay),
                              lr: train.lr, betas: (0.9, 0.98), eps: 1e-6)
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let vocab = try SyncMaskVocab.bertBaseUncased()
        let builder = KaleidoBatchBuilder(source: trainSource, captions: try KaleidoPretraining.captions(split.trainFile, recipe.caption),
                                          productIDs: productIDs, pool: split.trainRows, textLength: modelConfig.textLength,
                                          vocabularySize: modelConfig.vocabSize, mode: recipe.masking, vocab: vocab, tokenizer: tokenizer)
        // The trainer's loader gives the rows of each batch in its seeded order (its tiny images are not used).
        var loaderConfig = LoaderConfig.training(train, imageSize: 8, textLength: modelConfig.textLength, rows: split.trainRows,
                                                 shuffle: true, caption: recipe.caption,
                                                 rank: dp?.rank ?? 0)
        loaderConfig.padToLongest = false
        let loader = try FashionGenLoader(file: split.trainFile, config: loaderConfig, tokenize: tokenizer.captionTokenizer)
        let device = o.device
        let rank = dp?.rank ?? 0
        trainer = Trainer(runFolder: o.run, model: model, optimizer: optimizer, options: train, loader: loader,
                          device: device) { batch, step in
            // Each rank draws its own masks, negatives and perturbations (rank 0's stream is the one-process run's).
            var rng = SeededRNG(seed: train.seed, stream: 0x4B41_4C45_0000_0000 | UInt64(rank) << 32 | UInt64(step))
            let host = try builder.build(rows: batch.rows, rng: &rng)
            let l = try model.losses(host.tensors(device: device), terms: rc.recipe.terms)
            var values: [String: Tensor] = ["total": l.total]
            for (k, v) in l.named { values[k] = v }
            for (k, v) in l.accuracies { values[k] = v }
            let pairs = host.masks.reduce(0) { $0 + $1.fromPairs }
            values["agm_pairs_per_sample"] = try Tensor.full([], Double(pairs) / Double(host.batchSize))
            return values
        }
        trainer.label = "pretrain kaleido"
        trainer.dataParallel = dp
        trainer.progressKeys = ["total", "amlm", "itm", "rr", "jps", "cp", "g2cm", "b2cm"]
        // Only rank 0 evaluates (the trainer's rule), so only it builds the held-out batches.
        if main {
            let heldOut = try KaleidoPretraining.heldOut(split: split, rc: rc, trainSource: trainSource, vocab: vocab, tokenizer: tokenizer)
            trainer.evaluate = { _ in try KaleidoPretraining.evaluate(model, heldOut: heldOut, rc: rc, device: device) }
        }
        self.resume = resume
    }

    public func run() throws -> [String: Double] { try trainer.run(resume: resume) }

    static func trainOptions(_ o: MVLTPretraining.Options, trainRows: Int) throws -> TrainOptions {
        let world = o.dataParallel?.worldSize ?? 1
        let perEpoch = max(1, trainRows / (o.batch * world))
        let steps = o.steps ?? (o.epochs.map { $0 * perEpoch } ?? 300)
        var t = TrainOptions(steps: steps, batchSize: o.batch, lr: o.lr ?? 1e-4, minLR: 0, warmupSteps: o.warmup ?? max(1, steps / 10),
                             warmupStartLR: 0, weightDecay: o.weightDecay, clipNorm: o.clipNorm, seed: o.seed,
                             threads: o.threads, device: o.device.description, logEvery: o.logEvery,
                             checkpointEvery: o.checkpointEvery, evalEvery: o.evalEvery == 0 ? steps : o.evalEvery)
        t.dtype = o.dtype
        if world > 1 { t.worldSize = world }
        return t
    }

    public static func captions(_ file: FashionGenFile, _ caption: LoaderConfig.Caption) throws -> [String] {
        switch caption {
        case .name: return try file.names
        case .description: return try file.descriptions
        case .concatDescription: return try file.concatDescriptions
        }
    }

    /// The held-out batches: up to `evalProducts` validation products (one row each), built once with a fixed
    /// seed (negatives, masks and perturbations as in training, so the AKPM accuracies are measured on them).
    static func heldOut(split: DataSplit, rc: RunConfig, trainSource: any KaleidoInputSource, vocab: SyncMaskVocab,
                        tokenizer: WordPieceTokenizer) throws -> [KaleidoHostBatch] {
        let ids = try split.validationFile.productIDs
        var seen = Set<Int64>(), rows: [Int] = []
        for r in split.validationRows where seen.insert(ids[r]).inserted && rows.count < rc.recipe.evalProducts { rows.append(r) }
        guard rows.count >= 2 else { return [] }
        let field = rc.recipe.caption == .name ? "title" : "description"
        let source = split.validationFile.path == split.trainFile.path ? trainSource
            : try KaleidoSources.open(rc.recipe.features, file: split.validationFile, textField: field,
                                      textLength: rc.model.textLength, featureDim: rc.model.featureDim)
        let builder = KaleidoBatchBuilder(source: source, captions: try captions(split.validationFile, rc.recipe.caption),
                                          productIDs: ids, pool: rows, textLength: rc.model.textLength,
                                          vocabularySize: rc.model.vocabSize, mode: rc.recipe.masking, vocab: vocab, tokenizer: tokenizer)
        var rng = SeededRNG(seed: rc.train.seed, stream: 0x4845_4C44)
        return try stride(from: 0, to: rows.count, by: 64).map { start in
            try builder.build(rows: Array(rows[start..<min(start + 64, rows.count)]), rng: &rng)
        }
    }

    /// Held-out losses and accuracies ("val_" + name), sample-weighted over the batches, eval mode.
    static func evaluate(_ model: KaleidoBERT, heldOut: [KaleidoHostBatch], rc: RunConfig, device: Device) throws -> [String: Double] {
        model.eval()
        defer { model.train() }
        var sums: [String: Double] = [:]
        var n = 0
        try Torch.noGrad {
            for batch in heldOut {
                let l = try model.losses(batch.tensors(device: device), terms: rc.recipe.terms)
                for (k, v) in l.named + l.accuracies.map({ ($0.key, $0.value) }) {
                    let value = try v.item()
                    sums["val_" + k, default: 0] += value * Double(batch.batchSize)
                }
                n += batch.batchSize
            }
        }
        var out = sums.mapValues { $0 / Double(max(n, 1)) }
        out["val_products"] = Double(n)
        return out
    }
}
