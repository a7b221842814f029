// The value types around `GritSampler`: the NEXT rule, its errors, its statistics and its checkpointable state.
import Foundation

/// GROUP's NEXT rule (spec syncmask.md §4.2, "mode switch" `grit_next`).
public enum GritNext: String, Codable, Sendable, CaseIterable {
    /// §4.2: the hardest candidate below the positive logit; candidates exclude the product ids and text hashes of
    /// the anchor and of the mini-batch being filled. The default.
    case semihard
    /// GRIT-VLP: the plain argmax over unused samples (no exclusion), for ablations.
    case hardest
}

/// Which branch of NEXT made a choice.
public enum GritPick: Sendable, Equatable {
    /// The argmax of the semi-hard set SH (§4.2 item 3).
    case semiHard
    /// SH empty, but some candidate scores below the positive: the most similar of those (finite μ_g only).
    case belowPositive
    /// Every candidate scores at or above the positive: the least similar candidate.
    case leastSimilar
    /// No candidate at all: the argmax over every unused sample, counted as a relaxed constraint.
    case relaxed
    /// `hardest` mode: the argmax over every unused sample.
    case hardest
}

public enum GritSamplerError: Error, Equatable, CustomStringConvertible {
    case notPositive(parameter: String, value: String)
    case notMultiple(parameter: String, value: Int, of: String, ofValue: Int)
    case badInput(String)
    case orderUnavailable(epoch: Int, held: Int?)
    case epochMismatch(collecting: Int, finished: Int)
    case stateMismatch(String)

    public var description: String {
        switch self {
        case let .notPositive(p, v): return "\(p) \(v) must be positive"
        case let .notMultiple(p, v, of, ofValue): return "\(p) \(v) is not a multiple of \(of) \(ofValue)"
        case let .badInput(message): return "GRIT sampler: \(message)"
        case let .orderUnavailable(epoch, held):
            let what = held.map { "it holds epoch \($0)'s" } ?? "it holds none"
            return "GRIT sampler: no order for epoch \(epoch) (\(what)); epoch \(epoch) ≥ 1 needs epoch \(epoch - 1) "
                + "finished, or a restored state"
        case let .epochMismatch(collecting, finished):
            return "GRIT sampler: finishEpoch(\(finished)) while collecting epoch \(collecting)"
        case let .stateMismatch(message): return "GRIT sampler state does not fit this sampler: \(message)"
        }
    }
}

/// Counters over the sampler's life (cumulative; diff two snapshots for one epoch).
public struct GritSamplerStats: Codable, Equatable, Sendable {
    public var nextCalls = 0
    public var semiHard = 0, belowPositive = 0, leastSimilar = 0, hardest = 0
    /// NEXT found no candidate (C empty) and fell back to the argmax over all unused samples (§4.2 item 5).
    public var relaxedConstraints = 0
    /// Σ (z⁺ − Z[anchor, chosen]) over NEXT calls, in logits.
    public var positiveMinusChosenSum = 0.0
    public var searchSpaces = 0
    /// Products of an epoch that were never collected (e.g. a dropped last batch), appended to the next order.
    public var uncollectedProducts = 0

    public init() {}

    /// Mean positive-minus-chosen logit: how far below the positive the chosen negatives sit (negative = harder
    /// than the positive).
    public var meanPositiveMinusChosen: Double { nextCalls > 0 ? positiveMinusChosenSum / Double(nextCalls) : 0 }
}

/// Everything later orders depend on. Features are stored as little-endian Float32 bytes (base64 in JSON), so a
/// round trip is bit-exact. Restore it into a sampler built with the same arguments (`GritSampler.restore`).
public struct GritSamplerState: Codable, Equatable, Sendable {
    public var batchSize: Int
    public var searchSpace: Int
    public var buffer: Int
    public var next: GritNext
    /// μ_g; nil = +∞ (JSON has no infinity).
    public var margin: Double?
    public var warmGroup: Int
    public var seed: UInt64
    /// FNV-1a over the product ids and their rows: guards against restoring into another split.
    public var catalogFingerprint: UInt64
    /// The epoch whose features are being collected.
    public var collectingEpoch: Int
    /// The epoch whose product order `order` is (nil while only epoch 0's warm start exists).
    public var orderEpoch: Int?
    /// Product indices (into the sampler's products) in visiting order.
    public var order: [Int]
    /// The grouped product indices built so far for epoch collectingEpoch + 1, before the chunk shuffle, and the
    /// sizes of the search spaces they came from.
    public var nextOrder: [Int]
    public var nextSpaceSizes: [Int]
    /// Buffer flushes in the collecting epoch (seeds the next flush).
    public var flushes: Int
    /// Feature width (0 before the first collect) and the temperature of the latest collect.
    public var dim: Int
    public var temperature: Double
    /// The collection buffer: rows and their (count, dim) features.
    public var bufferRows: [Int]
    public var bufferImage: Data
    public var bufferText: Data
    public var stats: GritSamplerStats
}

extension Array where Element == Float {
    var littleEndianData: Data { withUnsafeBufferPointer { Data(buffer: $0) } }

    init?(littleEndianData data: Data) {
        guard data.count % MemoryLayout<Float>.size == 0 else { return nil }
        self.init(repeating: 0, count: data.count / MemoryLayout<Float>.size)
        withUnsafeMutableBytes { dst in _ = data.copyBytes(to: dst) }
    }
}
