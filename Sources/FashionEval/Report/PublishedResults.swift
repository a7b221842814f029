// Published Fashion-Gen numbers the report prints beside ours (protocols.md §6, mvlt.md §7). They are on the
// real Fashion-Gen validation split, under each paper's own scorer, text field and draws; ours are on whatever
// dataset the run used. Percentages.

public enum PublishedResults {
    public struct Retrieval: Sendable {
        public var method: String
        public var tir: (r1: Double, r5: Double, r10: Double)
        public var itr: (r1: Double, r5: Double, r10: Double)
        public var source: String
        /// Kaleido SumR: all six recalls.
        public var sumR: Double { tir.r1 + tir.r5 + tir.r10 + itr.r1 + itr.r5 + itr.r10 }
    }

    public struct Category: Sendable {
        public var method: String
        public var mcr: (accuracy: Double, macroF1: Double)
        public var scr: (accuracy: Double, macroF1: Double)
        /// Which macro-F1 the code computed ("all classes" for Kaleido's `labels=range(n)`).
        public var f1Form: String
        public var source: String
    }

    public static let retrieval: [Retrieval] = [
        Retrieval(method: "FashionBERT", tir: (26.75, 46.48, 55.74), itr: (23.96, 46.31, 52.12),
                  source: "Kaleido-BERT Table 2"),
        Retrieval(method: "Kaleido-BERT", tir: (33.88, 60.60, 68.59), itr: (27.99, 60.09, 68.37),
                  source: "Kaleido-BERT paper"),
        Retrieval(method: "MVLT", tir: (34.60, 78.00, 89.50), itr: (33.10, 77.20, 91.10),
                  source: "MVLT Tables 2-3, repo README"),
    ]

    public static let category: [Category] = [
        Category(method: "FashionBERT", mcr: (91.25, 70.50), scr: (85.27, 62.00), f1Form: "as published",
                 source: "Kaleido-BERT Table 3"),
        Category(method: "Kaleido-BERT", mcr: (95.07, 71.40), scr: (88.07, 63.60), f1Form: "all classes",
                 source: "Kaleido-BERT paper"),
        Category(method: "MVLT", mcr: (98.26, 89.547), scr: (93.566, 82.859), f1Form: "present classes",
                 source: "MVLT Table 3, released log"),
    ]
}
