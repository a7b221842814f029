// Evaluation and embedding split across the ranks of a data-parallel group (docs/DISTRIBUTED.md): each rank
// computes a contiguous share of the work, the pieces are all-gathered in rank order, so every rank ends with what
// one process computes. The shares are cut in the units one process works in (a forward pass's batch, a block
// of queries), so every forward pass is the one a single process runs and the results are the same numbers.
import FashionTrain
import Torch

enum Sharding {
    /// `body` on this rank's share of 0..<n, cut in whole units of `unit` items, its (share.count, trailing…)
    /// results gathered in rank order, so that every rank holds all n rows; one process: `body(0..<n)`. A rank with
    /// an empty share sends no rows (`body` is not called).
    static func rows(_ n: Int, unit: Int = 1, over group: DataParallel?, trailing: [Int], dtype: DType = .float32,
                     device: Device, _ body: (Range<Int>) throws -> Tensor) throws -> Tensor {
        guard let group, group.worldSize > 1 else { return try body(0..<n) }
        let share = group.share(of: n, unit: unit)
        let mine = share.isEmpty ? try Tensor.zeros([0] + trailing, dtype: dtype, device: device) : try body(share)
        let all = try group.allGatherRows(mine)
        guard all.shape.first == n else {
            throw EvalError.invalidArgument("distributed evaluation: gathered \(all.shape.first ?? 0) rows of \(n)")
        }
        return all
    }

    /// The sum over the ranks of a count (one process: the count).
    static func total(_ count: Int, over group: DataParallel?) throws -> Int {
        guard let group, group.worldSize > 1 else { return count }
        return Int(try group.sum(Double(count)).rounded())
    }

    /// Whether work is split: a group of more than one rank.
    static func splits(_ group: DataParallel?) -> Bool { (group?.worldSize ?? 1) > 1 }
}
