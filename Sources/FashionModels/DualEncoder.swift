import Torch

/// A model that embeds images and texts into one space (ITC) and can score pairs with a cross-encoder (ITM):
/// what retrieval, `embed` and search need from SyncMask (and any later ALBEF-family model).
public protocol DualEncoder: AnyObject {
    /// Side of the square images the model takes, and the text length L of its ids.
    var imageSize: Int { get }
    var textLength: Int { get }
    /// Width of the embeddings.
    var embeddingDim: Int { get }
    /// (B, 3, S, S) float32 in [0, 1] → (B, E) L2-normalised.
    func imageEmbeddings(_ images: Tensor) throws -> Tensor
    /// (B, L) int64 ids and (B, L) int64 attention mask (1 = token) → (B, E) L2-normalised.
    func textEmbeddings(ids: Tensor, attentionMask: Tensor) throws -> Tensor
    /// Probability that image b and text b match (ITM head), for B pairs → (B) float32; nil when the model has
    /// no cross-encoder.
    func matchProbabilities(images: Tensor, ids: Tensor, attentionMask: Tensor) throws -> Tensor?
}
