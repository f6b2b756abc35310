import ArgumentParser
import Foundation
import Workspace

struct DataStatus: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Compare the data in the work tree with its pointers: unchanged, modified or missing.",
        discussion: """
        Only files whose size, time or inode changed since they were last hashed are hashed again.

        Examples:
          git ml data status
          git ml data status --json
        """)

    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let entries = try workspace.dataStatus()
        if output.json { Out.print(try Render.json(entries)); return }
        let t = Terminal.current
        if entries.isEmpty { Out.print(t.dim("no data pointers; add data with: git ml data add PATH")); return }
        for e in entries {
            switch e.state {
            case .unchanged: Out.print(t.green("unchanged") + "  \(e.path)")
            case .missing: Out.print(t.red("missing  ") + "  \(e.path)" + t.dim("  (git ml data checkout \(e.path))"))
            case .modified:
                Out.print(t.yellow("modified ") + "  \(e.path)" + t.dim("  (git ml data add \(e.path) to record it)"))
                for p in e.added { Out.print("    new      \(p)") }
                for p in e.removed { Out.print("    deleted  \(p)") }
                for p in e.modified { Out.print("    changed  \(p)") }
            }
        }
    }
}
