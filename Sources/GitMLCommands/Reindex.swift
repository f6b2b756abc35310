import ArgumentParser
import Foundation
import Workspace

struct Reindex: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Rebuild the query index (.git/ml/index.sqlite) from the run records.",
        discussion: """
        The index is a cache of every run's attributes, last metric values, params and tags that `git ml runs --filter/--order-by` and the tracking API's search run against. It is kept up to date by itself, reading only records that changed, and rebuilt without a word when missing (with a warning when it is corrupt or from another version); reindex throws it away and builds it again.

        Examples:
          git ml reindex
          git ml reindex --json
        """)

    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let started = Date()
        let count = try workspace.reindex()
        let seconds = Date().timeIntervalSince(started)
        let left = try workspace.unindexedRuns().count
        if output.json {
            Out.print(try Render.json(["runs": Double(count), "left_out": Double(left), "seconds": (seconds * 1000).rounded() / 1000]))
            return
        }
        Out.print("indexed \(count) run\(count == 1 ? "" : "s") in \(RunFormatting.duration(seconds))")
        if left > 0 { Out.error("git-ml: warning: \(left) run record(s) could not be indexed and are left out of listings; git ml fsck names them") }
    }
}
