// The MVLT grid mask (spec mvlt.md §3): the image is cut into n × n cells (n = 16: 16-px cells at 256 px,
// 4-px cells at 64 px) and M = int(ratio · n²) of the n² cells are drawn as masked.
//
// `.slidingWindow` (default) is the original code's rule: the n² cells (n² − M zeros then M ones) are
// permuted into a list c, row i of the grid is c[i ..< i + n] permuted again by its own permutation, so only
// cells 0 … 2n − 2 are ever used and the masked fraction is `ratio` only in expectation. `.randomCells` is the
// paper's rule: row i is c[i·n ..< (i+1)·n], exactly M cells masked.

public struct GridMask: SampleTransform {
    public enum Rule: String, Sendable, CaseIterable { case slidingWindow, randomCells }

    public var rule: Rule
    public var ratio: Double
    /// Cells per side (16 in MVLT at every image size).
    public var cellsPerSide: Int

    public init(rule: Rule = .slidingWindow, ratio: Double = 0.5, cellsPerSide: Int = 16) {
        self.rule = rule
        self.ratio = ratio
        self.cellsPerSide = cellsPerSide
    }

    public func apply(to sample: inout LoaderSample, catalog: LoaderCatalog, rng: inout SeededRNG) {
        let n = cellsPerSide
        let permutation = Self.randomPermutation(n * n, rng: &rng)
        let rowPermutations = rule == .slidingWindow ? (0..<n).map { _ in Self.randomPermutation(n, rng: &rng) } : []
        let cells = Self.cells(rule: rule, n: n, masked: Int(ratio * Double(n * n)),
                               permutation: permutation, rowPermutations: rowPermutations)
        sample.imageMask = CellMask(cellsPerSide: n, cells: cells)
    }

    /// The n × n cell grid (row-major, 1 = masked) for given permutations: `permutation` of 0..<n² gathers
    /// the base list [0 × (n² − masked), 1 × masked]; `rowPermutations[i]` (sliding window only) of 0..<n
    /// gathers row i's window. Same as `cells[perm]` / `cells[i:i+n][row_perm[i]]` in numpy.
    public static func cells(rule: Rule, n: Int, masked: Int, permutation: [Int], rowPermutations: [[Int]]) -> [UInt8] {
        let zeros = n * n - masked
        let c = permutation.map { $0 >= zeros ? UInt8(1) : UInt8(0) }
        switch rule {
        case .randomCells:
            return c
        case .slidingWindow:
            var grid = [UInt8](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in 0..<n { grid[i * n + j] = c[i + rowPermutations[i][j]] }
            }
            return grid
        }
    }

    /// The cell grid scaled to an S × S pixel mask (cells of S/n pixels; the last cell takes any remainder).
    public static func pixels(cells: [UInt8], n: Int, size: Int) -> [Float] {
        var out = [Float](repeating: 0, count: size * size)
        out.withUnsafeMutableBufferPointer { buf in
            if let base = buf.baseAddress { CellMask(cellsPerSide: n, cells: cells).expand(size: size, into: base) }
        }
        return out
    }

    /// A uniform permutation of 0..<count (Fisher–Yates).
    public static func randomPermutation(_ count: Int, rng: inout SeededRNG) -> [Int] {
        var p = Array(0..<count)
        rng.shuffle(&p)
        return p
    }
}
