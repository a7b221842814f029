import FashionData
import FashionModels
import Foundation
import Torch

/// MVLT pretraining as the original code runs it (spec mvlt.md §5): clean and grid-masked images alternate
/// between steps, all enabled losses every step, total = MLM + ITM + 10·MIR, ITM caption-swap negatives with
/// p = 0.5, MLM 15 % with 80/10/10; AdamW without decay on biases and 1-D tensors, warm-up + cosine, clipping.
public final class MVLTPretraining {
    public enum MaskRule: String, Codable, Sendable { case slidingWindow, randomCells }

    public struct Losses: Codable, Sendable {
        public var mir = true, itm = true, mlm = true
        public init(mir: Bool = true, itm: Bool = true, mlm: Bool = true) {
            self.mir = mir
            self.itm = itm
            self.mlm = mlm
        }
    }

    public struct Options {
        public var config: String, data: String, run: String
        public var steps: Int?, epochs: Int?, batch: Int
        public var device: Device, threads: Int, seed: UInt64
        public var lr: Double?, warmup: Int?, clipNorm: Double?, weightDecay: Double
        public var maskRule: MaskRule
        public var logEvery: Int, checkpointEvery: Int, evalEvery: Int, evalBatches: Int
        public var losses: Losses
        public var dtype = "fp32"
        /// Weights to start from where names and shapes match (the original starts patch_embed*, pos_embed*,
        /// block* from ImageNet PVT-v1-Tiny, mvlt.md §4.8); other tensors keep their fresh initialisation.
        public var initFrom: String?
        /// Data-parallel training (`pretrain --nproc` / `--rank`); nil = one process. `batch` is per process.
        public var dataParallel: DataParallel?

        public init(config: String, data: String, run: String, steps: Int?, epochs: Int?, batch: Int, device: Device,
                    threads: Int, seed: UInt64, lr: Double?, warmup: Int?, clipNorm: Double?, weightDecay: Double,
                    maskRule: MaskRule, logEvery: Int, checkpointEvery: Int, evalEvery: Int, evalBatches: Int,
                    losses: Losses) {
            (self.config, self.data, self.run, self.steps, self.epochs, self.batch) = (config, data, run, steps, epochs, batch)
            (self.device, self.threads, self.seed, self.lr, self.warmup, self.clipNorm) = (device, threads, seed, lr, warmup, clipNorm)
            (self.weightDecay, self.maskRule, self.logEvery, self.checkpointEvery) = (weightDecay, maskRule, logEvery, checkpointEvery)
            (self.evalEvery, self.evalBatches, self.losses) = (evalEvery, evalBatches, losses)
        }
    }

    /// What RUN/config.json holds; a resumed run must find the same values.
    public struct RunConfig: Codable, Sendable {
        public var model: MVLTConfig
        public var train: TrainOptions
        public var data: String
        public var losses: Losses
        public var maskRule: MaskRule
        public var evalBatches: Int
    }

    public let runConfig: RunConfig
    public let model: MVLT
    let trainer: Trainer
    let resume: Bool

