import ArgumentParser
import FashionData
import FashionModels
import FashionTrain

/// `pretrain`'s options that only SyncMask has (its ablation switches, spec §7); all optional, so that giving one
/// with an MVLT config is refused instead of ignored.
struct SyncMaskOptions: ParsableArguments {
    @Option(help: "SyncMask: masks from the momentum model's cross-attention (sync) or random (ablation). Default sync.")
    var mask: MaskMode?
    @Option(help: "SyncMask: GRIT grouped batches (grit) or a seeded shuffle (random). Default grit.")
    var sampler: SyncMaskRecipe.Sampler?
    @Option(help: "SyncMask: GRIT's NEXT rule: semihard (spec §4.2) or hardest (GRIT-VLP). Default semihard.")
    var gritNext: GritNext?
    @Option(help: "SyncMask: GRIT search space M (a multiple of --batch). Default 256.") var gritSearchSpace: Int?
    @Option(help: "SyncMask: GRIT collection buffer Q (a multiple of M). Default 1024.") var gritBuffer: Int?
    @Option(help: "SyncMask: ITM negatives: semihard_top1, semihard_sample, albef or random. Default semihard_top1.")
    var itmNegatives: ITMNegativeRule?
    @Option(help: "SyncMask: the first N steps draw random in-batch ITM negatives, then --itm-negatives. Default 0.")
    var itmRandomSteps: Int?
    @Option(help: "SyncMask: ITC against the momentum features and queue (momentum, ALBEF, the spec) or the batch's own student features (in-batch, CLIP: learns faster from random weights, docs/SYNCMASK.md §6). Default momentum.")
    var itc: SyncMaskITC?
    @Option(help: "SyncMask: the text the model reads: name (the title) or description. Default name.")
    var textField: LoaderConfig.Caption?
    @Option(help: "SyncMask: validation products for the held-out retrieval and ITM checks. Default 256.")
    var evalProducts: Int?
    @Option(name: .customLong("init"),
            help: "SyncMask: start towers from pretrained weights: text=minilm-l6|FILE (BERT layout)[,image=efficientnet-lite0|FILE (visual_encoder.* tensors, or a converted EfficientNet-Lite0 file with image_encoder efficientnet_lite0)]; overrides the config's text_init / image_init (docs/SYNCMASK.md). Fetch the named weights with scripts/fetch-weights.")
    var towerInit: String?
    @Flag(help: "SyncMask: drop image-text contrastive learning (ablation).") var noItc = false
    @Flag(help: "SyncMask: drop masked image modelling (ablation).") var noMim = false

    enum MaskMode: String, ExpressibleByArgument, CaseIterable { case sync, random }
    enum GritNext: String, ExpressibleByArgument, CaseIterable { case semihard, hardest }

    /// The options given on the command line (to refuse them with an MVLT config).
    var given: [String] {
        let named: [(String, Bool)] = [("--mask", mask != nil), ("--sampler", sampler != nil), ("--grit-next", gritNext != nil),
                                       ("--grit-search-space", gritSearchSpace != nil), ("--grit-buffer", gritBuffer != nil),
                                       ("--itm-negatives", itmNegatives != nil), ("--itm-random-steps", itmRandomSteps != nil),
                                       ("--itc", itc != nil),
                                       ("--text-field", textField != nil), ("--eval-products", evalProducts != nil),
                                       ("--init", towerInit != nil), ("--no-itc", noItc), ("--no-mim", noMim)]
        return named.filter(\.1).map(\.0)
    }

    func validate() throws {
        for (name, v) in [("--grit-search-space", gritSearchSpace), ("--grit-buffer", gritBuffer), ("--eval-products", evalProducts)] {
            if let v, v <= 0 { throw ValidationError("\(name) must be positive, got \(v)") }
        }
        if let itmRandomSteps, itmRandomSteps < 0 { throw ValidationError("--itm-random-steps must not be negative") }
    }

    /// `--init`, parsed (its errors are one line naming the option).
    func towers() throws -> SyncMaskTowerInit? {
        try towerInit.map(SyncMaskTowerInit.init(parsing:))
    }

    func recipe(noItm: Bool, noMlm: Bool) throws -> SyncMaskRecipe {
        var r = SyncMaskRecipe()
        r.terms = SyncMaskTerms(itc: !noItc, itm: !noItm, mlm: !noMlm, mim: !noMim)
        guard r.terms.itc || r.terms.itm || r.terms.mlm || r.terms.mim else {
            throw ValidationError("--no-itc, --no-itm, --no-mlm and --no-mim leave no loss to train")
        }
        if let mask { r.mask = mask.rawValue }
        if let sampler { r.sampler = sampler }
        if let gritNext { r.gritNext = gritNext.rawValue }
        if let gritSearchSpace { r.gritSearchSpace = gritSearchSpace }
        if let gritBuffer { r.gritBuffer = gritBuffer }
        if let itmNegatives { r.itmNegatives = itmNegatives }
        if let itmRandomSteps { r.itmRandomSteps = itmRandomSteps }
        if let itc, itc != .momentum { r.itc = itc }
        if let textField { r.caption = textField }
        if let evalProducts { r.evalProducts = evalProducts }
        return r
    }
}

extension SyncMaskRecipe.Sampler: ExpressibleByArgument {}
extension ITMNegativeRule: ExpressibleByArgument {}
extension SyncMaskITC: ExpressibleByArgument {}
extension LoaderConfig.Caption: ExpressibleByArgument {}
