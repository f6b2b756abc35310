import ArgumentParser
import Foundation
import ObjectStore
import Workspace

struct Fsck: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Verify the store and the records: re-hash every object, parse every run, find missing objects.",
        discussion: """
        Exits 1 and names each damaged object or run when anything is wrong. Leftovers that take space but damage nothing (temporary files of a killed writer, live folders of lost runs) are listed with what removes them, and do not fail the check.

        Examples:
          git ml fsck
          git ml fsck --json
        """)

    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let t = Terminal.current
        let showProgress: @Sendable (StoreProgress) -> Void = { p in
            guard p.filesDone % 64 == 0 || p.filesDone == p.filesTotal else { return }
            let end = p.filesDone == p.filesTotal ? "\n" : ""
            Out.write(2, "\rgit-ml: checking objects \(p.filesDone)/\(p.filesTotal)" + end)
        }
        let report = try workspace.fsck(progress: t.stderrIsTTY ? showProgress : nil)
        if output.json {
            Out.print(try Render.json(report))
        } else {
            for d in report.damage { Out.print(t.red("damaged: ") + "\(d.subject): \(d.problem)") }
            for l in report.leftovers { Out.print(t.yellow("leftover: ") + "\(l.path) (\(RunFormatting.bytes(l.bytes))): \(l.what)") }
            let summary = "checked \(report.objectsChecked) object(s) and \(report.runsChecked) run(s)"
            Out.print(report.damage.isEmpty ? summary + ": " + t.green("ok") : summary + ": " + t.red("\(report.damage.count) problem(s)"))
        }
        if !report.damage.isEmpty { throw ExitCode(1) }
    }
}
