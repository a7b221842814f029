// Category recognition metrics (protocols.md §4): accuracy, macro-F1 over the classes present in
// y_true ∪ y_pred (sklearn `f1_score(average='macro')` with labels=None, as MVLT and FashionSAP call it),
// macro-F1 over all classes (Kaleido's `labels=range(n)`: classes absent from both count as F1 = 0), and the
// confusion matrix (rows = truth, columns = prediction, as sklearn's `confusion_matrix`).
import Foundation

/// Class names from the train split in sorted order; labels unseen in train map to `unknownIndex`, which no
/// prediction can take, so they always score as errors (protocols.md §1).
public struct ClassList: Codable, Equatable, Sendable {
    public var names: [String]
    public var count: Int { names.count }
    /// The label index of a class unseen in train (one past the last class).
    public var unknownIndex: Int { names.count }

    public init(trainLabels: [String]) { names = Array(Set(trainLabels)).sorted() }

    public func index(of label: String) -> Int {
        var lo = 0, hi = names.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if names[mid] < label { lo = mid + 1 } else { hi = mid }
        }
        return lo < names.count && names[lo] == label ? lo : unknownIndex
    }

    /// Names for confusion-matrix axes, with "unknown" appended.
    public var namesWithUnknown: [String] { names + ["unknown"] }
}

public struct ClassificationMetrics: Codable, Equatable, Sendable {
    public var samples: Int
    /// Fractions in [0, 1].
    public var accuracy: Double
    /// Mean F1 over the sorted union of true and predicted labels (sklearn's default).
    public var macroF1: Double
    /// Mean F1 over 0..<classCount; classes absent from truth and prediction count as 0.
    public var macroF1AllClasses: Double
    public var classCount: Int
    /// The labels the present-class macro-F1 averaged over.
    public var presentClasses: [Int]
    /// F1 per label 0..<classCount.
    public var perClassF1: [Double]
    /// confusion[t][p] = number of samples of true label t predicted as p; classCount × classCount.
    public var confusion: [[Int]]
}

public enum Classification {
    /// Labels must lie in 0..<classCount (reserve one class for "unknown" when the truth can contain it).
    public static func evaluate(truth: [Int], predicted: [Int], classCount: Int) throws -> ClassificationMetrics {
        guard truth.count == predicted.count else {
            throw EvalError.invalidArgument("Classification.evaluate: \(truth.count) true labels but \(predicted.count) predictions")
        }
        guard !truth.isEmpty else { throw EvalError.invalidArgument("Classification.evaluate: no samples") }
        for (name, labels) in [("true", truth), ("predicted", predicted)] {
            if let bad = labels.first(where: { $0 < 0 || $0 >= classCount }) {
                throw EvalError.invalidArgument("Classification.evaluate: \(name) label \(bad) outside 0..<\(classCount)")
            }
        }
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
        for (t, p) in zip(truth, predicted) { confusion[t][p] += 1 }
        var f1 = [Double](repeating: 0, count: classCount)
        var correct = 0
        for c in 0..<classCount {
            let tp = confusion[c][c]
            correct += tp
            let fn = confusion[c].reduce(0, +) - tp
            let fp = confusion.reduce(0) { $0 + $1[c] } - tp
            // 2PR/(P+R) = 2tp/(2tp+fp+fn); 0 when the denominator is 0 (sklearn's zero_division default).
            let denom = 2 * tp + fp + fn
            f1[c] = denom > 0 ? Double(2 * tp) / Double(denom) : 0
        }
        let present = Array(Set(truth).union(predicted)).sorted()
        return ClassificationMetrics(
            samples: truth.count, accuracy: Double(correct) / Double(truth.count),
            macroF1: present.map { f1[$0] }.reduce(0, +) / Double(present.count),
            macroF1AllClasses: f1.reduce(0, +) / Double(classCount), classCount: classCount,
            presentClasses: present, perClassF1: f1, confusion: confusion)
    }

    /// Index of the largest logit per row (first on ties, as torch.argmax).
    public static func argmax(_ logits: [[Float]]) -> [Int] {
        logits.map { row in
            var best = 0
            for (i, v) in row.enumerated() where v > row[best] { best = i }
            return best
        }
    }
}
