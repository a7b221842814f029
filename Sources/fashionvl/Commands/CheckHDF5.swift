import ArgumentParser
import FashionData
import Foundation

/// `fashionvl check-hdf5 FILE` (hidden): the child-process check every HDF5 file gets before this process opens
/// it (UntrustedHDF5.swift). Exit 0: the file opened and its first and last records read; 1: an error (printed);
/// a signal: libhdf5 crashed on the file, which the parent reports as an error naming it.
struct CheckHDF5: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-hdf5", abstract: "Open a Fashion-Gen HDF5 file in this process (the child check).",
        shouldDisplay: false)

    @Argument(help: "A Fashion-Gen HDF5 file.")
    var file: String

    /// Every other command checks HDF5 files in a child process running this command.
    static func installForThisProcess() {
        guard CommandLine.arguments.dropFirst().first != configuration.commandName else { return }
        let seconds = ProcessInfo.processInfo.environment["FASHIONVL_HDF5_CHECK_TIMEOUT"].flatMap(Double.init) ?? 300
        UntrustedHDF5.useChildProcess(executable: "/proc/self/exe", arguments: [configuration.commandName!],
                                      timeout: seconds)
    }

    func run() throws {
        try FashionGenFile.checkInProcess(path: file)
    }
}
