import ArgumentParser

/// `fashionvl evaluate <task>`: the papers' protocols on a checkpoint; JSON on stdout and in the run folder.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint: retrieval (TIR/ITR), category recognition (mcr/scr), masked image generation (mig).",
        subcommands: [
            EvaluateRetrieval.self,
            EvaluateMIG.self,
            EvaluateMCR.self,
            EvaluateSCR.self,
        ]
    )
}