    public init(options o: Options, resume: Bool) throws {
        // The run folder: created fresh, or resumed with the config it was started with. Only rank 0 of a
        // data-parallel run creates it; the others read it when resuming.
        let main = o.dataParallel?.isMain ?? true
        let saved = main || resume ? try RunFolder.savedConfig(RunConfig.self, run: o.run, resume: resume, kind: "pretraining run") : nil
        var modelConfig = try saved?.model ?? MVLTConfig.load(nameOrPath: o.config)
        if saved == nil {
            // An ablated loss also drops its head, so the run does not spend time on it.
            modelConfig.heads.mir = modelConfig.heads.mir && o.losses.mir
            modelConfig.heads.itm = modelConfig.heads.itm && o.losses.itm
            modelConfig.heads.mlm = modelConfig.heads.mlm && o.losses.mlm
        }
        try modelConfig.validate()
        let split = try DataSplit.open(o.data, seed: o.seed)
        let world = o.dataParallel?.worldSize ?? 1
        // MLM and ITM are per sample (MLM normalised by the global token count), MIR is a mean over pixels whose
        // decoder's BatchNorms use the global batch's statistics (SyncBatchNorm): a checkpoint continues on another
        // world size with the same global batch (the equality tests show the step is the same).
        let train = try saved?.train.resumed(onWorld: world, splitInvariant: true, run: o.run)
            ?? MVLTPretraining.trainOptions(o, trainRows: split.trainRows.count)
        let rc = RunConfig(model: modelConfig, train: train, data: o.data, losses: saved?.losses ?? o.losses,
                           maskRule: saved?.maskRule ?? o.maskRule, evalBatches: saved?.evalBatches ?? o.evalBatches)
        runConfig = rc
        if saved == nil, main { try RunFolder.create(rc, run: o.run) }

        Torch.manualSeed(train.seed)
        model = try MVLT(modelConfig)
        if let initFrom = o.initFrom, saved == nil {
            let loaded = try MVLTPretraining.initialise(model, from: initFrom)
            FileHandle.standardError.write(Data("initialised \(loaded.count) tensors from \(initFrom)\n".utf8))
        }
        try model.to(o.device)
        let optimizer = AdamW(ParamGroup.decayAndNoDecay(model.namedParameters(), weightDecay: train.weightDecay),
                              lr: train.lr, betas: (0.9, 0.999), eps: 1e-8)
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let loader = try FashionGenLoader(
            file: split.trainFile,
            config: LoaderConfig.forRun(model: rc.model, train: rc.train, rows: split.trainRows, shuffle: true,
                                        rank: o.dataParallel?.rank ?? 0),
            tokenize: tokenizer.captionTokenizer,
            transforms: MVLTPretraining.transforms(rc))
        let losses = rc.losses
        let m = model
        let dp = o.dataParallel
        trainer = Trainer(runFolder: o.run, model: model, optimizer: optimizer, options: train, loader: loader,
                          device: o.device) { batch, step in
            // Even steps see the clean image, odd steps the grid-masked one (the original's alternation).
            let input = step % 2 == 0 ? batch.images : try batch.maskedImages()
            var terms = MVLTLossTerms(mlm: losses.mlm, itm: losses.itm, mir: losses.mir, category: false)
            if let dp, dp.worldSize > 1, losses.mlm {
                // The MLM mean over the global batch's labelled tokens (see MVLTLossTerms.mlmTokens).
                let local = try batch.mlmLabels.ne(-100).sum().item()
                terms.mlmTokens = try dp.sum(local) / Double(dp.worldSize)
            }
            let l = try m.losses(input: input, cleanImage: batch.images, inputIds: batch.inputIds, mlmLabels: batch.mlmLabels,
                                 itmLabels: batch.itmLabels, terms: terms)
            var values: [String: Tensor] = ["total": l.total]
            if let v = l.mir { values["mir"] = v }
            if let v = l.itm { values["itm"] = v }
            if let v = l.mlm { values["mlm"] = v }
            if let v = l.itmAccuracy { values["itm_acc"] = v }
            return values
        }
        trainer.label = "pretrain"
        trainer.dataParallel = o.dataParallel
        let valLoader = try FashionGenLoader(
            file: split.validationFile,
            config: LoaderConfig.forRun(model: rc.model, train: rc.train, rows: split.validationRows, shuffle: false),
            tokenize: tokenizer.captionTokenizer,
            transforms: [ITMNegatives(probability: 0.5)])
        if modelConfig.heads.itm {
            trainer.evaluate = { _ in try MVLTPretraining.heldOutITM(model: m, loader: valLoader, batches: rc.evalBatches, device: o.device) }
        }
        self.resume = resume
    }

    /// Trains and returns the last step's values plus the held-out ITM accuracy.
    public func run() throws -> [String: Double] {
        try trainer.run(resume: resume)
    }

    /// Copies every tensor of `path` whose name and shape match the model's; returns the names copied.
    public static func initialise(_ model: Module, from path: String) throws -> [String] {
        let tensors = try SafeTensors.load(path).tensors
        let own = Dictionary(model.stateDict(), uniquingKeysWith: { a, _ in a })
        let usable = tensors.filter { own[$0.key]?.shape == $0.value.shape }
        guard !usable.isEmpty else {
            throw TrainError.badArgument("\(path): no tensor matches the model by name and shape (expected names such as patch_embed1.proj.weight, block1.0.attn.q.weight)")
        }
        try model.loadStateDict(usable, strict: false)
        return usable.keys.sorted()
    }

    static func trainOptions(_ o: Options, trainRows: Int) throws -> TrainOptions {
        let world = o.dataParallel?.worldSize ?? 1
        let perEpoch = max(1, trainRows / (o.batch * world))
        let steps = o.steps ?? (o.epochs.map { $0 * perEpoch } ?? 300)
        // The original uses 2.5e-4 · global batch / 512 over 150 epochs (5.9e-4 at 8 × 150); at small batches and
        // short runs that rule gives ~3e-5, which barely moves the losses, so the default peak is 5e-4.
        let lr = o.lr ?? 5e-4
        var t = TrainOptions(steps: steps, batchSize: o.batch, lr: lr, minLR: lr * 0.04, warmupSteps: o.warmup ?? max(1, steps / 20),
                            warmupStartLR: 1e-6, weightDecay: o.weightDecay, clipNorm: o.clipNorm, seed: o.seed,
                            threads: o.threads, device: o.device.description, logEvery: o.logEvery,
                            checkpointEvery: o.checkpointEvery, evalEvery: o.evalEvery == 0 ? steps : o.evalEvery)
        t.dtype = o.dtype
        if world > 1 { t.worldSize = world }
        return t
    }

