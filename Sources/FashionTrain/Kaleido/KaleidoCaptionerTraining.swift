// Training the alignment generator's captioner (spec/kaleido-bert.md §4.2) with the shared trainer: the loader
// gives the rows and the tokenized titles of the train split; the loss function reads the rows' frozen K5 colour
// features from the feature cache (the encoder's grid) and runs teacher-forced SAT. Adam (AdamW with weight decay
// 0), lr 3e-3 (SAT's 4e-4 is too slow for a catalog-sized run: docs/KALEIDO-PREPARE.md) with a short warm-up and cosine decay, gradient clipping at 5, dropout 0.5.
import FashionData
import FashionModels
import Foundation
import Torch

public struct KaleidoCaptionerOptions: Codable, Sendable, Equatable {
    public var epochs = 4
    public var batch = 64
    public var lr = 3e-3
    public var seed: UInt64 = 0
    public var threads = 2
    public var model = KaleidoCaptionerConfig()

    public init() {}
}

public enum KaleidoCaptionerTraining {
    /// The K5 colour features: slots 30..<55 of the 74, the box's 5 × 5 cells row-major (the heat map's grid).
    public static let gridSlots = 30..<55
    public static let grid = 5

    /// The compact vocabulary: the 4 specials, then every WordPiece id of `captions` (sorted).
    public static func vocabulary(_ captions: [[Int32]], tokenizer: WordPieceTokenizer) -> [Int64] {
        let specials: [Int64] = [tokenizer.padID, tokenizer.clsID, tokenizer.sepID, tokenizer.unkID].map(Int64.init)
        let seen = Set(captions.joined().map(Int64.init)).subtracting(specials)
        return specials + seen.sorted()
    }

    /// What the run folder's config.json records.
    struct RunConfig: Codable {
        var options: KaleidoCaptionerOptions
        var train: TrainOptions
        var features: String
        var vocabulary: Int
    }

    /// Trains a captioner on `rows` of `file` (titles, ≤ `model.maxLength` tokens with [CLS] and [SEP]) over the
    /// features of `cache`, in the run folder `run` (created; metrics.jsonl and the final checkpoint there).
    public static func train(file: FashionGenFile, rows: [Int], cache: KaleidoFeatureFile, run: String,
                             options o: KaleidoCaptionerOptions) throws -> (model: KaleidoCaptioner, summary: [String: Double]) {
        guard !rows.isEmpty else { throw TrainError.badArgument("\(file.path): no training rows for the Kaleido captioner") }
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let titles = try file.names
        let captions = rows.map { (try? tokenizer.encode(titles[$0], maxLength: o.model.maxLength)) ?? [] }
        var config = o.model
        config.featureDim = cache.dim
        config.grid = grid
        let vocab = vocabulary(captions, tokenizer: tokenizer)
        Torch.manualSeed(o.seed)
        let model = try KaleidoCaptioner(config, vocabIDs: vocab)
        var compact = [Int64](repeating: Int64(KaleidoCaptioner.unk), count: tokenizer.vocabSize)
        for (i, id) in vocab.enumerated() { compact[Int(id)] = Int64(i) }
        compact[Int(tokenizer.padID)] = Int64(KaleidoCaptioner.pad)
        let toCompact = try Tensor(compact)

        let batch = min(o.batch, rows.count)
        let steps = max(1, o.epochs * (rows.count / batch))
        let train = TrainOptions(steps: steps, batchSize: batch, lr: o.lr, minLR: o.lr / 10, warmupSteps: max(1, steps / 20),
                                 warmupStartLR: o.lr / 10, weightDecay: 0, clipNorm: 5, seed: o.seed, threads: o.threads,
                                 logEvery: 10, checkpointEvery: steps)
        var lc = LoaderConfig.training(train, imageSize: 8, textLength: config.maxLength, rows: rows, shuffle: true, caption: .name)
        lc.padToLongest = true
        let loader = try FashionGenLoader(file: file, config: lc, tokenize: tokenizer.captionTokenizer)
        try? FileManager.default.removeItem(atPath: run)
        try RunFolder.create(RunConfig(options: o, train: train, features: cache.path, vocabulary: vocab.count), run: run)
        let optimizer = AdamW([ParamGroup(params: model.parameters(), weightDecay: 0)], lr: o.lr)
        let trainer = Trainer(runFolder: run, model: model, optimizer: optimizer, options: train, loader: loader,
                              device: .cpu) { b, _ in
            let features = try cache.featureTensor(rows: b.rows, slots: gridSlots)
            let ids = try toCompact.indexSelect(dim: 0, index: b.originalInputIds.reshape([-1])).view(b.originalInputIds.shape)
            let l = try model.loss(features: features, ids: ids)
            return ["total": l.total, "ce": l.ce, "attention_reg": l.attention]
        }
        trainer.label = "kaleido captioner"
        trainer.progressKeys = ["total", "ce", "attention_reg"]
        let last = try trainer.run(resume: false)
        model.eval()
        return (model, last)
    }
}
