import ArgumentParser
import FashionData
import FashionEval
import FashionModels
import FashionTrain
import Foundation
import Torch

/// `fashionvl evaluate mig`: masked image generation (mvlt.md §7): forward(masked image, clean ids), shown as
/// original | masked | reconstruction, plus the reconstruction error.
struct EvaluateMIG: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mig",
        abstract: "Masked image generation: PNG grids (original | masked | reconstruction) and the reconstruction error.")

    @Option(help: "A run folder or a weights file (original MVLT names).") var checkpoint: String
    @OptionGroup var data: EvaluationDataOptions
    @Option(help: "Run folder to write eval/mig.json and eval/mig.png (default: the checkpoint's run folder).")
    var out: String?
    @Option(help: "Samples shown in the grid.") var samples = 6
    @Option(help: "Samples the error is averaged over.") var errorSamples = 64
    @Option(help: "Seed of the sample choice and the masks.") var seed: UInt64 = 0
    @Option(help: "Grid-mask rule: code or paper.") var maskRule: MaskRuleOption = .code
    @Option(help: "Image size when --checkpoint is a weights file.") var imageSize: Int?
    @Option(help: "cpu, cuda or cuda:N.") var device = "cpu"
    @Option(help: "libtorch threads.") var threads = 2

    func validate() throws {
        guard samples > 0, errorSamples >= samples, threads > 0 else {
            throw ValidationError("--samples must be positive and at most --error-samples")
        }
    }

    func run() throws {
        Torch.setNumThreads(threads)
        let dev = try Device(parsing: device)
        let em = try EvalModel.open(checkpoint, imageSize: imageSize, device: dev)
        guard em.config.heads.mir else { throw EvalError.invalidArgument("\(checkpoint): the model has no MIR head (trained with --no-mir)") }
        guard let run = out ?? em.runFolder else { throw EvalError.invalidArgument("--out is needed when --checkpoint is a weights file") }
        let data = try self.data.open(run: em.runFolder)
        try data.require(data.rowCount, atLeast: 1, "row", for: "masked image generation")
        var config = LoaderConfig()
        config.rows = data.rows
        config.batchSize = errorSamples
        config.imageSize = em.config.imageSize
        config.textLength = em.config.textLength
        config.seed = seed
        config.shuffle = true
        let rule: GridMask.Rule = maskRule == .code ? .slidingWindow : .randomCells
        let loader = try FashionGenLoader(file: data.file, config: config, tokenize: WordPieceTokenizer.bertBaseUncased().captionTokenizer,
                                          transforms: [GridMask(rule: rule, ratio: 0.5, cellsPerSide: em.config.imageSize / 16)])
        let batch = try DeviceBatch(loader.batch(epoch: 0, index: 0), device: dev)
        let (recon, errors) = try Torch.noGrad { () -> (Tensor, [String: Double]) in
            let out = try em.model(image: batch.maskedImages(), inputIds: batch.originalInputIds)
            guard let mir = out.mir else { throw EvalError.invalidArgument("the model returned no MIR output") }
            let mask = try maskTensor(batch)
            let sq = try mir.sub(batch.images).square()
            let maskedMSE = try sq.mul(mask).sum().div(mask.sum().mul(3)).item()
            let mse = try sq.mean().item()
            return (mir, ["mse": mse, "masked_mse": maskedMSE,
                          "smooth_l1": try mir.smoothL1Loss(target: batch.images).item(),
                          "psnr_mvlt": 20 * log10(255 / mse.squareRoot())])
        }
        let s = em.config.imageSize, plane = 3 * s * s
        let originals = try batch.images.to(device: .cpu).toArray(Float.self)
        let recons = try recon.to(device: .cpu).contiguous().toArray(Float.self)
        let masks = try maskTensor(batch).to(device: .cpu).contiguous().toArray(Float.self)
        var rows: [[RGBImage]] = []
        for i in 0..<min(samples, batch.batchSize) {
            let o = try FloatImage(width: s, height: s, values: Array(originals[i * plane ..< (i + 1) * plane]))
            let r = try FloatImage(width: s, height: s, values: Array(recons[i * plane ..< (i + 1) * plane]))
            let m = masks[i * s * s ..< (i + 1) * s * s].map { $0 > 0.5 }
            rows.append(try ImageGrid.migRow(original: o, mask: Array(m), reconstruction: r))
        }
        try FileManager.default.createDirectory(atPath: run + "/" + EvalFiles.folder, withIntermediateDirectories: true)
        try ImageGrid.render(rows: rows, columnTitles: ["original", "masked", "reconstruction"])
            .writePNG(to: run + "/" + EvalFiles.folder + "/mig.png")
        let notes = [String(format: "%d images (%@), grid mask (%@ rule, 16-px cells, ratio 0.5): MSE %.5f over all pixels, %.5f over masked pixels, smooth-L1 %.5f",
                            batch.batchSize, data.split, maskRule.rawValue, errors["mse"]!, errors["masked_mse"]!, errors["smooth_l1"]!)]
        try EvalFiles.write(MIGResult(grids: [.init(image: "mig.png", caption: "original | masked input | reconstruction")],
                                      psnr: errors["psnr_mvlt"], notes: notes), run: run, file: EvalFiles.mig)
        var json: [String: Any] = errors.mapValues { $0 as Any }
        json["samples"] = batch.batchSize
        json["grid"] = run + "/" + EvalFiles.folder + "/mig.png"
        try printJSON(json)
    }
}

/// The batch's mask as (B, 1, S, S) float (1 = masked), or all zeros when the loader made none.
private func maskTensor(_ b: DeviceBatch) throws -> Tensor {
    try b.imageMask ?? b.images.select(dim: 1, index: 0).unsqueeze(1).mul(0)
}
