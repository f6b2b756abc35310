import ArgumentParser
import Foundation
import Workspace

struct ModelPromote: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Move an alias to a version only when its run's metrics beat the alias's current version (a gate for CI).",
        discussion: """
        Each --if compares a metric of the run that made VERSION with the same metric of the run that made the version the alias points at now (base), or with a number: metrics.<key> <op> base|<number>, op one of >= <= > < == !=. Every condition must hold; an alias that points nowhere yet has no base to beat. When a condition fails, the alias stays and the exit status is 1, so a CI step fails.

        Examples:
          git ml model promote churn 4 --alias production --if "metrics.acc >= base"
          git ml model promote churn 4 --alias production --if "metrics.acc > base" --if "metrics.loss < 0.3"
          git ml model promote churn 4 --alias champion --json
        """)

    @Argument(help: "The model's name.")
    var name: String
    @Argument(help: "The version to promote.")
    var version: String
    @Option(help: "The alias to move (production, champion, ...).")
    var alias: String
    @Option(name: .customLong("if"), help: "A condition that must hold: metrics.<key> <op> base|<number>. Repeatable.")
    var conditions: [String] = []
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let result = try workspace.promoteModel(name: name, version: version, alias: alias, conditions: conditions)
        if output.json {
            Out.print(try Render.json(result))
        } else {
            for c in result.checks {
                let rhs = c.against.map { RunFormatting.number($0) } ?? "nothing (no base yet)"
                Out.print("\(c.holds ? "ok " : "NO ") metrics.\(c.metric) \(RunFormatting.number(c.candidate)) \(c.op) \(rhs)")
            }
            if result.promoted {
                Out.print(result.base == result.version ? "\(name)@\(alias) is \(name):\(result.version) already"
                          : "promoted: \(name)@\(alias) -> \(name):\(result.version)" + (result.base.map { " (was \($0))" } ?? ""))
            } else {
                Out.error("git-ml: not promoted: \(name)@\(alias) stays at \(result.base.map { "\(name):\($0)" } ?? "nothing")")
            }
        }
        if !result.promoted { throw ExitCode(1) }
    }
}
