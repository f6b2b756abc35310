import ArgumentParser
import Foundation
import Workspace

struct Report: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "This commit's runs against the latest runs of the same jobs on the base: metrics, params, a chart, models' lineage.",
        discussion: """
        Runs are matched by job file, else by command line; the base run is the latest run of that job among the base's last 1,000 first-parent commits. Each metric shows this run's last value, the base's, the difference and whether it went the better way (lower is better for names with loss, error, err, mse, mae, rmse, perplexity, latency, time or duration; higher for the rest). The main metric (--metric, else the first of acc, accuracy, f1, auc, r2, loss the runs log, else the first) is drawn as curves over steps: a Mermaid chart in the Markdown and, with --svg, an SVG file. Model versions registered from these runs come with their lineage.

        The Markdown starts with the hidden marker <!-- git-ml-report -->, so a CI step can find and update its one pull-request comment instead of adding one per push; append it to $GITHUB_STEP_SUMMARY as it is.

        Examples:
          git ml report
          git ml report --base origin/main --format md >> "$GITHUB_STEP_SUMMARY"
          git ml report --base origin/main --metric val_loss --svg ml-report.svg
          git ml report --format json
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case md, json }

    @Option(help: "The base to compare with (a branch, tag or commit).")
    var base = "origin/main"
    @Option(help: "md or json.")
    var format: Format = .md
    @Option(help: "The metric to chart (default: the first of acc, accuracy, f1, auc, r2, loss logged).")
    var metric: String?
    @Option(help: "Also write the main metric's chart as an SVG file here.")
    var svg: String?
    @Option(help: "The commit to report on.")
    var commit = "HEAD"

    func run(in workspace: Workspace) throws {
        let data = try workspace.reportData(commit: commit, base: base)
        let main = metric ?? ReportRendering.mainMetric(data)
        var series: [String: ([MetricPoint], [MetricPoint])] = [:]
        if let main {
            for c in data.comparisons {
                let mine = ((try? workspace.metricSeries(of: c.run)) ?? []).filter { $0.key == main }
                let theirs = c.base.map { ((try? workspace.metricSeries(of: $0)) ?? []).filter { $0.key == main } } ?? []
                series[c.key] = (mine, theirs)
            }
        }
        if let svg, let main {
            let chart = ReportRendering.svg(metric: main, series: series)
            do { try writeFileAtomically(Data(chart.utf8), to: workspace.absolutePath(svg)) } catch {
                throw WorkspaceError(.storage, "cannot write \(svg): \(error.localizedDescription)")
            }
        }
        switch format {
        case .json: Out.print(try Render.json(ReportRendering.json(data, metric: main)))
        case .md:
            var lineages: [String: String] = [:]
            for m in data.models {
                if let graph = try? workspace.lineage(of: .model(name: m.model.name, version: m.model.version), downstream: false) {
                    lineages[m.model.reference] = LineageRendering.mermaid(graph)
                }
            }
            Out.write(1, ReportRendering.markdown(data, metric: main, series: series, lineages: lineages, svg: svg))
        }
    }
}

/// How `git ml report` lays out its comparison.
enum ReportRendering {
    static let marker = "<!-- git-ml-report -->"

    /// Lower is better for these; higher for the rest.
    static func lowerIsBetter(_ metric: String) -> Bool {
        let m = metric.lowercased()
        return ["loss", "error", "err", "mse", "mae", "rmse", "perplexity", "latency", "time", "duration"].contains { m.contains($0) }
    }

    static func mainMetric(_ data: ReportData) -> String? {
        let keys = Set(data.comparisons.flatMap { $0.run.metrics.keys })
        for preferred in ["acc", "accuracy", "f1", "auc", "r2", "loss"] where keys.contains(preferred) { return preferred }
        return keys.sorted().first
    }

    struct MetricRow: Encodable {
        var key: String
        var value: Double?
        var base: Double?
        var delta: Double?
        var better: String
        var improved: Bool?
    }

    struct ParamRow: Encodable {
        var key: String
        var value: String?
        var base: String?
        var changed: Bool
    }

    struct RunSide: Encodable {
        var id: String
        var name: String
        var status: String
        var commit: String
    }

    struct Comparison: Encodable {
        var job: String
        var run: RunSide
        var base: RunSide?
        var metrics: [MetricRow]
        var params: [ParamRow]
    }

    struct Document: Encodable {
        var commit: String
        var base: [String: String?]
        var mainMetric: String?
        var runs: [Comparison]
        var models: [[String: String]]
        enum CodingKeys: String, CodingKey { case commit, base, mainMetric = "main_metric", runs, models }
    }

    static func side(_ r: RunRecord) -> RunSide { RunSide(id: r.id, name: r.name, status: r.status.rawValue, commit: r.code.commit) }

    static func metricRows(_ c: RunComparison) -> [MetricRow] {
        let keys = Set(c.run.metrics.keys).union(c.base?.metrics.keys.map { $0 } ?? [])
        return keys.sorted().map { key in
            let mine = c.run.metrics[key]?.last, theirs = c.base?.metrics[key]?.last
            let lower = lowerIsBetter(key)
            var delta: Double?, improved: Bool?
            if let mine, let theirs {
                delta = mine - theirs
                improved = mine == theirs ? nil : (lower ? mine < theirs : mine > theirs)
            }
            return MetricRow(key: key, value: mine, base: theirs, delta: delta, better: lower ? "lower" : "higher", improved: improved)
        }
    }

    static func paramRows(_ c: RunComparison) -> [ParamRow] {
        let keys = Set(c.run.params.keys).union(c.base?.params.keys.map { $0 } ?? [])
        return keys.sorted().map { k in
            let mine = c.run.params[k], theirs = c.base?.params[k]
            return ParamRow(key: k, value: mine, base: theirs, changed: c.base != nil && mine != theirs)
        }
    }

    static func json(_ data: ReportData, metric: String?) -> Document {
        Document(commit: data.commit, base: ["ref": data.baseRef, "commit": data.baseCommit], mainMetric: metric,
                 runs: data.comparisons.map { Comparison(job: $0.key, run: side($0.run), base: $0.base.map(side), metrics: metricRows($0), params: paramRows($0)) },
                 models: data.models.map { ["name": $0.model.name, "version": $0.model.version, "run": $0.model.source.run ?? ""] })
    }

    static func cell(_ v: Double?) -> String { v.map { RunFormatting.number($0) } ?? "–" }

    /// Markdown that GitHub and Azure DevOps render; table cells escape `|`.
    static func md(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "<", with: "&lt;")
    }

    static func markdown(_ data: ReportData, metric: String?, series: [String: ([MetricPoint], [MetricPoint])],
                         lineages: [String: String], svg: String?) -> String {
        var out = [marker, ""]
        let baseText = data.baseCommit.map { "`\(md(data.baseRef))` (`\($0.prefix(10))`)" } ?? "`\(md(data.baseRef))` (not found: nothing to compare with)"
        out.append("## git-ml report: `\(data.commit.prefix(10))` against \(baseText)")
        out.append("")
        if data.comparisons.isEmpty {
            out.append("No runs were made from this commit. Run `git ml run` (or the CI job) first.")
        }
        for c in data.comparisons {
            // The key is `job: <file>` or `cmd: <command line>`; the heading shows what follows.
            let job = "`\(md(String(c.key.dropFirst(5))))`"
            let against = c.base.map { "run `\(md($0.name))` (`\($0.id)`, commit `\($0.code.commit.prefix(10))`)" } ?? "no run of this job on the base"
            out.append("### \(job)")
            out.append("")
            out.append("Run `\(md(c.run.name))` (`\(c.run.id)`, \(c.run.status.rawValue)) against \(against).")
            out.append("")
            let metrics = metricRows(c)
            if !metrics.isEmpty {
                out.append("| metric | this run | base | Δ | |")
                out.append("| --- | ---: | ---: | ---: | --- |")
                for m in metrics {
                    let verdict: String
                    switch m.improved {
                    case .some(true): verdict = "✅ better"
                    case .some(false): verdict = "❌ worse"
                    case nil: verdict = m.delta == 0 ? "= same" : ""
                    }
                    let delta = m.delta.map { ($0 > 0 ? "+" : "") + RunFormatting.number($0) } ?? "–"
                    out.append("| \(md(m.key)) \(m.better == "lower" ? "↓" : "↑") | \(cell(m.value)) | \(cell(m.base)) | \(delta) | \(verdict) |")
                }
                out.append("")
            }
            let params = paramRows(c)
            if !params.isEmpty {
                out.append("<details><summary>params (\(params.filter(\.changed).count) changed)</summary>")
                out.append("")
                out.append("| param | this run | base |")
                out.append("| --- | --- | --- |")
                for p in params { out.append("| \(p.changed ? "**\(md(p.key))**" : md(p.key)) | \(md(p.value ?? "–")) | \(md(p.base ?? "–")) |") }
                out.append("")
                out.append("</details>")
                out.append("")
            }
            if let metric, let (mine, theirs) = series[c.key], mine.count > 1 || theirs.count > 1 {
                out.append(mermaidChart(metric: metric, mine: mine, theirs: theirs))
                out.append("")
            }
        }
        if let svg, let metric { out.append("Chart of `\(md(metric))`: [\(md(svg))](\(svg))"); out.append("") }
        if !data.models.isEmpty {
            out.append("### Models registered")
            out.append("")
            for m in data.models {
                out.append("- `\(md(m.model.reference))` from run `\(m.model.source.run ?? "")`" + (m.aliases.isEmpty ? "" : " (aliases: \(m.aliases.joined(separator: ", ")))"))
                if let graph = lineages[m.model.reference] {
                    out.append("")
                    out.append("```mermaid")
                    out.append(graph)
                    out.append("```")
                }
            }
            out.append("")
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// The main metric by step as a Mermaid xychart (rendered in GitHub Markdown); at most 50 points a line.
    static func mermaidChart(metric: String, mine: [MetricPoint], theirs: [MetricPoint]) -> String {
        let steps = Array(Set(mine.map(\.step) + theirs.map(\.step))).sorted()
        let stride = max(1, (steps.count + 49) / 50)
        let shown = steps.enumerated().filter { $0.offset % stride == 0 || $0.offset == steps.count - 1 }.map(\.element)
        func line(_ points: [MetricPoint]) -> String? {
            guard !points.isEmpty else { return nil }
            let byStep = Dictionary(points.map { ($0.step, $0.value) }, uniquingKeysWith: { _, b in b })
            var last = points.first!.value
            let values = shown.map { s -> String in
                if let v = byStep[s], v.isFinite { last = v }
                return RunFormatting.number(last)
            }
            return "[" + values.joined(separator: ", ") + "]"
        }
        var out = ["```mermaid", "xychart-beta", "  title \"\(metric) by step (this run, then base)\"",
                   "  x-axis [" + shown.map(String.init).joined(separator: ", ") + "]"]
        if let l = line(mine) { out.append("  line \(l)") }
        if let l = line(theirs) { out.append("  line \(l)") }
        out.append("```")
        return out.joined(separator: "\n")
    }

    /// A small SVG line chart: each job's run (solid) and base run (dashed) over steps.
    static func svg(metric: String, series: [String: ([MetricPoint], [MetricPoint])]) -> String {
        let width = 480.0, height = 240.0, pad = 36.0
        let all = series.values.flatMap { $0.0 + $0.1 }.filter { $0.value.isFinite }
        let minStep = Double(all.map(\.step).min() ?? 0), maxStep = Double(all.map(\.step).max() ?? 1)
        var lo = all.map(\.value).min() ?? 0, hi = all.map(\.value).max() ?? 1
        if lo == hi { lo -= 0.5; hi += 0.5 }
        func x(_ s: Int) -> Double { pad + (Double(s) - minStep) / max(1, maxStep - minStep) * (width - 2 * pad) }
        func y(_ v: Double) -> Double { height - pad - (v - lo) / (hi - lo) * (height - 2 * pad) }
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
        func esc(_ s: String) -> String { s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: "\"", with: "&quot;") }
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">",
                   "<title>\(esc(metric)) by step</title>",
                   "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                   "<line x1=\"\(pad)\" y1=\"\(height - pad)\" x2=\"\(width - pad)\" y2=\"\(height - pad)\" stroke=\"#888\"/>",
                   "<line x1=\"\(pad)\" y1=\"\(pad)\" x2=\"\(pad)\" y2=\"\(height - pad)\" stroke=\"#888\"/>",
                   "<text x=\"\(pad)\" y=\"\(pad - 10)\">\(esc(metric))</text>",
                   "<text x=\"4\" y=\"\(y(hi) + 4)\">\(esc(RunFormatting.number(hi)))</text>",
                   "<text x=\"4\" y=\"\(y(lo) + 4)\">\(esc(RunFormatting.number(lo)))</text>",
                   "<text x=\"\(width - pad)\" y=\"\(height - pad + 14)\" text-anchor=\"end\">step \(Int(maxStep))</text>"]
        for (i, key) in series.keys.sorted().enumerated() {
            let (mine, theirs) = series[key]!
            let color = colors[i % colors.count]
            for (points, dashed) in [(mine, false), (theirs, true)] where !points.isEmpty {
                let path = points.filter { $0.value.isFinite }.sorted { $0.step < $1.step }
                    .map { String(format: "%.1f,%.1f", x($0.step), y($0.value)) }.joined(separator: " ")
                out.append("<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"\(dashed ? " stroke-dasharray=\"4 3\"" : "") points=\"\(path)\"><title>\(esc(key))\(dashed ? " (base)" : "")</title></polyline>")
            }
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
