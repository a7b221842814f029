import ArgumentParser
import FashionModels
import FashionTrain
import Foundation

/// `pretrain`'s options that only Kaleido-BERT has (Table 4's ablations, spec §5–6); all optional, so that giving
/// one with another family's config is refused instead of ignored.
struct KaleidoOptions: ParsableArguments {
    @Option(help: "Kaleido-BERT: the AKPM subtasks to train, comma-separated from rr, jps, cp, g2cm, b2cm, or none (ablation). Default all five.")
    var akpm: String?
    @Option(help: "Kaleido-BERT: alignment-guided (agm) or random masking (ablation). Default agm.")
    var masking: KaleidoMaskingMode?
    @Option(help: "Kaleido-BERT: the patch feature source: cache (the feature cache and alignments `fashionvl kaleido-prepare --data DIR` writes beside each catalog file) or pixel-grid (pooled pixels, D = 48, for tests). Default cache.")
    var features: String?
    @Option(help: "Kaleido-BERT: the camouflage head, linear (the paper's 9H → 9) or contrast (FashionVL's: each K3 cell scored by its distance from the other eight; learns where linear stays at chance, docs/KALEIDO.md). Default: the config's camouflage_head (linear).")
    var camouflageHead: KaleidoCamouflageHead?

    var given: [String] {
        [("--akpm", akpm != nil), ("--masking", masking != nil), ("--features", features != nil),
         ("--camouflage-head", camouflageHead != nil)].filter(\.1).map(\.0)
    }

    /// The AKPM subtasks of `--akpm`, parsed; one error line naming the option and the unknown name.
    static func akpmTasks(_ list: String) throws -> Set<String> {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        if names == ["none"] { return [] }
        for n in names where !KaleidoTerms.akpmNames.contains(n) {
            throw TrainError.badArgument("--akpm: unknown subtask '\(n)' (known: \(KaleidoTerms.akpmNames.joined(separator: ", ")), or none)")
        }
        return Set(names)
    }

    func recipe(noItm: Bool, noMlm: Bool) throws -> KaleidoRecipe {
        var r = KaleidoRecipe()
        let tasks = try akpm.map(KaleidoOptions.akpmTasks) ?? Set(KaleidoTerms.akpmNames)
        r.terms = KaleidoTerms(amlm: !noMlm, itm: !noItm, rr: tasks.contains("rr"), jps: tasks.contains("jps"),
                               cp: tasks.contains("cp"), g2cm: tasks.contains("g2cm"), b2cm: tasks.contains("b2cm"))
        if !(r.terms.amlm || r.terms.itm || !tasks.isEmpty) {
            throw TrainError.badArgument("--no-mlm, --no-itm and --akpm none leave no loss to train")
        }
        if let masking { r.masking = masking }
        if let features { r.features = features }
        r.camouflageHead = camouflageHead
        return r
    }
}

extension KaleidoMaskingMode: ExpressibleByArgument {}
extension KaleidoCamouflageHead: ExpressibleByArgument {}
