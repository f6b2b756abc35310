import ArgumentParser
import Foundation
import Workspace

struct DataLog: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "List the versions of a data path from the git history of its pointer.",
        discussion: """
        Examples:
          git ml data log data/images
          git ml data log data/train.csv --json
        """)

    @Argument(help: "The data path (or its .mlref pointer).")
    var path: String
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let versions = try workspace.dataLog(path)
        if output.json { Out.print(try Render.json(versions)); return }
        let t = Terminal.current
        if versions.isEmpty { Out.print(t.dim("no committed versions of \(path) yet")); return }
        var table = Table(headers: ["COMMIT", "DATE", "SHA256", "SIZE", "FILES", "SUBJECT"])
        for v in versions {
            table.rows.append([t.bold(String(v.commit.prefix(10))), Render.time(v.date), v.sha256.map { String($0.prefix(12)) } ?? t.red("removed"),
                               v.size.map(RunFormatting.bytes) ?? "-", v.files.map(String.init) ?? "-", v.subject])
        }
        Out.print(table.render(t))
    }
}
