import ArgumentParser
import Foundation
import Workspace

struct Diff: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two runs: params, metrics, code and outputs.",
        discussion: """
        Code is compared between the two runs' snapshots, so uncommitted edits count.

        Examples:
          git ml diff 01jd8x 01jd9k
          git ml diff baseline latest --patch
          git ml diff baseline latest --json
        """)

    @Argument(help: "The first run.")
    var first: String
    @Argument(help: "The second run.")
    var second: String
    @Flag(name: .long, help: "Also print the code changes as a unified diff.")
    var patch = false
    @OptionGroup var output: JSONOption

    struct JSONDiff: Encodable {
        struct Change: Encodable { var key: String; var old: String?; var new: String? }
        struct File: Encodable { var path: String; var change: String; var additions: Int; var deletions: Int }
        var a: String, b: String
        var params: [Change], metrics: [Change], inputs: [Change], code: [File], outputs: [File], patch: String?
    }

    func run(in workspace: Workspace) throws {
        let a = try workspace.record(first), b = try workspace.record(second)
        let d = try workspace.diffRuns(a, b, patch: patch)
        if output.json {
            let j = JSONDiff(a: a.id, b: b.id,
                             params: d.params.map { .init(key: $0.key, old: $0.old, new: $0.new) },
                             metrics: d.metrics.map { .init(key: $0.key, old: $0.old, new: $0.new) },
                             inputs: d.inputs.map { .init(key: $0.key, old: $0.old, new: $0.new) },
                             code: d.code.map { .init(path: $0.path, change: $0.kind.rawValue, additions: $0.additions, deletions: $0.deletions) },
                             outputs: d.outputs.map { .init(path: $0.path, change: $0.kind, additions: 0, deletions: 0) }, patch: d.patch)
            Out.print(try Render.json(j))
            return
        }
        let t = Terminal.current
        var lines = [t.dim("--- ") + "\(a.id) (\(a.name))", t.dim("+++ ") + "\(b.id) (\(b.name))"]
        func section(_ title: String, _ changes: [RunDiff.Change]) {
            lines.append(t.bold(title))
            if changes.isEmpty { lines.append(t.dim("  (same)")); return }
            var table = Table(headers: ["  KEY", a.id.prefix(10) + "…", b.id.prefix(10) + "…"])
            for c in changes { table.rows.append(["  " + c.key, c.old.map { t.red($0) } ?? "-", c.new.map { t.green($0) } ?? "-"]) }
            lines.append(table.render(t))
        }
        section("params", d.params)
        section("metrics", d.metrics)
        if a.inputs != nil || b.inputs != nil || a.environment != nil || b.environment != nil { section("inputs", d.inputs) }
        lines.append(t.bold("code") + t.dim("  \(a.code.commit.prefix(10))\(a.code.dirty ? "*" : "") -> \(b.code.commit.prefix(10))\(b.code.dirty ? "*" : "")"))
        if d.code.isEmpty { lines.append(t.dim("  (same)")) }
        for c in d.code {
            let stats = c.isBinary ? "binary" : t.green("+\(c.additions)") + " " + t.red("-\(c.deletions)")
            lines.append("  \(c.kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(c.path)  \(stats)")
        }
        lines.append(t.bold("outputs"))
        if d.outputs.isEmpty { lines.append(t.dim("  (same)")) }
        for o in d.outputs { lines.append("  \(o.kind.padding(toLength: 10, withPad: " ", startingAt: 0)) \(o.path)") }
        Out.print(lines.joined(separator: "\n"))
        if let p = d.patch, !p.isEmpty { Out.print(""); Out.write(1, p) }
    }
}
