// Label spaces of category recognition (protocols.md §1): the class lists come from the train split in sorted
// order; the labels of any other file are mapped to them by name, and a name the train split never had maps to
// `unknown`, which no prediction can take, so it always scores as an error.
import FashionData
import FashionModels
import Foundation

/// The two category heads of MVLT (mvlt.md §4.6) and the recognition task each one serves.
public enum CategoryHead: String, Codable, Sendable, CaseIterable {
    /// M-CR: main categories, `sup_cls_head` (48 outputs).
    case mcr
    /// S-CR: subcategories, `sub_cls_head` (122 outputs).
    case scr

    /// The name used in result files and the report.
    public var taskName: String { self == .mcr ? "M-CR" : "S-CR" }
    /// Outputs of the head; a class list may use fewer (the first `count` logits).
    public var outputs: Int { self == .mcr ? MVLT.supCategories : MVLT.subCategories }
    public var resultFile: String { self == .mcr ? EvalFiles.mcr : EvalFiles.scr }
    /// File name in RUN/eval/ of the confusion-matrix PNG.
    public var confusionImage: String { "\(rawValue)_confusion.png" }
}

/// The train split's sorted category and subcategory names: what a fine-tuning run stores in RUN/config.json
/// and what every evaluation of its checkpoints scores against.
public struct CategoryClasses: Codable, Equatable, Sendable {
    public var categories: [String]
    public var subcategories: [String]

    /// Sorted, de-duplicated names of the given labels.
    public init(categories: [String], subcategories: [String]) {
        self.categories = ClassList(trainLabels: categories).names
        self.subcategories = ClassList(trainLabels: subcategories).names
    }

    /// The classes of `rows` (the train split) of `file`; throws if a head has too few outputs for them.
    public static func fromTrain(_ file: FashionGenFile, rows: [Int]) throws -> CategoryClasses {
        let cats = try file.categories, subs = try file.subcategories
        let c = CategoryClasses(categories: rows.map { cats[$0] }, subcategories: rows.map { subs[$0] })
        for head in CategoryHead.allCases where c.list(head).count > head.outputs {
            throw EvalError.invalidArgument("\(file.path): the train split has \(c.list(head).count) "
                + "\(head == .mcr ? "categories" : "subcategories"), more than the \(head.outputs) outputs of MVLT's "
                + "\(head.taskName) head")
        }
        guard !c.categories.isEmpty else { throw EvalError.invalidArgument("\(file.path): the train split has no rows") }
        return c
    }

    public func list(_ head: CategoryHead) -> ClassList {
        ClassList(trainLabels: head == .mcr ? categories : subcategories)
    }
}

/// Maps a file's label indices, which index its own sorted name list (`FashionGenLoader.categories` /
/// `.subcategories`), to the indices of a train class list by name; unseen names map to `classes.unknownIndex`.
public struct LabelRemap: Equatable, Sendable {
    public let classes: ClassList
    /// File index → train index (or `classes.unknownIndex`).
    public let table: [Int]
    /// The file's names that the train split never had, sorted.
    public let unseenNames: [String]

    public init(fileNames: [String], classes: ClassList) {
        self.classes = classes
        table = fileNames.map { classes.index(of: $0) }
        unseenNames = Array(Set(fileNames.filter { classes.index(of: $0) == classes.unknownIndex })).sorted()
    }

    /// The train index of file label `label`; labels outside the file's list are unknown too.
    public func callAsFunction(_ label: Int) -> Int {
        table.indices.contains(label) ? table[label] : classes.unknownIndex
    }

    public func callAsFunction(_ labels: [Int64]) -> [Int] { labels.map { self(Int($0)) } }
}

/// Accuracy and macro-F1 of predictions (train indices in 0..<classes.count) against remapped truth, where
/// unknown truth labels are errors: the matrix gets an "unknown" row and column only when such labels occur,
/// and the all-classes macro-F1 averages the train classes only (sklearn `labels=range(n)`, Kaleido's form).
public enum CategoryScoring {
    public static func score(truth: [Int], predicted: [Int], classes: ClassList) throws -> ClassificationMetrics {
        let unknown = truth.contains(classes.unknownIndex)
        var m = try Classification.evaluate(truth: truth, predicted: predicted,
                                            classCount: classes.count + (unknown ? 1 : 0))
        m.macroF1AllClasses = m.perClassF1.prefix(classes.count).reduce(0, +) / Double(max(classes.count, 1))
        return m
    }

    /// Axis names of `score`'s matrix.
    public static func axisNames(_ m: ClassificationMetrics, classes: ClassList) -> [String] {
        m.classCount > classes.count ? classes.namesWithUnknown : classes.names
    }
}
