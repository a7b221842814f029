// `fashionvl embed`: a dual encoder's L2-normalised image and text embeddings of every scored row, as one
// safetensors file written through a temporary file and a rename (nothing half-written on failure).
import FashionData
import FashionModels
import FashionTrain
import Foundation
import Torch

public enum EmbeddingExport {
    public static let format = "fashionvl-embeddings"

    public struct Summary: Codable, Sendable {
        public var out: String
        public var count: Int
        public var embeddingDim: Int
        public var distinctTexts: Int
        public var textField: String
        public var weightsSHA256: String
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case out, count, embeddingDim = "embedding_dim", distinctTexts = "distinct_texts", textField = "text_field",
                 weightsSHA256 = "weights_sha256", seconds
        }
    }

    /// Writes `out` with
    /// - `image_embeddings` (n, E) f32: the image of each row;
    /// - `text_embeddings` (n, E) f32: the row's text in `textField` (each distinct text embedded once);
    /// - `product_ids` (n) i64 and `rows` (n) i64: the row's product and its index in the data file;
    /// and metadata: format, checkpoint (as given), weights (path), weights_sha256 (of the weights file's bytes),
    /// data (the .h5 read), split, text_field, family, model_config (the run's "model" object as JSON),
    /// embedding_dim, image_size, text_length, count.
    /// `parallel`: a data-parallel group whose ranks all call this with the same arguments: each rank embeds a
    /// contiguous share of the rows and of the distinct texts in whole batches of `batch`, the embeddings are
    /// all-gathered in row order, and rank 0 alone writes `out` (the same file as one process writes).
    public static func write(_ model: DualEncoderCheckpoint, checkpoint: String, data: EvaluationData, textField: TextField,
                             batch: Int = 64, device: Device = .cpu, to out: String, showProgress: Bool = true,
                             parallel: DataParallel? = nil) throws -> Summary {
        let start = Date()
        let rows = data.rows ?? Array(0..<data.file.count)
        guard !rows.isEmpty else { throw EvalError.invalidArgument("\(data.path): no rows to embed") }
        let m = model.model
        let batch = max(1, batch)
        let batcher = try PairBatcher(file: data.file, imageSize: m.imageSize, textLength: m.textLength)
        let column = try textField.column(data.file)
        let ids = try data.file.productIDs
        let mine = Sharding.splits(parallel) ? parallel!.share(of: rows.count, unit: batch) : 0..<rows.count
        let progress = showProgress ? ProgressLine(total: mine.count, label: "embed") : nil

        let images = try Sharding.rows(rows.count, unit: batch, over: parallel, trailing: [m.embeddingDim], device: .cpu) { share in
            var parts: [Tensor] = []
            var done = share.lowerBound
            while done < share.upperBound {
                let end = min(done + batch, share.upperBound)
                parts.append(try ITCScorer.embedImages(m, batcher: batcher, rows: Array(rows[done..<end]), batch: batch, device: device)
                    .to(device: .cpu))
                done = end
                progress?.update(done - share.lowerBound, items: done - share.lowerBound)
            }
            return try parts.count == 1 ? parts[0] : Tensor.cat(parts)
        }
        var slot: [String: Int] = [:], distinct: [String] = []
        let textSlots = rows.map { r -> Int64 in
            let t = column[r]
            if let s = slot[t] { return Int64(s) }
            slot[t] = distinct.count
            distinct.append(t)
            return Int64(distinct.count - 1)
        }
        let textTable = try Sharding.rows(distinct.count, unit: batch, over: parallel, trailing: [m.embeddingDim], device: .cpu) {
            try ITCScorer.embedTexts(m, batcher: batcher, texts: Array(distinct[$0]), batch: batch, device: device).to(device: .cpu)
        }
        let texts = try textTable.indexSelect(dim: 0, index: Tensor(textSlots))
        let hash = try SHA256.file(model.weightsPath)
        let metadata: [String: String] = [
            "format": format, "checkpoint": checkpoint, "weights": model.weightsPath, "weights_sha256": hash,
            "data": data.path, "split": data.split, "text_field": textField.rawValue, "family": model.family,
            "model_config": model.modelConfig, "embedding_dim": "\(m.embeddingDim)", "image_size": "\(m.imageSize)",
            "text_length": "\(m.textLength)", "count": "\(rows.count)",
        ]
        let tensors: [(String, Tensor)] = [
            ("image_embeddings", try images.contiguous()), ("text_embeddings", try texts.contiguous()),
            ("product_ids", try Tensor(rows.map { ids[$0] })), ("rows", try Tensor(rows.map(Int64.init))),
        ]
        if parallel?.isMain ?? true {
            try SafeTensors.save(tensors, to: out, metadata: metadata)  // a temporary file, then a rename
        }
        return Summary(out: out, count: rows.count, embeddingDim: m.embeddingDim, distinctTexts: distinct.count,
                       textField: textField.rawValue, weightsSHA256: hash, seconds: Date().timeIntervalSince(start))
    }
}
