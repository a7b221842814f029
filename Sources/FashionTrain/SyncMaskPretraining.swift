import FashionData
import FashionModels
import Foundation
import Torch

extension LoaderConfig.Caption: Codable {}

/// The choices of a SyncMask pretraining run beyond the model (shared/spec/syncmask.md §2–§5, §7 ablations).
public struct SyncMaskRecipe: Codable, Sendable, Equatable {
    public enum Sampler: String, Codable, Sendable, CaseIterable { case grit, random }

    public var terms = SyncMaskTerms()
    /// `sync` (attention-chosen words and patches after the warm-up) or `random` masking.
    public var mask = "sync"
    public var sampler = Sampler.grit
    /// ITM negatives after the first `itmRandomSteps` steps (which draw random in-batch candidates: a binary
    /// match objective from scratch leaves chance only on easy negatives, docs/SYNCMASK.md).
    public var itmNegatives = ITMNegativeRule.semihardTop1
    public var itmRandomSteps = 0
    /// ITC against the momentum bank and queue (ALBEF, the default: nil) or the batch's student features (CLIP).
    /// Optional so that run folders written before it existed still resume.
    public var itc: SyncMaskITC?
    /// The text the model reads: the product title (`name`) or its description.
    public var caption = LoaderConfig.Caption.name
    /// GRIT search space M and collection buffer Q (multiples of the batch and of M), NEXT rule.
    public var gritSearchSpace = 256
    public var gritBuffer = 1024
    public var gritNext = "semihard"
    /// p_sync warm-up as a share of the steps.
    public var syncWarmup = 0.1
    /// Validation products for the held-out retrieval and ITM checks.
    public var evalProducts = 256

    public init() {}
}

/// SyncMask pretraining with the shared trainer: per step the momentum pass, the synchronized masks from its
/// cross-attention, the student's ITC + ITM + MLM + MIM, the queue update, and GRIT's feature collection.
public final class SyncMaskPretraining {
    /// What RUN/config.json holds; a resumed run must find the same values.
    public struct RunConfig: Codable, Sendable {
        public var model: SyncMaskConfig
        public var train: TrainOptions
        public var data: String
        public var recipe: SyncMaskRecipe
    }

    public let runConfig: RunConfig
    public let model: SyncMask
    let trainer: Trainer
    let resume: Bool
    let masks: MaskStats

    /// Counts of the masks over the run (what the JSON summary reports).
    final class MaskStats {
        var samples = 0, syncSamples = 0, words = 0, visibleWords = 0, relaxed = 0
    }

