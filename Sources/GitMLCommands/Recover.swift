import ArgumentParser
import Foundation
import Workspace

struct Recover: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Finish the records of lost runs from what their live folders hold.",
        discussion: """
        A run is lost when its git-ml process ended without writing the final record (killed, the machine went down, the disk filled). Its record still says running; its live folder (.git/ml/runs/<id>/) holds the metrics, params, tags, log and outputs it wrote. Recovery stores those outputs, writes a final record with status lost and the reason, and removes the live folder only after that record exists. Commands that meet a lost run (git ml runs, show, logs, metrics, checkout) recover it by themselves; recover does it for every lost run of this machine at once, or for the runs named. Runs of other machines are left to those machines.

        Examples:
          git ml recover
          git ml recover 01m8xez50s9f
          git ml recover --json
        """)

    @Argument(help: "Runs to recover (id, prefix or name); all lost runs of this machine when none.")
    var runs: [String] = []

    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        var recovered: [RecoveredRun] = []
        if runs.isEmpty {
            recovered = try workspace.recoverLostRuns(by: "git ml recover")
        } else {
            for name in runs {
                let id = try workspace.resolveRun(name).id
                guard let r = try workspace.recoverLostRun(id, by: "git ml recover") else {
                    throw WorkspaceError(.invalidArgument, "run \(id) is not lost: it is still running, has finished, or ran on another machine")
                }
                recovered.append(r)
            }
        }
        if output.json {
            Out.print(try Render.json(recovered.map(\.record)))
            return
        }
        if recovered.isEmpty { Out.print("no lost runs on this machine"); return }
        for r in recovered {
            let files = r.record.outputs.reduce(0) { $0 + $1.files }
            let source = r.fromLiveFolder ? "\(r.record.metrics.count) metric(s), \(files) output file(s) from its live folder"
                                          : "its last checkpoint (the live folder was gone)"
            Out.print("recovered run \(r.record.id) (\(r.record.name)): \(source)")
        }
    }
}
