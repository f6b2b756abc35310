import ArgumentParser
import Foundation
import Workspace

struct LineageCommand: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage",
        abstract: "Where a model, run, data object or commit came from, and what came from it.",
        discussion: """
        Upstream: model -> run -> code commit, environment, each input -> the run that produced it, recursively. Downstream: the runs and models that used this data, this commit, this run's outputs or this model. REF is a model (NAME:VERSION, NAME@ALIAS), a run (id, prefix, name, latest), a data pointer (data/train.csv or its .mlref), an object id (64 hex) or a commit; prefix it with model:, run:, data: or commit: to say which.

        Examples:
          git ml lineage churn@production
          git ml lineage data/train.csv --downstream
          git ml lineage latest --format mermaid >> lineage.md
          git ml lineage churn:3 --format dot | dot -Tsvg > lineage.svg
          git ml lineage HEAD --format json
        """)
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, dot, mermaid }
    @Argument(help: "The model, run, data pointer, object id or commit.")
    var ref: String
    @Option(help: "text, json, dot or mermaid.")
    var format: Format = .text
    @Flag(help: "Only what it came from.")
    var upstream = false
    @Flag(help: "Only what came from it.")
    var downstream = false
    @Flag(help: "The same as --format json.")
    var json = false

    func run(in workspace: Workspace) throws {
        let subject = try workspace.lineageSubject(ref)
        let graph = try workspace.lineage(of: subject, upstream: upstream || !downstream, downstream: downstream || !upstream)
        switch json ? .json : format {
        case .json: Out.print(try Render.json(graph))
        case .dot: Out.print(LineageRendering.dot(graph))
        case .mermaid: Out.print(LineageRendering.mermaid(graph))
        case .text: Out.print(LineageRendering.text(graph, upstream: upstream || !downstream, downstream: downstream || !upstream, .current))
        }
    }
}

/// The lineage graph as text trees, Graphviz and Mermaid.
enum LineageRendering {
    static func title(_ n: Lineage.Node) -> String { "\(n.kind.rawValue) \(n.label)" }

    static func text(_ g: Lineage, upstream: Bool, downstream: Bool, _ t: Terminal) -> String {
        let nodes = Dictionary(uniqueKeysWithValues: g.nodes.map { ($0.id, $0) })
        var lines: [String] = []
        func tree(_ id: String, edges: [String: [Lineage.Edge]], next: (Lineage.Edge) -> String, prefix: String, seen: inout Set<String>) {
            let children = (edges[id] ?? []).sorted { ($0.label, next($0)) < ($1.label, next($1)) }
            for (i, e) in children.enumerated() {
                let last = i == children.count - 1
                let target = next(e)
                guard let n = nodes[target] else { continue }
                let again = !seen.insert(target).inserted
                lines.append(prefix + (last ? "└─ " : "├─ ") + t.dim(e.label + ": ") + t.bold(title(n))
                             + (again ? t.dim(" (above)") : (n.detail.map { t.dim("  " + $0) } ?? "")))
                if !again { tree(target, edges: edges, next: next, prefix: prefix + (last ? "   " : "│  "), seen: &seen) }
            }
        }
        guard let root = nodes[g.root] else { return "" }
        lines.append(t.bold(title(root)) + (root.detail.map { t.dim("  " + $0) } ?? ""))
        if upstream {
            lines.append(t.bold("upstream") + (g.upstream.isEmpty ? t.dim("  (nothing recorded)") : ""))
            var seen: Set<String> = [g.root]
            tree(g.root, edges: Dictionary(grouping: g.edges, by: \.to), next: \.from, prefix: "  ", seen: &seen)
        }
        if downstream {
            lines.append(t.bold("downstream") + (g.downstream.isEmpty ? t.dim("  (nothing recorded)") : ""))
            var seen: Set<String> = [g.root]
            tree(g.root, edges: Dictionary(grouping: g.edges, by: \.from), next: \.to, prefix: "  ", seen: &seen)
        }
        return lines.joined(separator: "\n")
    }

    static func dot(_ g: Lineage) -> String {
        func q(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        let shapes: [Lineage.Kind: String] = [.commit: "ellipse", .run: "box", .data: "note", .environment: "component", .model: "box3d"]
        var out = ["digraph lineage {", "  rankdir=LR;", "  node [fontname=\"Helvetica\"];"]
        for n in g.nodes {
            out.append("  \(q(n.id)) [label=\(q(title(n))), shape=\(shapes[n.kind]!)\(n.id == g.root ? ", style=bold" : "")];")
        }
        for e in g.edges { out.append("  \(q(e.from)) -> \(q(e.to)) [label=\(q(e.label))];") }
        out.append("}")
        return out.joined(separator: "\n")
    }

    static func mermaid(_ g: Lineage) -> String {
        var ids: [String: String] = [:]
        for (i, n) in g.nodes.enumerated() { ids[n.id] = "n\(i)" }
        func label(_ s: String) -> String { s.replacingOccurrences(of: "\"", with: "#quot;").replacingOccurrences(of: "|", with: "#124;") }
        var out = ["flowchart LR"]
        for n in g.nodes {
            let text = "\"" + label(title(n)) + "\""
            let shape: String
            switch n.kind {
            case .commit: shape = "([\(text)])"
            case .data: shape = "[(\(text))]"
            case .model: shape = "[[\(text)]]"
            case .environment: shape = "{{\(text)}}"
            case .run: shape = "[\(text)]"
            }
            out.append("  \(ids[n.id]!)\(shape)")
        }
        for e in g.edges { out.append("  \(ids[e.from]!) -->|\"\(label(e.label))\"| \(ids[e.to]!)") }
        out.append("  style \(ids[g.root]!) stroke-width:3px")
        return out.joined(separator: "\n")
    }
}