    /// `towers` (`pretrain --init`) overrides the config's `text_init` / `image_init`; a resumed run keeps its own.
    public init(options o: MVLTPretraining.Options, recipe: SyncMaskRecipe, resume: Bool, towers: SyncMaskTowerInit? = nil) throws {
        let dp = o.dataParallel, main = dp?.isMain ?? true, world = dp?.worldSize ?? 1
        let saved = main || resume ? try RunFolder.savedConfig(RunConfig.self, run: o.run, resume: resume, kind: "SyncMask pretraining run") : nil
        if saved != nil, towers != nil {
            throw TrainError.badArgument("--init starts a run from pretrained towers; \(o.run) is resumed from its checkpoint (its config.json keeps the towers it started from)")
        }
        var modelConfig = try saved?.model ?? SyncMaskConfig.load(nameOrPath: o.config)
        if let towers { modelConfig = towers.applied(to: modelConfig) }
        do { try modelConfig.validate() } catch let ModelError.invalidConfig(field, reason) {
            throw ModelError.configFile(path: towers != nil ? "--init" : o.config, field: field, reason: reason)
        }
        let split = try DataSplit.open(o.data, seed: o.seed)
        let recipe = saved?.recipe ?? recipe
        // Only the momentum ITC is independent of how the global batch is split (its banks hold the gathered global
        // batch); ITM's in-batch negatives and the per-process MLM/MIM normalisation and mask sampling are not.
        let splitInvariant = recipe.terms.itc && !recipe.terms.itm && !recipe.terms.mlm && !recipe.terms.mim
            && (recipe.itc ?? .momentum) == .momentum
        let train = try saved?.train.resumed(onWorld: world, splitInvariant: splitInvariant, run: o.run)
            ?? MVLTPretraining.trainOptions(o, trainRows: split.trainRows.count)
        try SyncMaskPretraining.check(split: split, batch: train.globalBatch, recipe: recipe, data: o.data)
        let rc = RunConfig(model: modelConfig, train: train, data: o.data, recipe: recipe)
        runConfig = rc
        Torch.manualSeed(train.seed)
        let model = try SyncMask(modelConfig)
        // Before the run folder, so that a wrong or missing weights file leaves none. A resumed run loads them too
        // (its checkpoint then overwrites them), so that one killed before its first checkpoint starts as it did.
        for line in try model.loadPretrainedTowers() { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
        if saved == nil, main { try RunFolder.create(rc, run: o.run) }
        try model.to(o.device)
        self.model = model
        let optimizer = AdamW(ParamGroup.decayAndNoDecay(model.trainableParameters(), weightDecay: train.weightDecay),
                              lr: train.lr, betas: (0.9, 0.999), eps: 1e-8)
        let tokenizer = try WordPieceTokenizer.bertBaseUncased()
        let loader = try FashionGenLoader(file: split.trainFile,
                                          config: SyncMaskPretraining.loaderConfig(rc, rows: split.trainRows, shuffle: true,
                                                                                   rank: dp?.rank ?? 0),
                                          tokenize: tokenizer.captionTokenizer)
        let hashes = loader.catalog.captions.map(TextHash.of)
        let selector = SyncMaskSelector(vocab: try SyncMaskVocab.bertBaseUncased(), textRatio: modelConfig.mlmProbability,
                                        imageRatio: modelConfig.mimRatio, poolFactor: modelConfig.poolFactor,
                                        mode: recipe.mask == "random" ? .random : .sync, warmupFraction: recipe.syncWarmup)
        let visible = try SyncMaskPretraining.visibleWords(split.trainFile)
        let stats = MaskStats()
        masks = stats
        let stepsPerEpoch = max(1, loader.batchesPerEpoch)
        let sampler = recipe.sampler == .grit
            ? try GritSampler(rows: split.trainRows, productIDOfRow: loader.catalog.productIDs, textHashOfRow: hashes,
                              subcategoryOfRow: loader.catalog.subcategoryOfRow,
                              categoryOfRow: try SyncMaskPretraining.categoryOfRow(split.trainFile),
                              batchSize: train.globalBatch, searchSpace: recipe.gritSearchSpace, buffer: recipe.gritBuffer,
                              next: recipe.gritNext == "hardest" ? .hardest : .semihard,
                              warmGroup: train.globalBatch, seed: train.seed)
            : nil
        let device = o.device
        let gather: ((Tensor) throws -> Tensor)? = dp.map { dp in { t in try dp.allGather(t) } }
        trainer = Trainer(runFolder: o.run, model: model, optimizer: optimizer, options: train, loader: loader,
                          device: device) { batch, step in
            let b = batch.batchSize
            // α ramps from 0 over the first epoch (ALBEF).
            let alpha = modelConfig.alpha * min(1, Double(step) / Double(stepsPerEpoch))
            let x = SyncMaskInputs(images: batch.images, ids: batch.originalInputIds, attentionMask: batch.attentionMask,
                                   productIDs: try Tensor(batch.productIDs, device: device),
                                   textHashes: try Tensor(batch.rows.map { hashes[$0] }, device: device))
            let wantMasks = rc.recipe.terms.mlm || rc.recipe.terms.mim
            let mp = try model.momentumPass(x, alpha: alpha, syncAttention: wantMasks && selector.mode == .sync,
                                            gather: gather, rank: dp?.rank ?? 0)
            var rng = SeededRNG(seed: train.seed, stream: 0x5359_4E43_0000_0000 | UInt64(step))
            var masks: SyncMaskMasks?
            var chosen: SyncMaskBatch?
            if wantMasks {
                let ids = try batch.originalInputIds.to(device: .cpu).toArray(Int64.self)
                let att = try batch.attentionMask.to(device: .cpu).toArray(Int64.self)
                let attention = try mp.syncAttention.map { try $0.to(device: .cpu).contiguous().toArray(Float.self) } ?? []
                let m = try selector.select(attention: attention, ids: ids, attentionMask: att, batchSize: b,
                                            patches: modelConfig.patches, step: step, totalSteps: train.steps, rng: &rng)
                let l = batch.originalInputIds.size(1)
                masks = SyncMaskMasks(mlmIds: try Tensor(m.maskedIds, shape: [b, l], device: device),
                                      mlmLabels: try Tensor(m.labels, shape: [b, l], device: device),
                                      patchMask: try Tensor(m.patchMaskInt64, shape: [b, modelConfig.patches], device: device).gt(0))
                chosen = m
            }
            let rule = step < rc.recipe.itmRandomSteps ? ITMNegativeRule.random : rc.recipe.itmNegatives
            let l = try model.stepLosses(x, momentum: mp, masks: masks, alpha: alpha, terms: rc.recipe.terms, rule: rule,
                                         itc: rc.recipe.itc ?? .momentum, rng: &rng)
            if let sampler, var v = l.imageFeatures, var t = l.textFeatures {
                var rows = batch.rows
                if let dp {
                    // GRIT's order is global: every rank collects the whole global batch, so all samplers agree.
                    (v, t) = (try dp.allGather(v), try dp.allGather(t))
                    rows = try dp.allGather(Tensor(batch.rows.map(Int64.init), device: device)).to(device: .cpu)
                        .toArray(Int64.self).map { Int($0) }
                }
                try sampler.collect(rows: rows, imageFeatures: v.to(device: .cpu).contiguous().toArray(Float.self),
                                    textFeatures: t.to(device: .cpu).contiguous().toArray(Float.self),
                                    dim: modelConfig.embedDim, temperature: model.temp.item())
            }
            var values: [String: Tensor] = ["total": l.total, "temp": try model.temp.detach(),
                                            "alpha": try Tensor.full([], alpha)]
            for (k, v) in [("itc", l.itc), ("itm", l.itm), ("mlm", l.mlm), ("mim", l.mim), ("itm_acc", l.itmAccuracy)] {
                if let v { values[k] = v }
            }
            if let chosen {
                stats.samples += b
                stats.syncSamples += chosen.syncCount
                stats.words += chosen.chosenWordTexts.count
                stats.visibleWords += chosen.chosenWordTexts.filter { visible.contains($0.lowercased()) }.count
                values["sync_share"] = try Tensor.full([], Double(chosen.syncCount) / Double(b))
                values["visible_share"] = try Tensor.full([], chosen.visibleShare(in: visible))
            }
            stats.relaxed += (l.negativeImage?.relaxed ?? 0) + (l.negativeText?.relaxed ?? 0)
            return values
        }
        trainer.label = "pretrain syncmask"
        trainer.dataParallel = dp
        trainer.progressKeys = ["total", "itc", "itm", "mlm", "mim", "itm_acc"]
        if let sampler {
            trainer.epochOrder = { epoch in
                // The previous epoch's last, partial batch is never trained: group what was collected.
                if epoch > 0 { try sampler.finishEpoch(epoch - 1) }
                return try sampler.order(epoch: epoch)
            }
            trainer.extraState = (save: { String(decoding: try JSONEncoder().encode(sampler.state()), as: UTF8.self) },
                                  restore: { try sampler.restore(JSONDecoder().decode(GritSamplerState.self, from: Data($0.utf8))) })
        }
        let held = try SyncMaskHeldOut(split: split, config: rc, tokenizer: tokenizer, device: device)
        trainer.evaluate = { _ in try held.evaluate(model) }
        self.resume = resume
    }

    /// Trains; returns the last step's values, the held-out checks and the mask statistics.
    public func run() throws -> [String: Double] {
        var out = try trainer.run(resume: resume)
        if masks.words > 0 {
            out["masked_words_visible_share"] = Double(masks.visibleWords) / Double(masks.words)
            out["sync_sample_share"] = Double(masks.syncSamples) / Double(max(1, masks.samples))
        }
        out["itm_relaxed_anchors"] = Double(masks.relaxed)
        return out
    }

    static func loaderConfig(_ rc: RunConfig, rows: [Int], shuffle: Bool, rank: Int? = nil) -> LoaderConfig {
        var c = LoaderConfig.training(rc.train, imageSize: rc.model.imageSize, textLength: rc.model.textLength,
                                      rows: rows, shuffle: shuffle, caption: rc.recipe.caption, rank: rank)
        c.padToLongest = true
        return c
    }

    /// Refuses data that cannot train contrastively: fewer than two products, or fewer rows than a batch.
    static func check(split: DataSplit, batch: Int, recipe: SyncMaskRecipe, data: String) throws {
        let ids = try split.trainFile.productIDs
        let products = Set(split.trainRows.map { ids[$0] }).count
        guard products >= 2 else {
            throw TrainError.badArgument("\(data): the training split has \(products) product(s); SyncMask's contrastive and matching losses need at least 2 (negatives come from other products)")
        }
        if recipe.sampler == .grit {
            // The sampler checks these too; checked here as well so that a refused run leaves no run folder.
            guard recipe.gritSearchSpace > 0, recipe.gritSearchSpace % batch == 0 else {
                throw GritSamplerError.notMultiple(parameter: "--grit-search-space", value: recipe.gritSearchSpace, of: "--batch", ofValue: batch)
            }
            guard recipe.gritBuffer > 0, recipe.gritBuffer % recipe.gritSearchSpace == 0 else {
                throw GritSamplerError.notMultiple(parameter: "--grit-buffer", value: recipe.gritBuffer, of: "--grit-search-space",
                                                   ofValue: recipe.gritSearchSpace)
            }
        }
        guard split.trainRows.count >= batch else {
            throw TrainError.badArgument("\(data): the training split has \(split.trainRows.count) rows, fewer than --batch \(batch)")
        }
        let captions: [String]
        switch recipe.caption {
        case .name: captions = try split.trainFile.names
        case .description: captions = try split.trainFile.descriptions
        case .concatDescription: captions = try split.trainFile.concatDescriptions
        }
        if let empty = split.trainRows.first(where: { captions[$0].trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
            throw TrainError.badArgument("\(data): row \(empty) (product \(ids[empty])) has an empty \(recipe.caption.rawValue) text; every training product needs one")
        }
    }

    static func categoryOfRow(_ file: FashionGenFile) throws -> [Int] {
        let cats = try file.categories
        let index = Dictionary(uniqueKeysWithValues: Array(Set(cats)).sorted().enumerated().map { ($1, $0) })
        return cats.map { index[$0] ?? 0 }
    }

    /// Words that name something a product image shows: the visual attributes of the catalog's sidecar
    /// (`attributes.jsonl` beside the file, as `synth` writes: colours, pattern, sleeve, neckline, length, fit,
    /// closure, pockets, logo, texture, garment type), else a fixed list of colour and pattern words. Brand,
    /// composition, country, season and price are not visible.
    public static func visibleWords(_ file: FashionGenFile) throws -> Set<String> {
        var words: Set<String> = ["black", "white", "grey", "gray", "red", "blue", "navy", "green", "yellow", "pink",
                                  "purple", "orange", "brown", "beige", "striped", "stripes", "checked", "floral",
                                  "dotted", "chevron", "solid", "camouflage", "leopard", "plaid"]
        let sidecar = URL(fileURLWithPath: file.path).deletingLastPathComponent().appendingPathComponent("attributes.jsonl")
        guard let text = try? String(contentsOf: sidecar, encoding: .utf8) else { return words }
        let visual = ["colour", "secondaryColour", "pattern", "sleeve", "neckline", "length", "fit", "closure", "pockets",
                      "logo", "texture", "subcategory", "category"]
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let attributes = object["attributes"] as? [String: Any] else { continue }
            for key in visual {
                let value = (attributes[key] as? [String: Any])?["name"] ?? attributes[key]
                guard let phrase = value as? String, phrase != "none" else { continue }
                for w in phrase.lowercased().split(whereSeparator: { !$0.isLetter }) where w.count > 1 {
                    words.insert(String(w))
                    if w.hasSuffix("s") { words.insert(String(w.dropLast())) }   // "skirts" → "skirt"
                }
            }
        }
        return words
    }
}

