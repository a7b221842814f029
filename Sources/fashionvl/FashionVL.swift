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
            Embed.self,
            Evaluate.self,
            Finetune.self,
            Pretrain.self,
            Synth.self,
            Import.self,
            Inspect.self,
            KaleidoPrepare.self,
            Report.self,
            Serve.self,
            Tokenize.self,
            CheckHDF5.self,
        ]
    )

    /// Parses and runs a subcommand. Usage errors print as argument-parser prints them; every other error
    /// becomes one `error: …` line on stderr and exit status 1.
    static func main() {
        passiveOpenMP()
        ModelFamilyRegistration.registerAll()
        CheckHDF5.installForThisProcess()
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
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            exit(withError: error)  // --help, --version and other requests of argument-parser itself
        } catch {
            FileHandle.standardError.write(Data("error: \(oneLine(error))\n".utf8))
            Foundation.exit(1)
        }
    }

    /// libtorch's OpenMP threads spin while waiting by default; on a shared 2-core machine two such processes (or
    /// one beside a build) slow each other down several-fold (measured: two pretraining jobs 128 s vs 28 s), for a
    /// 5 % gain when alone. libgomp reads OMP_WAIT_POLICY when it is loaded, before `main`, so the process
    /// re-executes itself once with it set. Set OMP_WAIT_POLICY yourself to choose otherwise.
    static func passiveOpenMP() {
        guard getenv("OMP_WAIT_POLICY") == nil else { return }
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returns only on failure: carry on with the default policy.
    }
}

/// An error's text on one line (libhdf5's messages, for one, may carry newlines).
func oneLine(_ error: Error) -> String {
    "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
}
