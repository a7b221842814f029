// Ranks of a block of queries against a whole gallery, computed by libtorch on the block's device: the full
// protocol never holds n² scores in Swift arrays, only one (c, n) block at a time.
import Torch

extension Retrieval {
    /// Ranks of a (c, n) score block: query i's own candidate is `positives[i]`; `correct` (c, n) bool, when given,
    /// marks further candidates that count as correct (ties distinct-text: products sharing the positive's text).
    /// The query's score is the best score among its correct candidates; the others are not negatives. Same tie
    /// and NaN rules as `ranks(scores:positives:)`: pessimistic = 1 + #{negatives v with !(v < s)}, optimistic =
    /// 1 + #{negatives v with v > s}, so without `correct` the ranks equal that function's on the same numbers.
    public static func ranks(block: Tensor, positives: [Int], correct: Tensor? = nil) throws -> QueryRanks {
        let shape = block.shape
        guard shape.count == 2, shape[0] == positives.count else {
            throw EvalError.invalidArgument("Retrieval.ranks: a block of shape \(shape) for \(positives.count) queries")
        }
        let n = shape[1]
        if let bad = positives.first(where: { !(0..<n).contains($0) }) {
            throw EvalError.invalidArgument("Retrieval.ranks: positive index \(bad) is outside the block's \(n) candidates")
        }
        if let correct, correct.shape != shape {
            throw EvalError.invalidArgument("Retrieval.ranks: correct-candidate mask of shape \(correct.shape) for a block of shape \(shape)")
        }
        return try Torch.noGrad {
            let dev = block.device
            let scores = try block.dtype == .float32 ? block : block.to(dtype: .float32)
            let own = try Tensor(positives.map(Int64.init), shape: [positives.count, 1], device: dev)
            var isCorrect = try Tensor.arange(0, Double(n), device: dev).unsqueeze(0).eq(own)
            if let correct { isCorrect = try isCorrect.logicalOr(correct.to(device: dev)) }
            let negative = try isCorrect.logicalNot()
            let s = try scores.maskedFill(negative, -Double.infinity).amax(dims: [1], keepdim: true)
            let atLeast = try negative.logicalAnd(scores.lt(s).logicalNot()).sum(dims: [1])
            let above = try negative.logicalAnd(scores.gt(s)).sum(dims: [1])
            let pess = try atLeast.to(device: .cpu).to(dtype: .int64).toArray(Int64.self)
            let opt = try above.to(device: .cpu).to(dtype: .int64).toArray(Int64.self)
            return QueryRanks(pessimistic: pess.map { 1 + Int($0) }, optimistic: opt.map { 1 + Int($0) })
        }
    }
}
