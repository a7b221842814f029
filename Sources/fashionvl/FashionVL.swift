import ArgumentParser
import Foundation

@main
struct FashionVL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fashionvl",
        abstract: "Fashion vision-language models (MVLT, Kaleido-BERT, SyncMask) in Swift over libtorch.",
        subcommands: [
            Bench.self,
            DebugStep.self,
            Evaluate.self,
            Finetune.self,
            Pretrain.self,
            Synth.self,
            Import.self,
            Inspect.self,
            Report.self,
            Tokenize.self,
        ]
    )

    /// Parses and runs a subcommand. Usage errors print as argument-parser prints them; every other error
    /// becomes one `error: …` line on stderr and exit status 1.
    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
        } catch let e as ExitCode {
            exit(withError: e)
        } catch let e as CleanExit {
            exit(withError: e)
        } catch let e as ValidationError {
            exit(withError: e)
        } catch {
            let text = "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .joined(separator: " ")
            FileHandle.standardError.write(Data("error: \(text)\n".utf8))
            Foundation.exit(1)
        }
    }
}
