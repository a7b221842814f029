import Foundation
import XCTest

/// `fashionvl finetune` then `fashionvl evaluate mcr|scr` on a tiny model and catalog: the run folder, the
/// result files, the printed JSON (its counts pinned against `inspect`), and one error line for bad input.
final class CategoryCLITests: XCTestCase {
    struct Fixture { var dir: URL; var data: URL; var pretrained: URL }

    /// A 40-product catalog and a 2-step pretraining run of the tiny config.
    private func fixture() throws -> Fixture {
        let dir = try CLI.tempDir(prefix: "fvl-category")
        let data = dir.appendingPathComponent("data")
        let synth = try CLI.run(["synth", "--out", data.path, "--products", "40", "--image-size", "64", "--seed", "1"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let config = dir.appendingPathComponent("tiny.json")
        try Data(PretrainCLITests.tinyConfig.utf8).write(to: config)
        let pretrained = dir.appendingPathComponent("pre")
        let pre = try CLI.run(["pretrain", "--config", config.path, "--data", data.path, "--out", pretrained.path,
                               "--steps", "2", "--batch", "4", "--threads", "1", "--eval-batches", "1"], timeout: 120)
        XCTAssertEqual(pre.status, 0, pre.stderr)
        return Fixture(dir: dir, data: data, pretrained: pretrained)
    }

    private func finetuneArgs(_ f: Fixture, run: String, task: String = "both") -> [String] {
        ["finetune", "--task", task, "--checkpoint", f.pretrained.path, "--data", f.data.path,
         "--out", f.dir.appendingPathComponent(run).path, "--steps", "4", "--batch", "4", "--threads", "1",
         "--log-every", "1", "--eval-every", "2", "--lr", "1e-3"]
    }

    private func json(_ text: String) throws -> [String: Any] {
        let line = try XCTUnwrap(text.split(separator: "\n").last, "no output")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
    }

    func testFinetuneThenEvaluateBothTasks() throws {
        let f = try fixture()
        let run = f.dir.appendingPathComponent("ft")
        let ft = try CLI.run(finetuneArgs(f, run: "ft"), timeout: 180)
        XCTAssertEqual(ft.status, 0, ft.stderr)
        let summary = try json(ft.stdout)
        for key in ["val_mcr_acc", "val_scr_acc", "val_mcr_macro_f1", "val_scr_macro_f1"] {
            let v = try XCTUnwrap(summary[key] as? Double, "\(key) missing: \(ft.stdout)")
            XCTAssertTrue((0...1).contains(v), "\(key) = \(v)")
        }

        // config.json: the fine-tuning model (category heads only), the task, the train split's sorted classes.
        let train = try InspectSummary.parse(CLI.run(["inspect", f.data.appendingPathComponent("train.h5").path]))
        let validation = try InspectSummary.parse(CLI.run(["inspect", f.data.appendingPathComponent("validation.h5").path]))
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("config.json"))) as? [String: Any])
        let heads = try XCTUnwrap((config["model"] as? [String: Any])?["heads"] as? [String: Bool])
        XCTAssertEqual(heads, ["mlm": false, "itm": false, "mir": false, "category": true])
        XCTAssertEqual(config["task"] as? String, "both")
        let classes = try XCTUnwrap(config["classes"] as? [String: [String]])
        XCTAssertEqual(classes["categories"], train.categories.keys.sorted())
        XCTAssertEqual(classes["subcategories"], train.subcategories.keys.sorted())
        // metrics.jsonl: every step's losses, the held-out accuracy at steps 2 and 4.
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(records.filter { $0["total"] != nil }.compactMap { $0["step"] as? Int }, [1, 2, 3, 4])
        XCTAssertEqual(records.filter { $0["val_mcr_acc"] != nil }.compactMap { $0["step"] as? Int }, [2, 4])
        for r in records where r["total"] != nil {
            let total = try XCTUnwrap(r["total"] as? Double), mcr = try XCTUnwrap(r["mcr"] as? Double)
            let scr = try XCTUnwrap(r["scr"] as? Double)
            XCTAssertEqual(total, mcr + scr, accuracy: 1e-4, "total = CE(main) + CE(sub)")
        }

