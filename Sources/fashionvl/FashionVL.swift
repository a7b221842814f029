import ArgumentParser

@main
struct FashionVL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fashionvl",
        abstract: "Fashion vision-language models (MVLT, Kaleido-BERT, SyncMask) in Swift over libtorch.",
        subcommands: [
            Bench.self,
            DebugStep.self,
            Synth.self,
            Import.self,
            Inspect.self,
            Report.self,
            Tokenize.self,
        ]
    )
}
