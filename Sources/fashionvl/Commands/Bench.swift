import ArgumentParser

/// `fashionvl bench <what>`: benchmarks that print one JSON line each.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks; each prints one JSON line.",
        subcommands: [
            BenchTorchStep.self,
            BenchTokenizer.self,
            BenchLoader.self,
            BenchMVLT.self,
            BenchSyncMask.self,
            BenchITCRank.self,
            BenchEffNet.self,
            BenchAllReduce.self,
            BenchKaleido.self,
            BenchSearch.self,
        ]
    )
}
