import ArgumentParser
import Foundation
import Workspace

struct Show: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one run: status, code, command, params, metrics, outputs, resources.",
        discussion: """
        RUN is a run id, an unambiguous prefix of one, a run name, or `latest`.

        Examples:
          git ml show latest
          git ml show 01jd8x
          git ml show latest --json | jq .metrics
        """)

    @Argument(help: "The run: id, id prefix, name or latest.")
    var run: String
    @OptionGroup var output: JSONOption

    static let maxKey = 40
    static let maxValue = 2000

    func run(in workspace: Workspace) throws {
        let r = try workspace.record(run)
        if output.json { Out.print(String(decoding: try r.encoded(), as: UTF8.self)); return }
        let t = Terminal.current
        var lines: [String] = []
        let keys = ["experiment", "resources"] + r.params.keys.map { "  " + $0 } + r.metrics.keys.map { "  " + $0 }
            + r.outputs.map { "  " + $0.name } + r.tags.keys.filter { !$0.hasPrefix("mlflow.gitml.") }.map { "  " + $0 } + (r.inputs ?? []).map { "  " + $0.name }
        // Keys are padded to the widest, up to a limit; a longer key or a very long value is cut
        // (`--json` gives them whole), so one huge key never makes every line huge.
        let width = min(keys.map(\.count).max() ?? 10, Self.maxKey) + 2
        func row(_ k: String, _ v: String) {
            let key = k.count > Self.maxKey ? String(k.prefix(Self.maxKey - 1)) + "…" : k
            let value = v.count > Self.maxValue ? String(v.prefix(Self.maxValue)) + "… (\(v.count - Self.maxValue) more characters; --json shows all)" : v
            lines.append(t.dim(key.padding(toLength: width, withPad: " ", startingAt: 0)) + value)
        }
        lines.append(t.bold("run \(r.id)") + "  " + r.name)
        row("status", Render.status(r.status, t) + (r.exitCode.map { " (exit \($0))" } ?? "") + (r.statusReason.map { " - \($0)" } ?? ""))
        row("experiment", r.experiment)
        row("commit", r.code.commit + (r.code.branch.map { " (\($0))" } ?? ""))
        if r.code.dirty {
            row("snapshot", "\(r.code.tree) - dirty: \(r.code.changedPaths.count) changed path(s)")
            for p in r.code.changedPaths.prefix(10) { row("", "  \(p)") }
            if r.code.changedPaths.count > 10 { row("", "  … \(r.code.changedPaths.count - 10) more") }
        }
        row("command", r.command.joined(separator: " ") + (r.workingDirectory.isEmpty ? "" : "   (in \(r.workingDirectory)/)"))
        row("started", Render.time(r.startTime) + " by \(r.user) on \(r.host)")
        if let d = r.duration { row("duration", RunFormatting.duration(d)) }
        if let job = r.job {
            var text = job.file + (job.overrides.isEmpty ? "" : "  " + job.overrides.map { "--set " + $0 }.joined(separator: " "))
            if job.processes > 1 { text += "  (\(job.processes) processes, \(job.distribution ?? "distributed"))" }
            row("job", text)
        }
        if r.compute != "local" { row("compute", r.compute + " (ran on this machine)") }
        if let env = r.environment {
            row("environment", "\(env.name)  id \(env.id.prefix(12))" + (env.python.map { ", Python \($0)" } ?? "")
                + (env.lock.map { ", lock \($0.prefix(12))" } ?? ""))
        }
        if let res = r.resources {
            row("resources", "cpu \(RunFormatting.duration(res.cpuSeconds)), peak memory \(RunFormatting.bytes(res.peakMemoryBytes))")
        }
        if let inputs = r.inputs, inputs.contains(where: { $0.value == nil }) {
            lines.append(t.bold("inputs"))
            for i in inputs where i.value == nil {
                let what = [i.asset ?? i.path, i.files.map { "\($0) file(s)" }, i.size.map { RunFormatting.bytes($0) },
                            i.sha256.map { "sha256 \($0.prefix(16))…" }].compactMap { $0 }.joined(separator: ", ")
                row("  " + i.name, "\(i.type) \(what)")
            }
        }
        if !r.params.isEmpty {
            lines.append(t.bold("params"))
            for k in r.params.keys.sorted() { row("  " + k, r.params[k]!) }
        }
        if !r.metrics.isEmpty {
            lines.append(t.bold("metrics") + t.dim("  (last, min, max, steps)"))
            for k in r.metrics.keys.sorted() {
                let m = r.metrics[k]!
                row("  " + k, "\(RunFormatting.number(m.last))  min \(RunFormatting.number(m.min))  max \(RunFormatting.number(m.max))  \(m.steps) step(s)")
            }
        }
        if r.metricsSkipped > 0 { row("skipped", "\(r.metricsSkipped) malformed metric line(s)") }
        if !r.outputs.isEmpty {
            lines.append(t.bold("outputs"))
            for o in r.outputs {
                row("  " + o.name, "\(o.type) \(o.files) file(s), \(RunFormatting.bytes(o.size))  sha256 \(o.sha256.prefix(16))…")
            }
        }
        // MLflow's logged models and datasets are kept as mlflow.gitml.* tags; they show as lines of their own.
        let models = r.tags.filter { $0.key.hasPrefix("mlflow.gitml.loggedModel.") }.keys.sorted()
        let datasets = r.tags.filter { $0.key.hasPrefix("mlflow.gitml.dataset.") }.keys.sorted()
        let tags = r.tags.filter { !$0.key.hasPrefix("mlflow.gitml.") }
        if !tags.isEmpty {
            lines.append(t.bold("tags"))
            for k in tags.keys.sorted() { row("  " + k, tags[k]!) }
        }
        if !models.isEmpty {
            lines.append(t.bold("mlflow models"))
            for k in models {
                let name = (try? JSONSerialization.jsonObject(with: Data(r.tags[k]!.utf8)) as? [String: Any])?["name"] as? String ?? "?"
                row("  " + name, String(k.dropFirst("mlflow.gitml.loggedModel.".count)) + " (files under outputs/\(name)/)")
            }
        }
        if !datasets.isEmpty {
            lines.append(t.bold("mlflow datasets"))
            for k in datasets { row("  " + String(k.dropFirst("mlflow.gitml.dataset.".count)), "") }
        }
        Out.print(lines.joined(separator: "\n"))
    }
}
