import Foundation
import Testing

@Suite("git ml report: this commit's runs against the base branch's, in Markdown for a pull request and in JSON")
struct ReportTests {
    /// main: a run of train.yml with lr 0.1; feature: lr 0.2 (better acc, worse loss), and a model registered from it.
    func repository() throws -> TestRepo {
        let repo = try TestRepo()
        try repo.write("train.yml", """
            code: .
            command: sh train.sh ${{inputs.lr}}
            inputs:
              lr: 0.1

            """)
        // acc rises by step and more with a larger lr; loss ends higher with a larger lr.
        try repo.write("train.sh", """
            gain=${1#0.}
            for s in 1 2 3 4 5; do
              echo "{\\"key\\":\\"acc\\",\\"value\\":0.$gain$s,\\"step\\":$s}" >> "$GITML_METRICS"
              echo "{\\"key\\":\\"loss\\",\\"value\\":0.$gain,\\"step\\":$s}" >> "$GITML_METRICS"
            done
            mkdir -p outputs/model && echo "$1" > outputs/model/w.txt

            """)
        try repo.git("add", "-A"); try repo.git("commit", "-qm", "train")
        #expect(try repo.ml("run", "-f", "train.yml").status == 0)
        try repo.git("checkout", "-q", "-b", "feature")
        try repo.write("train.yml", repo.read("train.yml")!.replacingOccurrences(of: "lr: 0.1", with: "lr: 0.2"))
        try repo.git("commit", "-qam", "larger lr")
        #expect(try repo.ml("run", "-f", "train.yml").status == 0)
        #expect(try repo.ml("model", "register", "churn", "--run", "latest", "--path", "artifacts/outputs/model").status == 0)
        return repo
    }

    @Test("the Markdown has the hidden marker, metrics side by side with deltas and which way is better, changed params, a chart and the model's lineage")
    func markdown() throws {
        let repo = try repository()
        let r = try repo.ml("report", "--base", "main", "--svg", "chart.svg")
        #expect(r.status == 0, "\(r.stderr)")
        let md = r.stdout
        #expect(md.hasPrefix("<!-- git-ml-report -->\n"))
        let base = try repo.git("rev-parse", "main")
        #expect(md.contains("against `main` (`\(base.prefix(10))`)"), "\(md)")
        #expect(md.contains("### `train.yml`"))
        #expect(md.contains("| acc ↑ | 0.25 | 0.15 | +0.1 | ✅ better |"), "\(md)")
        #expect(md.contains("| loss ↓ | 0.2 | 0.1 | +0.1 | ❌ worse |"), "\(md)")
        #expect(md.contains("| **lr** | 0.2 | 0.1 |"), "\(md)")
        #expect(md.contains("xychart-beta") && md.contains("line [0.21, 0.22, 0.23, 0.24, 0.25]") && md.contains("line [0.11, 0.12, 0.13, 0.14, 0.15]"), "\(md)")
        #expect(md.contains("- `churn:1` from run") && md.contains("flowchart LR") && md.contains("model churn:1"), "\(md)")
        let svg = try #require(repo.read("chart.svg"))
        #expect(svg.hasPrefix("<svg") && svg.contains("<polyline") && svg.contains("stroke-dasharray"), "the base run's curve is dashed")

        let json = try repo.ml("report", "--base", "main", "--format", "json")
        #expect(json.status == 0)
        let doc = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        #expect(doc["main_metric"] as? String == "acc")
        let runs = try #require(doc["runs"] as? [[String: Any]])
        let metrics = try #require(runs.first?["metrics"] as? [[String: Any]])
        #expect(metrics.first { $0["key"] as? String == "loss" }?["improved"] as? Bool == false)
        #expect(metrics.first { $0["key"] as? String == "acc" }?["better"] as? String == "higher")
    }

    @Test("no base branch, or no run on it: the report says so instead of comparing")
    func noBase() throws {
        let repo = try repository()
        let r = try repo.ml("report", "--base", "origin/main")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("`origin/main` (not found: nothing to compare with)"))
        #expect(r.stdout.contains("against no run of this job on the base"))
    }
}
