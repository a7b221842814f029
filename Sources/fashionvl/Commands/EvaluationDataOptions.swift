import ArgumentParser
import FashionEval

/// `--data` and `--all-rows`, shared by every `evaluate` subcommand (the rows rule is `EvaluationData`'s).
struct EvaluationDataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A data folder (its validation.h5) or a Fashion-Gen .h5 file.", discussion:
        "On the single file the checkpoint's run trained on, only the products that run held out are scored."))
    var data: String
    @Flag(help: "Score every row of a single --data file, even the checkpoint's own training rows.")
    var allRows = false

    /// The file and rows to score for a checkpoint from `run` (nil for a bare weights file).
    func open(run: String?) throws -> EvaluationData { try EvaluationData.open(data, run: run, allRows: allRows) }
}
