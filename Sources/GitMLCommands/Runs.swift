import ArgumentParser
import Foundation
import Workspace

struct Runs: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List recorded runs, newest first.",
        discussion: """
        A run whose git-ml process died (kill -9, a crash) shows as lost. COMMIT ends in * when the run was made from a dirty work tree. Runs deleted through the tracking API (MLflow's delete_run) are kept and left out, as in MLflow; --view all shows them, marked deleted.

        Examples:
          git ml runs
          git ml runs --status failed --status lost
          git ml runs --experiment tuning --commit main --limit 5
          git ml runs --filter "metrics.acc > 0.9 and params.model = 'cnn'" --order-by "metrics.acc DESC"
          git ml runs --filter "tags.team = 'cv' or (params.lr IN ('0.1', '0.01') and attributes.status = 'FINISHED')"
          git ml runs --view deleted_only
          git ml runs --json

        A sweep's trials are listed under it; --json gives every run's kind (command, sweep, trial, mlflow) and parent.

        Filters use MLflow's syntax (metrics., params., tags., attributes.; = != < <= > >= LIKE ILIKE IN NOT IN) with OR and parentheses besides; they run in the query index, .git/ml/index.sqlite (see git ml reindex).
        """)

    @Option(name: .long, help: ArgumentHelp("Only runs with this status (repeatable): \(RunRecord.Status.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "status"))
    var status: [String] = []
    @Option(name: .long, help: "Only runs of this experiment.")
    var experiment: String?
    @Option(name: .long, help: ArgumentHelp("Only runs made from this commit (any revision: HEAD, main, abc123).", valueName: "rev"))
    var commit: String?
    @Option(name: .long, help: ArgumentHelp("Only runs that match this filter (MLflow's syntax, with OR and parentheses).", valueName: "expr"))
    var filter: String?
    @Option(name: .customLong("order-by"), help: ArgumentHelp("Order by a column, e.g. \"metrics.acc DESC\" (repeatable; newest first after them).", valueName: "column [ASC|DESC]"))
    var orderBy: [String] = []
    @Option(name: .long, help: "Which runs by lifecycle stage, as MLflow's --view.")
    var view: View = .active_only
    @Option(name: .long, help: "Show at most this many (default 50; 0 for all).")
    var limit: Int = 50
    @OptionGroup var output: JSONOption

    func validate() throws {
        for s in status where RunRecord.Status(rawValue: s) == nil {
            throw ValidationError("--status \(s): expected one of \(RunRecord.Status.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard limit >= 0 else { throw ValidationError("--limit must be 0 or more") }
    }

    func run(in workspace: Workspace) throws {
        var filter = RunFilter()
        filter.statuses = Set(status.compactMap(RunRecord.Status.init(rawValue:)))
        filter.experiment = experiment
        filter.commit = commit
        filter.limit = limit == 0 ? nil : limit
        filter.search = self.filter
        filter.orderBy = orderBy
        filter.view = view.search
        let runs = try workspace.listRuns(filter)
        if let warning = workspace.indexWarning { Out.error("git-ml: warning: " + warning) }
        if output.json { Out.print(try Render.json(runs)); return }
        let t = Terminal.current
        if runs.isEmpty {
            Out.print(t.dim("no runs yet; start one with: git ml run -- python train.py"))
            return
        }
        // Headline metrics: the keys most runs in the list have, at most three.
        var counts: [String: Int] = [:]
        for r in runs { for k in r.metrics.keys { counts[k, default: 0] += 1 } }
        let keys = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(3).map(\.key)
        var table = Table(headers: ["ID", "NAME", "STATUS", "COMMIT", "STARTED", "DURATION"] + keys)
        // A sweep's trials go under it (in their order), when the sweep is in the list.
        let ids = Set(runs.map(\.id))
        var trials: [String: [RunSummary]] = [:]
        for r in runs { if let p = r.parent, ids.contains(p) { trials[p, default: []].append(r) } }
        var ordered: [(run: RunSummary, nested: Bool)] = []
        for r in runs where !(r.parent.map(ids.contains) ?? false) {
            ordered.append((r, false))
            for trial in (trials[r.id] ?? []).sorted(by: { $0.startTime < $1.startTime }) { ordered.append((trial, true)) }
        }
        for (r, nested) in ordered {
            let duration = r.duration.map(RunFormatting.duration) ?? (r.status == .running ? RunFormatting.duration(Date().timeIntervalSince(r.startTime)) + "…" : "-")
            let status = Render.status(r.status, t) + (r.deleted ? " " + t.dim("(deleted)") : "")
            let name = nested ? t.dim("└ ") + r.name : (r.kind == "sweep" ? r.name + t.dim(" (sweep)") : r.name)
            table.rows.append([nested ? r.id : t.bold(r.id), name, status, String(r.codeCommit.prefix(10)) + (r.dirty ? "*" : ""),
                               Render.time(r.startTime), duration] + keys.map { r.metrics[$0].map(RunFormatting.number) ?? "-" })
        }
        Out.print(table.render(t))
    }

    /// `--view`, spelled as MLflow's.
    enum View: String, ExpressibleByArgument, CaseIterable {
        case active_only, deleted_only, all
        var search: RunSearch.View {
            switch self {
            case .active_only: .active
            case .deleted_only: .deleted
            case .all: .all
            }
        }
    }
}
