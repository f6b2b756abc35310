import ArgumentParser
import Foundation
import ObjectStore
import Workspace

struct Push: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Publish runs, models, environments and data to a remote: objects to its object remote, records with git push.",
        discussion: """
        The objects the new records and the work tree's data pointers name go first, to the remote's object remote (only those it lacks, in parallel, each checked); then one commit on refs/ml/ledger/<writer> carries the records with git's own transport, so the remote holds one ref per writer, not one per run. Two clones pushing at once never overwrite each other: the later push fetches and tries again.

        The object remote: `git ml remote add`, `remotes:` in .mlops/config.yaml, or what the git remote's URL implies (a folder or file:// keeps objects in its git folder, ml/objects; http(s) uses its Git LFS storage). See docs/sharing.md.

        Examples:
          git ml push
          git ml push origin
          git ml push upstream --json
        """)

    @Argument(help: "The git remote (default: the current branch's remote, else origin).")
    var remote: String?
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let remote = try self.remote ?? workspace.defaultRemote()
        let bar: (@Sendable (StoreProgress) -> Void)? = Terminal.current.stderrIsTTY ? ProgressLine(label: "sending").update : nil
        let report = try workspace.pushRecords(remote: remote, progress: bar)
        if output.json { Out.print(try Render.json(report)); return }
        if report.records == 0 && report.objects.transferred == 0 {
            Out.print("everything is on \(remote) already")
            return
        }
        Out.print("pushed \(report.records) record(s) to \(remote) (refs/ml/ledger/\(report.writer)) and \(report.objects.transferred) object(s), "
            + "\(RunFormatting.bytes(report.objects.bytes)), to \(report.objectRemote)"
            + (report.objects.alreadyThere > 0 ? "; \(report.objects.alreadyThere) were there already" : ""))
    }
}

struct Fetch: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Bring the remote's runs, models, environments and data records here, without their objects.",
        discussion: """
        Fetches every writer's ledger (refs/ml/ledger/*) with git fetch and makes each record's ref here (refs/ml/runs/<id>, refs/ml/models/<name>/<version>, ...). A record changed both here and on the remote since the last exchange keeps yours; the remote's is kept under refs/ml-remote/<remote>/conflicts/ and named. `git ml pull` also fetches the objects.

        Examples:
          git ml fetch
          git ml fetch origin --json
        """)

    @Argument(help: "The git remote (default: the current branch's remote, else origin).")
    var remote: String?
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let remote = try self.remote ?? workspace.defaultRemote()
        let report = try workspace.pull(remote: remote, records: true)
        try Pull.print(report, json: output.json)
    }
}

struct Pull: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Fetch the remote's records and the objects of those that arrived and of the work tree's data pointers.",
        discussion: """
        Records as `git ml fetch` brings them; then every object the arriving records (run outputs and inputs, model files, data assets) and the data pointers of the work tree name, when this store lacks it: fetched in parallel from the object remote, each hashed before it is stored. An interrupted pull goes on where it stopped the next time. `git ml data checkout` then puts data files in place.

        Examples:
          git ml pull
          git ml pull origin
          git ml pull --json
        """)

    @Argument(help: "The git remote (default: the current branch's remote, else origin).")
    var remote: String?
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let remote = try self.remote ?? workspace.defaultRemote()
        let bar: (@Sendable (StoreProgress) -> Void)? = Terminal.current.stderrIsTTY ? ProgressLine(label: "fetching").update : nil
        let report = try workspace.pull(remote: remote, progress: bar)
        try Self.print(report, json: output.json)
    }

    static func print(_ report: PullReport, json: Bool) throws {
        if json { Out.print(try Render.json(report)); return }
        var line = report.records == 0 ? "records are up to date with \(report.remote)" : "\(report.records) record(s) from \(report.remote) (\(report.runs.count) run(s))"
        if report.objects.transferred > 0 {
            line += "; \(report.objects.transferred) object(s), \(RunFormatting.bytes(report.objects.bytes)), from \(report.objectRemote ?? report.remote)"
        }
        Out.print(line)
        for c in report.conflicts { Out.error("git-ml: kept yours: \(c)") }
    }
}
