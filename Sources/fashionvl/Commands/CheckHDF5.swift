import ArgumentParser
import FashionData
import Foundation

/// `fashionvl check-hdf5 FILE` (hidden): the child-process check every HDF5 file gets before this process opens
/// it (UntrustedHDF5.swift). Exit 0: the file opened and every row of every key read; 1: an error (printed);
/// a signal: libhdf5 crashed on the file, which the parent reports as an error naming it.
struct CheckHDF5: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-hdf5", abstract: "Open a Fashion-Gen HDF5 file in this process (the child check).",
        shouldDisplay: false)

    @Argument(help: "A Fashion-Gen HDF5 file.")
    var file: String

    /// Every other command checks HDF5 files in a child process: the small fashionvl-check-hdf5 executable beside
    /// this one when it is there (it links libhdf5 but not libtorch, so it starts in milliseconds), else this
    /// command. Verdicts are kept in FASHIONVL_HDF5_CHECK_CACHE (a folder; `off` keeps none), by default
    /// $XDG_CACHE_HOME/fashionvl/hdf5-checks or ~/.cache/fashionvl/hdf5-checks.
    static func installForThisProcess() {
        guard CommandLine.arguments.dropFirst().first != configuration.commandName else { return }
        let env = ProcessInfo.processInfo.environment
        let seconds = env["FASHIONVL_HDF5_CHECK_TIMEOUT"].flatMap(Double.init) ?? 300
        let me = "/proc/self/exe", subcommand = [me, configuration.commandName!]
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: me)) ?? me
        let light = (exe as NSString).deletingLastPathComponent + "/fashionvl-check-hdf5"
        let cache: String?
        switch env["FASHIONVL_HDF5_CHECK_CACHE"] {
        case "off", "0", "": cache = nil
        case let .some(folder): cache = folder
        case nil:
            let base = env["XDG_CACHE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
                ?? (env["HOME"].map { $0 + "/.cache" } ?? NSTemporaryDirectory())
            cache = base + "/fashionvl/hdf5-checks"
        }
        if FileManager.default.isExecutableFile(atPath: light) {
            UntrustedHDF5.useChildProcess(executable: light, arguments: [], timeout: seconds, fallback: subcommand,
                                          cacheDirectory: cache)
        } else {
            UntrustedHDF5.useChildProcess(executable: me, arguments: [configuration.commandName!], timeout: seconds,
                                          cacheDirectory: cache)
        }
    }

    func run() throws {
        let status = UntrustedHDF5.childMain(file: file)
        if status != 0 { throw ExitCode(status) }
    }
}