    static func transforms(_ rc: RunConfig) -> [any SampleTransform] {
        [ITMNegatives(probability: 0.5),
         MLMMasking(probability: 0.15, maskID: 103, vocabularySize: rc.model.vocabSize),
         GridMask(rule: rc.maskRule == .slidingWindow ? .slidingWindow : .randomCells, ratio: 0.5,
                  cellsPerSide: rc.model.imageSize / 16)]
    }

    /// ITM accuracy on fixed validation batches (clean images and ids, negatives with p = 0.5), eval mode.
    public static func heldOutITM(model: MVLT, loader: FashionGenLoader, batches: Int, device: Device) throws -> [String: Double] {
        model.eval()
        defer { model.train() }
        var correct = 0.0, total = 0.0
        try Torch.noGrad {
            for i in 0..<min(batches, loader.batchesPerEpoch) {
                let b = try DeviceBatch(loader.batch(epoch: 0, index: i), device: device)
                let logits = try model.itmLogits(image: b.images, inputIds: b.originalInputIds)
                correct += try logits.argmax(dim: 1).eq(b.itmLabels).to(dtype: .float32).sum().item()
                total += Double(b.batchSize)
            }
        }
        return ["val_itm_acc": total > 0 ? correct / total : .nan, "val_pairs": total]
    }
}

extension LoaderConfig {
    /// The loader of a training run: the model's image size and text length, the run's batch size and seed, the
    /// products' descriptions as captions (the original's `captions`); training order shuffled with the last
    /// partial batch dropped, evaluation in file order.
    public static func forRun(model: MVLTConfig, train: TrainOptions, rows: [Int], shuffle: Bool, rank: Int? = nil) -> LoaderConfig {
        training(train, imageSize: model.imageSize, textLength: model.textLength, rows: rows, shuffle: shuffle, caption: .description,
                 rank: rank)
    }

    /// The loader of any training run (pretraining or fine-tuning, every family): the model's image size and text
    /// length, the run's batch size and seed; training order shuffled with the last partial batch dropped,
    /// evaluation in file order. With `rank` (a training loader), batches are global (`batchSize × worldSize`)
    /// and this process loads its slice of each; without, batches are `batchSize`, unsharded (evaluation).
    public static func training(_ train: TrainOptions, imageSize: Int, textLength: Int, rows: [Int], shuffle: Bool,
                                caption: Caption, rank: Int? = nil) -> LoaderConfig {
        var c = LoaderConfig()
        c.batchSize = train.batchSize
        if let rank {
            c.batchSize = train.globalBatch
            c.shardRank = rank
            c.shardCount = train.worldSize ?? 1
        }
        c.imageSize = imageSize
        c.textLength = textLength
        c.seed = train.seed
        c.shuffle = shuffle
        c.dropLast = shuffle
        c.threads = 2
        c.rows = rows
        c.caption = caption
        return c
    }
}

/// The training and validation rows of `--data`: a folder with train.h5 and validation.h5, or one file whose
/// products are split 90/10 by product (all poses of a product on one side).
public struct DataSplit {
    public var trainFile: FashionGenFile, trainRows: [Int]
    public var validationFile: FashionGenFile, validationRows: [Int]

    public static func open(_ path: String, seed: UInt64) throws -> DataSplit {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TrainError.badArgument("\(path): no such file or folder (expected a folder with train.h5 and validation.h5, or a Fashion-Gen .h5 file)")
        }
        if isDir.boolValue {
            let t = try FashionGenFile(path: path + "/train.h5")
            let v = try FashionGenFile(path: path + "/validation.h5")
            return DataSplit(trainFile: t, trainRows: Array(0..<t.count), validationFile: v, validationRows: Array(0..<v.count))
        }
        let f = try FashionGenFile(path: path)
        let (train, validation) = ProductSplit.split(productIDs: try f.productIDs, validationFraction: 0.1, seed: seed)
        return DataSplit(trainFile: f, trainRows: train, validationFile: f, validationRows: validation)
    }
}

extension MVLT {
    /// ITM logits (B, 2) only: the four stages, then the ITM head on [CLS] (no MLM or MIR head is run).
    public func itmLogits(image: Tensor, inputIds: Tensor) throws -> Tensor {
        guard let itm_head, let itm_head_embed else {
            throw TrainError.badArgument("this MVLT has no ITM head (trained with --no-itm)")
        }
        let (_, texts) = try features(image: image, inputIds: inputIds)
        return try itm_head(itm_head_embed(texts[3].select(dim: 1, index: 0)))
    }
}
