import Foundation

/// Progress of a long job: a live line on a terminal (step/total, values, items/s, ETA), plain periodic lines
/// otherwise (logs, CI).
public final class ProgressLine {
    public let total: Int
    public let label: String
    private let live: Bool
    private let start = Date()
    private var lastPrint = Date.distantPast
    private let plainEvery: TimeInterval
    private var firstDone: Int?

    public init(total: Int, label: String, plainEvery: TimeInterval = 10) {
        self.total = total
        self.label = label
        live = isatty(STDERR_FILENO) != 0
        self.plainEvery = plainEvery
    }

    /// Reports `done` of `total` with values like ["loss": 1.23]; `items` is the number of samples so far.
    public func update(_ done: Int, items: Int, values: [(String, Double)] = [], force: Bool = false) {
        let now = Date()
        let interval = live ? 0.2 : plainEvery
        guard force || done == total || now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(items) / elapsed : 0
        if firstDone == nil { firstDone = done }
        let fresh = done - (firstDone ?? 0)
        let eta = fresh > 0 ? elapsed / Double(fresh) * Double(total - done) : 0
        let vals = values.map { "\($0.0) \(String(format: "%.4f", $0.1))" }.joined(separator: "  ")
        let line = "\(label) \(done)/\(total)  \(vals)  \(String(format: "%.1f", rate)) samples/s  ETA \(ProgressLine.format(eta))"
        if live {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (done == total ? "\n" : "")).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    public static func format(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
