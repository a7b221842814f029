import FashionData
import FashionModels
import Foundation
import Torch

/// Held-out checks of a SyncMask run on up to `evalProducts` validation products (one image each), written to
/// metrics.jsonl every `--eval-every` steps and at the end:
///  - ITC retrieval among those products (each text against every image and back): R@1, R@10;
///  - ITM on the positive pair against a random other product's text and against a same-subcategory product's
///    text (a different text): accuracy at p = 0.5, at the prior-corrected p = 1/3 (ITM trains on 1 positive to
///    2 negatives), and the ROC AUC.
public final class SyncMaskHeldOut {
    let loader: FashionGenLoader
    let subcategory: [Int]
    let hashes: [Int64]
    let device: Device

    public init(split: DataSplit, config rc: SyncMaskPretraining.RunConfig, tokenizer: WordPieceTokenizer, device: Device) throws {
        let ids = try split.validationFile.productIDs
        var seen = Set<Int64>(), rows: [Int] = []
        for r in split.validationRows where seen.insert(ids[r]).inserted && rows.count < rc.recipe.evalProducts { rows.append(r) }
        var c = SyncMaskPretraining.loaderConfig(rc, rows: rows, shuffle: false)
        c.batchSize = 64
        c.padToLongest = false  // the check keeps every text of the set as one (n, L) tensor
        let loader = try FashionGenLoader(file: split.validationFile, config: c, tokenize: tokenizer.captionTokenizer)
        let subs = loader.catalog.subcategoryOfRow, captions = loader.catalog.captions
        subcategory = rows.map { subs[$0] }
        hashes = rows.map { TextHash.of(captions[$0]) }
        self.loader = loader
        self.device = device
    }

    public func evaluate(_ model: SyncMask) throws -> [String: Double] {
        model.eval()
        defer { model.train() }
        return try Torch.noGrad {
            var images: [Tensor] = [], texts: [Tensor] = [], masks: [Tensor] = [], v: [Tensor] = [], t: [Tensor] = []
            for i in 0..<loader.batchesPerEpoch {
                let b = try DeviceBatch(loader.batch(epoch: 0, index: i), device: device)
                let keyMask = try TextEncoder.keyMask(b.attentionMask)
                let img = try model.visual_encoder(b.images)
                let txt = try model.text_encoder.text(b.originalInputIds, keyMask: keyMask)
                images.append(img); texts.append(txt); masks.append(keyMask)
                v.append(try model.imageFeatures(img)); t.append(try model.textFeatures(txt, attentionMask: b.attentionMask))
            }
            let n = subcategory.count
            guard n >= 2 else { return ["val_products": Double(n)] }
            let (img, txt, keyMask) = (try Tensor.cat(images), try Tensor.cat(texts), try Tensor.cat(masks))
            let sim = try Tensor.cat(t).matmul(Tensor.cat(v).transpose(0, 1)).to(device: .cpu).contiguous().toArray(Float.self)
            var out: [String: Double] = ["val_products": Double(n)]
            // Rank of the positive: 1 + the candidates scoring strictly higher.
            func recall(_ score: (Int, Int) -> Float) -> (Double, Double) {
                var r1 = 0, r10 = 0
                for q in 0..<n {
                    let pos = score(q, q)
                    let rank = 1 + (0..<n).filter { $0 != q && score(q, $0) > pos }.count
                    if rank == 1 { r1 += 1 }
                    if rank <= 10 { r10 += 1 }
                }
                return (Double(r1) / Double(n), Double(r10) / Double(n))
            }
            (out["val_tir_r1"], out["val_tir_r10"]) = recall { sim[$0 * n + $1] }
            (out["val_itr_r1"], out["val_itr_r10"]) = recall { sim[$1 * n + $0] }

            // ITM: each image with its own text, a random other text, a same-subcategory other text.
            func probabilities(textOf: [Int]) throws -> [Float] {
                let idx = try Tensor(textOf.map(Int64.init), device: device)
                var out: [Float] = []
                for start in stride(from: 0, to: n, by: 64) {
                    let len = min(64, n - start)
                    let rows = try idx.narrow(dim: 0, start: start, length: len)
                    let logits = try model.itmLogits(text: txt.indexSelect(dim: 0, index: rows),
                                                     keyMask: keyMask.indexSelect(dim: 0, index: rows),
                                                     image: img.narrow(dim: 0, start: start, length: len))
                    out += try logits.softmax(dim: 1).select(dim: 1, index: 1).to(device: .cpu).toArray(Float.self)
                }
                return out
            }
            var rng = SeededRNG(seed: 0x4845_4C44)
            let randomOther = (0..<n).map { i in
                let cands = (0..<n).filter { $0 != i && hashes[$0] != hashes[i] }
                return cands.randomElement(using: &rng) ?? (i + 1) % n
            }
            let sameSub: [Int?] = (0..<n).map { i in
                (0..<n).filter { $0 != i && subcategory[$0] == subcategory[i] && hashes[$0] != hashes[i] }.randomElement(using: &rng)
            }
            let pos = try probabilities(textOf: Array(0..<n))
            let negRandom = try probabilities(textOf: randomOther)
            let negSame = try probabilities(textOf: sameSub.enumerated().map { $1 ?? $0 })
            let sameKept = sameSub.enumerated().compactMap { $1 == nil ? nil : $0 }
            func report(_ name: String, _ neg: [Float], _ keep: [Int]) {
                let p = keep.map { pos[$0] }, q = keep.map { neg[$0] }
                guard !p.isEmpty else { return }
                for (suffix, threshold) in [("", Float(0.5)), ("_prior", Float(1.0 / 3.0))] {
                    let correct = p.filter { $0 > threshold }.count + q.filter { $0 <= threshold }.count
                    out["val_itm_acc_\(name)\(suffix)"] = Double(correct) / Double(2 * p.count)
                }
                var wins = 0.0
                for a in p { for b in q { wins += a > b ? 1 : (a == b ? 0.5 : 0) } }
                out["val_itm_auc_\(name)"] = wins / Double(p.count * q.count)
            }
            report("random", negRandom, Array(0..<n))
            report("samesub", negSame, sameKept)
            return out
        }
    }
}
