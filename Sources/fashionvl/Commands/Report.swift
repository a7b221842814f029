import ArgumentParser
import FashionEval
import Foundation

/// `fashionvl report RUN`: one self-contained HTML report (RUN/report.html) from a run folder.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write RUN/report.html: config, loss curves, retrieval and category tables, examples, MIG grids.",
        discussion: "Reads RUN/config.json, RUN/metrics.jsonl and RUN/eval/{retrieval,mcr,scr,mig,examples}.json; "
            + "missing pieces are shown as \"not run\". The HTML inlines every image and chart.")

    @Argument(help: ArgumentHelp("A run folder (as written by `fashionvl pretrain`).", valueName: "run"))
    var folder: String
    @Option(name: .customLong("with"), help: "Another run folder whose category results and SyncMask mask figure join the report (repeatable).")
    var compared: [String] = []

    func run() throws {
        do {
            print(try ReportBuilder(runFolder: folder, compared: compared).write())
        } catch let error as EvalError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
