// The index on disk is a `fashionvl embed` file (EmbeddingExport): image and text embeddings, product ids and
// rows, with the weights' SHA-256 in its metadata. Loading checks it against the checkpoint and the catalog
// being served, so a stale file is an error instead of wrong results; a missing one is built (every row of the
// catalog) and written beside it first.
import FashionData
import FashionEval
import Foundation
import Torch

public enum IndexFile {
    /// `<catalog without .h5>.<text field>.embeddings.safetensors`, beside the catalog.
    public static func defaultPath(catalog: String, textField: TextField) -> String {
        let base = catalog.hasSuffix(".h5") ? String(catalog.dropLast(3)) : catalog
        return "\(base).\(textField.rawValue).embeddings.safetensors"
    }

    /// Loads `path`, building it first when absent. `checkpoint` is the run folder as given.
    public static func openOrBuild(_ path: String, model: DualEncoderCheckpoint, checkpoint: String, catalog: Catalog,
                                   textField: TextField, device: Device = .cpu) throws -> ExactIndex {
        if !FileManager.default.fileExists(atPath: path) {
            let data = try EvaluationData.open(catalog.path, run: nil, allRows: true)
            _ = try EmbeddingExport.write(model, checkpoint: checkpoint, data: data, textField: textField, device: device,
                                          to: path, showProgress: false)
        }
        return try load(path, model: model, catalog: catalog, textField: textField, device: device)
    }

    /// Loads and checks `path`: its format, weights SHA-256, text field and width, and that its rows are the
    /// catalog's rows 0..<n with the catalog's product ids.
    public static func load(_ path: String, model: DualEncoderCheckpoint, catalog: Catalog, textField: TextField,
                            device: Device = .cpu) throws -> ExactIndex {
        let (tensors, meta) = try SafeTensors.load(path, device: device)
        func field(_ key: String) throws -> String {
            guard let v = meta[key] else { throw SearchIndexError.missing(file: path, key: key) }
            return v
        }
        func tensor(_ key: String) throws -> Tensor {
            guard let t = tensors[key] else { throw SearchIndexError.missing(file: path, key: key) }
            return t
        }
        func expect(_ name: String, _ expected: String, _ found: String) throws {
            guard expected == found else { throw SearchIndexError.mismatch(file: path, field: name, expected: expected, found: found) }
        }
        try expect("format", EmbeddingExport.format, try field("format"))
        try expect("weights_sha256", try SHA256.file(model.weightsPath), try field("weights_sha256"))
        try expect("text_field", textField.rawValue, try field("text_field"))
        try expect("embedding_dim", "\(model.model.embeddingDim)", try field("embedding_dim"))
        let rows = try tensor("rows").to(device: .cpu).toArray(Int64.self).map(Int.init)
        try expect("row count", "\(catalog.rowCount)", "\(rows.count)")
        try expect("rows", "0..<\(catalog.rowCount)", rows == Array(0..<catalog.rowCount) ? "0..<\(catalog.rowCount)" : "another order or subset")
        let ids = try tensor("product_ids").to(device: .cpu).toArray(Int64.self)
        if let i = ids.indices.first(where: { ids[$0] != catalog.productIDs[$0] }) {
            throw SearchIndexError.mismatch(file: path, field: "product_ids[\(i)]", expected: "\(catalog.productIDs[i])", found: "\(ids[i])")
        }
        return try ExactIndex(images: try tensor("image_embeddings"), texts: try tensor("text_embeddings"), rows: rows)
    }
}
