import ArgumentParser
import Foundation
import Workspace

struct ModelList: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Registered model versions, with their aliases and where they came from.",
        discussion: """
        Examples:
          git ml model list
          git ml model list churn
          git ml model list --json | jq '.[] | select(.aliases | index("production"))'
        """)
    @Argument(help: "Only this model's versions.")
    var name: String?
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let entries = try workspace.listModels(name: name)
        if output.json { Out.print(try Render.json(entries.map(ModelJSON.init))); return }
        guard !entries.isEmpty else {
            Out.print(name == nil ? "no models yet; git ml model register NAME --run RUN --path outputs/model registers one" : "model \(name!) has no versions")
            return
        }
        var table = Table(headers: ["NAME", "VERSION", "TYPE", "ALIASES", "SIZE", "FROM", "CREATED"])
        for e in entries {
            let m = e.model
            let from = m.source.run.map { "run " + $0.prefix(12) } ?? m.source.folder ?? ""
            table.rows.append([m.name, m.version, m.type, e.aliases.joined(separator: ","), RunFormatting.bytes(m.artifact.size),
                               from, Render.time(m.created)])
        }
        Out.print(table.render(.current))
    }
}

struct ModelShow: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "One model version: its bytes, source run and commit, MLflow flavors and signature, tags and aliases.",
        discussion: """
        Examples:
          git ml model show churn:3
          git ml model show churn@production
          git ml model show azureml:churn@latest --json
        """)
    @Argument(help: "NAME:VERSION, NAME@ALIAS or NAME@latest (a bare NAME is its latest version).")
    var model: String
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let e = try workspace.model(model)
        if output.json { Out.print(try Render.json(ModelJSON(e))); return }
        let m = e.model, t = Terminal.current
        var lines = [t.bold("model \(m.name):\(m.version)") + (e.aliases.isEmpty ? "" : "  (" + e.aliases.map { "@" + $0 }.joined(separator: ", ") + ")")]
        func row(_ k: String, _ v: String) { lines.append(t.dim(k.padding(toLength: 15, withPad: " ", startingAt: 0)) + v) }
        row("type", m.type)
        row("record", e.commit)
        row("bytes", "\(m.artifact.type) \(m.artifact.files) file(s), \(RunFormatting.bytes(m.artifact.size)), sha256 \(m.artifact.sha256)")
        if let run = m.source.run {
            row("run", run + "  " + (m.source.output ?? "") + (m.source.path.map { "/" + $0 } ?? ""))
        }
        if let folder = m.source.folder { row("from", folder + (m.source.file.map { "  (\($0))" } ?? "")) }
        if let commit = m.source.commit { row("commit", commit) }
        row("created", Render.time(m.created) + " by \(m.user) on \(m.host)")
        if let d = m.description { row("description", d) }
        if let stage = m.stage, stage != "None" { row("stage", stage) }
        if let ml = m.mlflow {
            if case .object(let flavors)? = ml.flavors { row("flavors", flavors.keys.sorted().joined(separator: ", ")) }
            if let s = ml.signature?["inputs"]?.string { row("inputs", s) }
            if let s = ml.signature?["outputs"]?.string { row("outputs", s) }
            if let r = ml.requirements { row("requirements", r.joined(separator: " ")) }
            if ml.inputExampleInfo != nil { row("input example", ml.inputExampleInfo?["artifact_path"]?.string ?? "yes") }
        }
        for k in m.tags.keys.sorted() { row(k == m.tags.keys.sorted().first ? "tags" : "", "\(k)=\(m.tags[k]!)") }
        for k in m.properties.keys.sorted() { row(k == m.properties.keys.sorted().first ? "properties" : "", "\(k)=\(m.properties[k]!)") }
        Out.print(lines.joined(separator: "\n"))
    }
}

struct ModelTag: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Set or remove tags of a model version (each change a record commit chained to the last).",
        discussion: """
        Examples:
          git ml model tag churn:3 reviewed=yes owner=ana
          git ml model tag churn@production --rm owner
          git ml model tag churn:3 --json
        """)
    @Argument(help: "The model version.")
    var model: String
    @Argument(help: ArgumentHelp("Tags to set.", valueName: "key=value"))
    var tags: [String] = []
    @Option(name: .customLong("rm"), help: ArgumentHelp("A tag to remove (repeatable).", valueName: "key"))
    var remove: [String] = []
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let e = try workspace.tagModel(model, set: try keyValues(tags, option: "tag"), remove: remove)
        if output.json { Out.print(try Render.json(ModelJSON(e))); return }
        let tags = e.model.tags.keys.sorted().map { "\($0)=\(e.model.tags[$0]!)" }
        Out.print("\(e.model.reference): " + (tags.isEmpty ? "no tags" : tags.joined(separator: " ")))
    }
}

struct ModelDownload: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "download",
        abstract: "Write a model version's files into a new or empty folder, every byte checked against its hash.",
        discussion: """
        Examples:
          git ml model download churn@production ./deploy/model
          git ml model download churn:3 /tmp/churn3 --json
        """)
    @Argument(help: "The model version.")
    var model: String
    @Argument(help: "A new or empty folder.")
    var directory: String
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let e = try workspace.downloadModel(model, into: directory)
        if output.json { Out.print(try Render.json(ModelJSON(e))); return }
        Out.print("wrote \(e.model.reference) (\(e.model.artifact.files) file(s), \(RunFormatting.bytes(e.model.artifact.size))) to \(directory)")
    }
}
