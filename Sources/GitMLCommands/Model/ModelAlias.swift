import ArgumentParser
import Foundation
import Workspace

struct ModelAliasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alias",
        abstract: "Point aliases such as production or champion at model versions; every move is kept with who and when.",
        discussion: """
        Each alias is a ref (refs/ml/model-aliases/<name>/<alias>) whose commits chain every change, so `git ml model alias log` and `git log` of the ref show its history, and pushing it carries the history along.

        Examples:
          git ml model alias set churn production 3
          git ml model alias rm churn production
          git ml model alias list churn
          git ml model alias log churn production
        """,
        subcommands: [ModelAliasSet.self, ModelAliasRemove.self, ModelAliasList.self, ModelAliasLog.self])
}

struct ModelAliasSet: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Point NAME@ALIAS at VERSION.",
        discussion: """
        Examples:
          git ml model alias set churn production 3
          git ml model alias set churn champion 4 --json
        """)
    @Argument var name: String
    @Argument var alias: String
    @Argument var version: String
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let a = try workspace.setModelAlias(name: name, alias: alias, version: version)
        if output.json { Out.print(try Render.json(a)); return }
        Out.print("\(name)@\(alias) -> \(name):\(a.version ?? "?")")
    }
}

struct ModelAliasRemove: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove NAME@ALIAS (its history stays).",
        discussion: """
        Examples:
          git ml model alias rm churn production
        """)
    @Argument var name: String
    @Argument var alias: String

    func run(in workspace: Workspace) throws {
        try workspace.removeModelAlias(name: name, alias: alias)
        Out.print("removed \(name)@\(alias)")
    }
}

struct ModelAliasList: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "The aliases of a model and the versions they point at.",
        discussion: """
        Examples:
          git ml model alias list churn
          git ml model alias list churn --json
        """)
    @Argument var name: String
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let aliases = try workspace.modelAliases(name: name)
        if output.json { Out.print(try Render.json(Dictionary(uniqueKeysWithValues: aliases.map { ($0.alias, $0.version) }))); return }
        guard !aliases.isEmpty else { Out.print("model \(name) has no aliases"); return }
        var table = Table(headers: ["ALIAS", "VERSION"])
        table.rows = aliases.map { [$0.alias, $0.version] }
        Out.print(table.render(.current))
    }
}

struct ModelAliasLog: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Every move of NAME@ALIAS, newest first: version, who, when.",
        discussion: """
        Examples:
          git ml model alias log churn production
          git ml model alias log churn production --json
        """)
    @Argument var name: String
    @Argument var alias: String
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let changes = try workspace.aliasHistory(name: name, alias: alias)
        if output.json { Out.print(try Render.json(changes)); return }
        guard !changes.isEmpty else { Out.print("\(name)@\(alias) was never set"); return }
        var table = Table(headers: ["WHEN", "VERSION", "BY", "RECORD"])
        table.rows = changes.map { [Render.time($0.time), $0.version ?? "(removed)", $0.user, String($0.commit.prefix(12))] }
        Out.print(table.render(.current))
    }
}
