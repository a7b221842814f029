import FashionData
import Foundation
import XCTest
@testable import FashionEval

/// Builds a fake run folder (config, metrics, every eval JSON and PNG) and the report from it. Set
/// FASHIONEVAL_KEEP=/some/folder to keep the run folder (and look at report.html and the PNGs).
final class ReportTests: XCTestCase {
    var run = ""

    override func setUpWithError() throws {
        if let keep = ProcessInfo.processInfo.environment["FASHIONEVAL_KEEP"] {
            run = keep + "/" + name.filter { $0.isLetter || $0.isNumber }
            try? FileManager.default.removeItem(atPath: run)
        } else {
            run = NSTemporaryDirectory() + "fashioneval-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        }
        try FileManager.default.createDirectory(atPath: run + "/eval", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if ProcessInfo.processInfo.environment["FASHIONEVAL_KEEP"] == nil { try? FileManager.default.removeItem(atPath: run) }
    }

    static let catalog = try! SyntheticCatalog(.init(products: 40, imageSize: 64, seed: 5))

    static func photo(_ i: Int) -> RGBImage {
        try! RGBImage(width: 64, height: 64, pixels: catalog.records(of: i)[0].image)
    }

    func writeFakeRun(categoryTasks: [String] = ["M-CR", "S-CR"]) throws {
        let config = #"{"model":"mvlt-tiny","steps":200,"batch_size":32,"lr":0.0001,"data":{"train":"synthetic","image_size":64}}"#
        try config.write(toFile: run + "/config.json", atomically: true, encoding: .utf8)
        var lines: [String] = []
        for step in stride(from: 10, through: 200, by: 10) {
            let t = Double(step)
            let mlm = 6 * exp(-t / 80) + 1.2, itm = 0.69 * exp(-t / 150) + 0.3, mir = 0.08 * exp(-t / 100) + 0.02
            lines.append(String(format: #"{"step":%d,"epoch":0,"total":%.5f,"mlm":%.5f,"itm":%.5f,"mir":%.5f,"itm_acc":%.4f,"lr":%.8f,"grad_norm":%.3f}"#,
                                step, mlm + itm + mir, mlm, itm, mir, 0.5 + 0.4 * (1 - exp(-t / 90)), 1e-4 * min(1, t / 50), 2 + sin(t)))
            if step % 50 == 0 { lines.append(String(format: #"{"step":%d,"val_itm_acc":%.4f,"val_mlm_acc":%.4f}"#, step, 0.5 + 0.35 * (1 - exp(-t / 90)), 0.2 + t / 600)) }
        }
        lines.append(#"{"step":200,"total":"nan"}"#)
        try (lines.joined(separator: "\n") + "\n").write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)

        // Retrieval on a tiny draw set with made-up ranks.
        let recs = (0..<Self.catalog.products.count).flatMap { i in Self.catalog.records(of: i) }
        let sampler = try S100Sampler(productIDs: recs.map(\.productID), subcategories: recs.map(\.subcategory),
                                      categories: recs.map(\.category))
        let draws = try sampler.drawSet(seed: 0, draws: 5, queries: 30, source: "synthetic-40")
        try EvalFiles.write(draws, run: run, file: EvalFiles.s100Draws)
        var rng = SeededRNG(seed: 9)
        let ranks = draws.draws.map { d -> QueryRanks in
            let p = d.queries.map { _ in rng.int(1...12) }
            return QueryRanks(pessimistic: p, optimistic: p.map { max(1, $0 - (rng.chance(0.1) ? 1 : 0)) })
        }
        let row = try RetrievalResult(method: "MVLT-tiny", dataset: "synthetic", split: "validation", checkpoint: "step-200 (sha256 1a2b3c)",
                                      textField: "title", scorer: "itm", draws: draws, ranks: ranks, wallSeconds: 12.5, device: "cpu")
        try EvalFiles.write(RetrievalEvalFile(rows: [row]), run: run, file: EvalFiles.retrieval)

        // Category recognition: 6 classes, mostly right.
        let names = ["BAGS", "JACKETS & COATS", "PANTS", "SHOES", "SWEATERS", "TOPS"]
        var truth: [Int] = [], pred: [Int] = []
        for i in 0..<300 {
            let t = i % 6
            truth.append(t); pred.append(rng.chance(0.8) ? t : (t == 5 ? 1 : rng.int(0...4)))
        }
        for task in categoryTasks {
            let m = try Classification.evaluate(truth: truth, predicted: pred, classCount: names.count)
            let file = task == "M-CR" ? EvalFiles.mcr : EvalFiles.scr
            try EvalFiles.write(CategoryResult(task: task, method: "MVLT-tiny", dataset: "synthetic", split: "validation",
                                               classNames: names, metrics: m, notes: ["6 classes from the train split"]),
                                run: run, file: file)
        }

        // Examples: one TIR and one ITR query.
        for i in 0..<6 { try Self.photo(i).writePNG(to: run + "/eval/ex_\(i).png") }
        let text = { (i: Int) in Self.catalog.text(of: i).title }
        let id = { (i: Int) in Self.catalog.products[i].productID }
        let examples = RetrievalExamplesFile(examples: [
            RetrievalExample(direction: .tir, queryProduct: id(2), queryText: text(2), positiveRank: 2, top: (0..<5).map { k in
                .init(product: id(k + 1), score: 0.9 - 0.1 * Double(k), correct: k + 1 == 2, image: "ex_\(k + 1).png") }),
            RetrievalExample(direction: .itr, queryProduct: id(0), queryImage: "ex_0.png", positiveRank: 1, top: (0..<5).map { k in
                .init(product: id(k), score: 0.95 - 0.15 * Double(k), correct: k == 0, text: text(k)) }),
        ])
        try EvalFiles.write(examples, run: run, file: EvalFiles.examples)

        // MIG: two rows of original | masked | reconstruction.
        var rows: [[RGBImage]] = []
        for i in 0..<2 {
            let pixels = Self.photo(i).pixels.map { Float($0) / 255 }
            let original = try FloatImage(width: 64, height: 64, values: pixels, layout: .hwc)
            let mask = (0..<64 * 64).map { p in (p % 64 / 16 + p / 64 / 16) % 2 == 0 }
            let recon = try FloatImage(width: 64, height: 64, values: pixels.map { $0 * 0.6 + 0.1 }, layout: .hwc)
            rows.append(try ImageGrid.migRow(original: original, mask: mask, reconstruction: recon))
        }
        try ImageGrid.render(rows: rows, columnTitles: ["original", "masked", "reconstruction"])
            .writePNG(to: run + "/eval/mig_0.png")
        try EvalFiles.write(MIGResult(grids: [.init(image: "mig_0.png", caption: "validation products 0-1")], psnr: 61.3),
                            run: run, file: EvalFiles.mig)
    }

    func testReportIsOneSelfContainedHTMLFile() throws {
        try writeFakeRun(categoryTasks: ["M-CR"])
        let path = try ReportBuilder(runFolder: run).write()
        XCTAssertEqual(path, run + "/report.html")
        let html = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("<svg"), "loss curves are inline SVG")
        XCTAssertGreaterThanOrEqual(html.components(separatedBy: "<svg").count - 1, 4)
        XCTAssertNil(html.range(of: #"(src|href)\s*=\s*["']?\s*(https?:|//)"#, options: .regularExpression), "no external references")
        XCTAssertFalse(html.contains("http"), "nothing points outside the file")
        XCTAssertNil(html.range(of: #"src="(?!data:)"#, options: .regularExpression), "every image is a data: URI")
        XCTAssertNil(html.range(of: #"<link|<script"#, options: .regularExpression))
        XCTAssertTrue(html.contains("data:image/png;base64,"))
        // Published reference rows and ours.
        for s in ["34.60", "78.00", "89.50", "33.10", "77.20", "91.10", "403.50", "319.52", "98.26", "89.55", "93.57", "82.86",
                  "Reference numbers", "MVLT-tiny", "synthetic", "pessimistic", "title"] {
            XCTAssertTrue(html.contains(s), "report lacks \(s)")
        }
        // S-CR was not run; the other pieces were.
        XCTAssertTrue(html.contains("not run — no eval/scr.json"))
        XCTAssertTrue(html.contains("negatives did not come from the query"), "the fill is reported")
        XCTAssertFalse(try String(contentsOfFile: path, encoding: .utf8).isEmpty)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"))
    }

    func testEmptyRunFolderSaysNotRunEverywhere() throws {
        let html = try ReportBuilder(runFolder: run).build()
        for missing in ["<code>config.json</code>", "<code>metrics.jsonl</code>", "no eval/retrieval.json", "no eval/mcr.json",
                        "no eval/scr.json", "<code>eval/examples.json</code>", "<code>eval/mig.json</code>"] {
            XCTAssertTrue(html.contains(missing), "the report does not say \(missing) is missing")
        }
        XCTAssertTrue(html.contains("34.60"), "reference numbers are printed even without our results")
        XCTAssertThrowsError(try ReportBuilder(runFolder: run + "/nope").build())
    }

    func testUnreadableEvalFileIsReportedNotFatal() throws {
        try "{\"rows\": 3}".write(toFile: run + "/eval/retrieval.json", atomically: true, encoding: .utf8)
        let html = try ReportBuilder(runFolder: run).build()
        XCTAssertTrue(html.contains("not a valid RetrievalEvalFile"), "the report names the bad file's problem")
    }

    func testConfusionMatrixAndGridPNGs() throws {
        let names = ["BAGS", "JACKETS & COATS", "PANTS", "SHOES"]
        let cm = try ConfusionMatrixImage.render([[50, 2, 0, 0], [3, 40, 7, 0], [0, 5, 45, 0], [0, 0, 1, 60]], labels: names,
                                                 title: "M-CR confusion")
        // Diagonal cells are darker than off-diagonal ones: sample the centre of cell (0,0) and (0,3).
        XCTAssertGreaterThan(cm.width, 200)
        try cm.writePNG(to: run + "/eval/confusion_small.png")
        let many = (0..<48).map { "CATEGORY \($0)" }
        let big = try ConfusionMatrixImage.render((0..<48).map { t in (0..<48).map { p in t == p ? 20 : (p == (t + 1) % 48 ? 3 : 0) } },
                                                  labels: many, title: "48 classes")
        try big.writePNG(to: run + "/eval/confusion_48.png")
        XCTAssertThrowsError(try ConfusionMatrixImage.render([[1, 2]], labels: ["a"], title: ""))
        // Grid: 3 columns of 64 px with 6 px gaps.
        let img = try FloatImage(width: 2, height: 1, values: [0, 1, 0.5, 0.5, 2, -1], layout: .chw)
        XCTAssertEqual(img.rgb.pixels, [0, 128, 255, 255, 128, 0], "CHW → HWC, clamped to [0,1]")
        XCTAssertEqual(img.minMaxNormalized().values.min(), 0); XCTAssertEqual(img.minMaxNormalized().values.max(), 1)
        let row = try ImageGrid.migRow(original: try FloatImage(width: 64, height: 64, values: [Float](repeating: 0.2, count: 64 * 64 * 3)),
                                       mask: (0..<64 * 64).map { $0 < 64 * 32 }, reconstruction: try FloatImage(width: 64, height: 64, values: (0..<64 * 64 * 3).map { Float($0 % 7) }))
        XCTAssertEqual(row[1].value(x: 0, y: 0, channel: 0), 128, "masked pixels are 0.5 grey")
        XCTAssertEqual(row[1].value(x: 0, y: 40, channel: 0), 51, "unmasked pixels keep the original")
        let grid = try ImageGrid.render(rows: [row, row], columnTitles: ["original", "masked", "reconstruction"])
        XCTAssertEqual(grid.width, 3 * (83 + 6) + 6, "columns widen to the 83-px title \"reconstruction\"")
        try grid.writePNG(to: run + "/eval/grid.png")
    }
}
