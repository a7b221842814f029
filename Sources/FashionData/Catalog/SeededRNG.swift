// The catalog's only source of randomness: xoshiro256** seeded through SplitMix64. Same seed → same
// stream on every platform; no Foundation randomness, no hashing with per-process seeds.

public struct SeededRNG: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// Seeds the four state words from SplitMix64(seed).
    public init(seed: UInt64) {
        var sm = seed
        s0 = SeededRNG.splitMix(&sm); s1 = SeededRNG.splitMix(&sm)
        s2 = SeededRNG.splitMix(&sm); s3 = SeededRNG.splitMix(&sm)
    }

    /// An independent stream for item `index` of the stream family `seed` (e.g. one per product).
    public init(seed: UInt64, stream index: UInt64) {
        var sm = seed ^ (index &* 0x9E37_79B9_7F4A_7C15)
        self.init(seed: SeededRNG.splitMix(&sm) ^ index)
    }

    @inline(__always) static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = SeededRNG.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = SeededRNG.rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * unit() }

    /// Uniform integer in the closed range (unbiased by rejection).
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) + 1
        let limit = UInt64.max - UInt64.max % span
        var r = next()
        while r >= limit { r = next() }
        return range.lowerBound + Int(r % span)
    }

    /// True with probability p.
    public mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// One element, uniformly; the array must not be empty.
    public mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    /// One element drawn with the given non-negative weights.
    public mutating func pick<T>(_ items: [T], weights: [Double]) -> T {
        let total = weights.reduce(0, +)
        var r = unit() * total
        for (item, w) in zip(items, weights) {
            if r < w { return item }
            r -= w
        }
        return items[items.count - 1]
    }

    /// Fisher–Yates shuffle.
    public mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, int(0...i))
        }
    }
}

/// A stateless 2-D hash to [0, 1), for procedural patterns (floral blobs, camouflage noise).
@inline(__always) func hash2(_ x: Int32, _ y: Int32, _ salt: UInt32) -> Float {
    var h = UInt32(bitPattern: x) &* 0x8DA6_B343 ^ UInt32(bitPattern: y) &* 0xD816_3841 ^ salt &* 0xCB1A_B31F
    h ^= h >> 13; h = h &* 0x5BD1_E995; h ^= h >> 15
    return Float(h >> 8) * (1.0 / 16_777_216.0)
}
