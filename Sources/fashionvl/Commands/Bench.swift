import ArgumentParser

/// `fashionvl bench <what>`: benchmarks that print one JSON line each.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks; each prints one JSON line.",
        subcommands: [
            BenchTorchStep.self,
            BenchTokenizer.self,
            BenchLoader.self,
            BenchMVLT.self,
        ]
    )
}