        for (task, classNames, file) in [("mcr", train.categories, validation.categories),
                                         ("scr", train.subcategories, validation.subcategories)] {
            let ev = try CLI.run(["evaluate", task, "--checkpoint", run.path, "--data", f.data.path, "--batch", "8",
                                  "--threads", "1"], timeout: 120)
            XCTAssertEqual(ev.status, 0, ev.stderr)
            let j = try json(ev.stdout)
            for key in ["accuracy", "macro_f1", "macro_f1_all_classes"] {
                let v = try XCTUnwrap(j[key] as? Double, "\(task): \(key) missing: \(ev.stdout)")
                XCTAssertTrue((0...1).contains(v), "\(task) \(key) = \(v)")
            }
            XCTAssertEqual(j["classes"] as? Int, classNames.count, task)
            XCTAssertEqual(j["samples"] as? Int, validation.rows, "\(task): the whole validation file")
            let unseen = file.filter { classNames[$0.key] == nil }.values.reduce(0, +)
            XCTAssertEqual(j["unknown_labels"] as? Int, unseen, task)
            XCTAssertEqual(j["split"] as? String, "validation")
            let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("eval/\(task).json"))) as? [String: Any])
            XCTAssertEqual(result["task"] as? String, task == "mcr" ? "M-CR" : "S-CR")
            let metrics = try XCTUnwrap(result["metrics"] as? [String: Any])
            XCTAssertEqual(metrics["accuracy"] as? Double, j["accuracy"] as? Double)
            XCTAssertEqual(metrics["samples"] as? Int, validation.rows)
            let png = try Data(contentsOf: run.appendingPathComponent("eval/\(task)_confusion.png"))
            XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "\(task): confusion matrix is a PNG")
        }
        // The report renders both tables from the files just written.
        let report = try CLI.run(["report", run.path])
        XCTAssertEqual(report.status, 0, report.stderr)
        let html = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        for absent in ["no <code>eval/mcr.json</code>", "no <code>eval/scr.json</code>", "unreadable", "missing image"] {
            XCTAssertFalse(html.contains(absent), "report.html contains '\(absent)'")
        }
    }

    /// Fine-tuned on one file (products split 90/10), evaluated on that file: only the held-out products are
    /// scored, the same rows fine-tuning validated on; `--all-rows` scores the whole file.
    func testSingleFileEvaluatesTheHeldOutProducts() throws {
        let f = try fixture()
        let file = f.data.appendingPathComponent("train.h5").path
        let run = f.dir.appendingPathComponent("ft-file").path
        let ft = try CLI.run(["finetune", "--task", "mcr", "--checkpoint", f.pretrained.path, "--data", file,
                              "--out", run, "--steps", "2", "--batch", "4", "--threads", "1", "--eval-batches", "1000"],
                             timeout: 180)
        XCTAssertEqual(ft.status, 0, ft.stderr)
        let heldOut = try XCTUnwrap(try json(ft.stdout)["val_samples"] as? Int, ft.stdout)
        let rows = try InspectSummary.parse(CLI.run(["inspect", file])).rows
        XCTAssertGreaterThan(heldOut, 0)
        XCTAssertLessThan(heldOut, rows)

        let ev = try CLI.run(["evaluate", "mcr", "--checkpoint", run, "--data", file, "--threads", "1"], timeout: 120)
        XCTAssertEqual(ev.status, 0, ev.stderr)
        let j = try json(ev.stdout)
        XCTAssertEqual(j["samples"] as? Int, heldOut, "only the products fine-tuning held out")
        XCTAssertEqual(j["split"] as? String, "held-out products of train.h5 (the run's split, seed 0)")

        let all = try CLI.run(["evaluate", "mcr", "--checkpoint", run, "--data", file, "--threads", "1", "--all-rows"],
                              timeout: 120)
        XCTAssertEqual(all.status, 0, all.stderr)
        XCTAssertEqual(try json(all.stdout)["samples"] as? Int, rows)
        XCTAssertEqual(try json(all.stdout)["split"] as? String, "all rows of train.h5")
    }

    func testBadInputsGiveOneErrorLine() throws {
        let f = try fixture()
        let noCheckpoint = try CLI.run(finetuneArgs(f, run: "a").map { $0 == f.pretrained.path ? "/nonexistent/ck" : $0 })
        assertOneErrorLine(noCheckpoint, mentions: ["/nonexistent/ck"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.dir.appendingPathComponent("a").path), "no run folder for a failed start")

        // A start that fails in training before its first checkpoint leaves no run folder, so the rerun gives the
        // same error, not "already holds a run" (issue 14 item 6).
        let bigBatch = finetuneArgs(f, run: "big").map { $0 == "4" ? "512" : $0 }
        assertOneErrorLine(try CLI.run(bigBatch, timeout: 120), mentions: ["no batch", "batch size 512"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.dir.appendingPathComponent("big").path), "run folder left behind")
        assertOneErrorLine(try CLI.run(bigBatch, timeout: 120), mentions: ["no batch", "batch size 512"])

        // Evaluation data without rows: one line naming the file (issue 14 item 9).
        let table = f.dir.appendingPathComponent("empty.csv")
        try Data("image_path,product_id,title,description,category,subcategory\n".utf8).write(to: table)
        let empty = f.dir.appendingPathComponent("empty.h5").path
        XCTAssertEqual(try CLI.run(["import", "--images", f.dir.path, "--table", table.path, "--out", empty]).status, 0)
        let ft = f.dir.appendingPathComponent("ft").path
        let done = try CLI.run(finetuneArgs(f, run: "ft").map { $0 == "4" ? "1" : $0 }, timeout: 120)
        XCTAssertEqual(done.status, 0, done.stderr)
        for task in ["mcr", "scr"] {
            assertOneErrorLine(try CLI.run(["evaluate", task, "--checkpoint", ft, "--data", empty, "--threads", "1"]),
                               mentions: [empty, "category recognition needs at least 1 row, the evaluated rows hold 0"])
        }

        let unknownTask = try CLI.run(finetuneArgs(f, run: "b", task: "colour"))
        XCTAssertNotEqual(unknownTask.status, 0)
        let first = try XCTUnwrap(unknownTask.stderrLines.first)
        XCTAssertTrue(first.contains("colour") && first.contains("mcr"), unknownTask.stderr)

        // A pretraining run has no category heads, a missing checkpoint no model: one line each.
        let pretrainOnly = try CLI.run(["evaluate", "mcr", "--checkpoint", f.pretrained.path, "--data", f.data.path])
        assertOneErrorLine(pretrainOnly, mentions: [f.pretrained.path, "finetune"])
        let missing = try CLI.run(["evaluate", "scr", "--checkpoint", "/nonexistent/run", "--data", f.data.path])
        assertOneErrorLine(missing, mentions: ["/nonexistent/run"])
        let badData = try CLI.run(["finetune", "--checkpoint", f.pretrained.path, "--data", "/nonexistent/data",
                                   "--out", f.dir.appendingPathComponent("c").path, "--steps", "1"])
        assertOneErrorLine(badData, mentions: ["/nonexistent/data"])
    }
}
