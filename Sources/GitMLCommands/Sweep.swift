import ArgumentParser
import Engine
import Foundation
import Synchronization
import Workspace

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Look at a hyperparameter sweep and its trials, or resume one that was interrupted.",
        discussion: """
        A sweep is started with `git ml run -f sweep.yml` (an Azure ML sweep job: trial, search_space, sampling_algorithm, objective, limits, early_termination). Its parent run records the search; each trial is a run of its own, kind trial, under it.

        Examples:
          git ml run -f sweep.yml
          git ml sweep show latest
          git ml sweep show 01JD4K --json | jq .best.params
          git ml sweep resume latest
        """,
        subcommands: [SweepShow.self, SweepResume.self])
}

/// A sweep named on the command line: a run id or prefix, a name, or `latest` (the newest sweep).
func sweepRecord(_ given: String, in workspace: Workspace) throws -> RunRecord {
    if given == "latest" {
        var filter = RunFilter()
        filter.kind = "sweep"
        filter.limit = 1
        guard let newest = try workspace.listRuns(filter).first else {
            throw WorkspaceError(.unknownRun, "no sweep yet", hint: "start one with git ml run -f sweep.yml")
        }
        return try workspace.record(newest.id)
    }
    let record = try workspace.record(given)
    guard record.kind == "sweep", record.sweep != nil else {
        throw WorkspaceError(.invalidArgument, "run \(record.id) is a \(record.kind) run, not a sweep",
                             hint: record.parent.map { "it is a trial of sweep \($0): git ml sweep show \($0)" } ?? "git ml runs lists sweeps with (sweep) after their name")
    }
    return record
}

struct SweepShow: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "A sweep's trials, best first by the objective, and its best trial.",
        discussion: """
        --json gives `trials` (each with id, index, status, params, objective and, when it stopped early or failed, reason) and `best` (the same fields), with the search space, the sampler, the policy and the limits.

        Examples:
          git ml sweep show latest
          git ml sweep show 01JD4K --json
        """)

    @Argument(help: "The sweep: a run id (or prefix), its name, or latest.")
    var sweep: String = "latest"
    @OptionGroup var output: JSONOption

    struct JSONView: Encodable {
        var id: String
        var name: String
        var status: RunRecord.Status
        var objective: SweepSummary.Objective
        var searchSpace: [String: String]
        var sampling: String
        var earlyTermination: String?
        var limits: SweepSummary.Limits
        var trials: [SweepSummary.Trial]
        var best: SweepSummary.Trial?
        enum CodingKeys: String, CodingKey {
            case id, name, status, objective, searchSpace = "search_space", sampling, earlyTermination = "early_termination", limits, trials, best
        }
    }

    func run(in workspace: Workspace) throws {
        let record = try sweepRecord(sweep, in: workspace)
        let summary = record.sweep!
        let maximize = summary.objective.goal == "maximize"
        // Best first; trials without an objective after, in their order.
        let trials = summary.trials.sorted { a, b in
            switch (a.objective, b.objective) {
            case let (x?, y?): return x != y ? (maximize ? x > y : x < y) : a.index < b.index
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a.index < b.index
            }
        }
        if output.json {
            Out.print(try Render.json(JSONView(id: record.id, name: record.name, status: record.status, objective: summary.objective,
                                               searchSpace: summary.searchSpace, sampling: summary.sampling, earlyTermination: summary.earlyTermination,
                                               limits: summary.limits, trials: trials, best: summary.best)))
            return
        }
        let t = Terminal.current
        Out.print(t.bold("sweep \(record.id)") + " (\(record.name)) " + Render.status(record.status, t)
                  + (record.statusReason.map { t.dim(" · " + $0) } ?? ""))
        Out.print("objective: \(summary.objective.goal) \(summary.objective.primaryMetric) · sampling: \(summary.sampling)"
                  + (summary.earlyTermination.map { " · early termination: " + $0 } ?? ""))
        Out.print("search space: " + summary.searchSpace.keys.sorted().map { "\($0) ~ \(summary.searchSpace[$0]!)" }.joined(separator: ", "))
        let counts = Dictionary(grouping: summary.trials, by: \.status).mapValues(\.count)
        Out.print("trials: \(summary.trials.count) of \(summary.limits.maxTotalTrials) · " + RunRecord.Status.allCases.compactMap { s in counts[s].map { "\($0) \(s.rawValue)" } }.joined(separator: ", "))
        let names = summary.searchSpace.keys.sorted()
        var table = Table(headers: ["#", "TRIAL", "STATUS", summary.objective.primaryMetric.uppercased()] + names.map { $0.uppercased() })
        for trial in trials {
            let mark = trial.id == summary.best?.id ? t.green("★ ") : ""
            table.rows.append(["\(trial.index)", mark + trial.id, Render.status(trial.status, t),
                               trial.objective.map(RunFormatting.number) ?? "-"] + names.map { trial.params[$0] ?? "-" })
        }
        Out.print(table.render(t))
        if let best = summary.best {
            Out.print("best: trial \(best.index) (\(best.id)) \(summary.objective.primaryMetric)=\(best.objective.map(RunFormatting.number) ?? "-") "
                      + names.map { "\($0)=\(best.params[$0] ?? "-")" }.joined(separator: " "))
        }
        for trial in trials where trial.status == .stoppedByPolicy || trial.status == .failed {
            if let reason = trial.reason { Out.print(t.dim("trial \(trial.index): \(reason)")) }
        }
    }
}

struct SweepResume: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue a sweep after Ctrl-C, a crash or a reboot: finished trials are kept, the rest run.",
        discussion: """
        Completed, failed and stopped trials are not run again; the sampler is fed with their results. Trials that were cut short run again with their parameters. The sweep runs its code as recorded at its start.

        Examples:
          git ml sweep resume latest
          git ml sweep resume 01JD4K
        """)

    @Argument(help: "The sweep: a run id (or prefix), its name, or latest.")
    var sweep: String = "latest"

    func run(in workspace: Workspace) throws {
        let record = try sweepRecord(sweep, in: workspace)
        let result = try SweepRunner(workspace: workspace).resume(record.id, observer: SweepRenderer(term: .current))
        switch result.status {
        case .completed: return
        case .canceled: throw ExitCode(130)
        default: throw ExitCode(1)
        }
    }
}

/// Shows a sweep as it goes: a line per trial that starts and ends; on a terminal, a
/// status line below them with trials done, running, failed and stopped, and the best so far.
final class SweepRenderer: SweepObserver {
    let term: Terminal
    let statusShown = Mutex(false)

    init(term: Terminal) { self.term = term }

    func sweepStarted(_ parent: RunRecord, summary: SweepSummary, resumed: Bool) {
        let code = String(parent.code.commit.prefix(10)) + (parent.code.dirty ? "+dirty" : "")
        Out.error(term.dim("git-ml: sweep ", stderr: true) + term.bold(parent.id, stderr: true)
                  + term.dim(" (\(parent.name)) on \(code)\(resumed ? ", resumed" : ""): \(summary.objective.goal) \(summary.objective.primaryMetric), "
                             + "\(summary.limits.maxTotalTrials) trials, \(summary.limits.maxConcurrentTrials) at once, \(summary.sampling)", stderr: true))
    }

    func line(_ text: String) {
        let clear = term.stderrIsTTY && statusShown.withLock { s in defer { s = false }; return s }
        Out.write(2, (clear ? "\r\u{1b}[K" : "") + text + "\n")
    }

    func status(_ summary: SweepSummary) {
        guard term.stderrIsTTY else { return }
        let counts = Dictionary(grouping: summary.trials, by: \.status).mapValues(\.count)
        var text = "git-ml: \(counts[.completed] ?? 0) done · \(counts[.running] ?? 0) running · \(counts[.failed] ?? 0) failed · \(counts[.stoppedByPolicy] ?? 0) stopped · \(summary.trials.count)/\(summary.limits.maxTotalTrials)"
        if let best = summary.best, let v = best.objective { text += " · best \(summary.objective.primaryMetric)=\(RunFormatting.number(v)) (trial \(best.index))" }
        statusShown.withLock { $0 = true }
        Out.write(2, "\r\u{1b}[K" + term.dim(String(text.prefix(max(20, term.width - 1))), stderr: true))
    }

    func trialStarted(_ trial: SweepSummary.Trial, summary: SweepSummary) {
        line(term.dim("git-ml: trial \(trial.index) ", stderr: true) + trial.id + term.dim(" " + Self.params(trial), stderr: true))
        status(summary)
    }

    func trialFinished(_ trial: SweepSummary.Trial, summary: SweepSummary) {
        var text = term.dim("git-ml: trial \(trial.index) ", stderr: true) + Render.status(trial.status, term, stderr: true)
        if let v = trial.objective { text += " \(summary.objective.primaryMetric)=\(RunFormatting.number(v))" }
        if trial.status != .completed, let reason = trial.reason { text += term.dim(" (\(reason))", stderr: true) }
        line(text)
        status(summary)
    }

    func stage(_ message: String) { line(term.dim("git-ml: " + message, stderr: true)) }

    func sweepFinished(_ parent: RunRecord) {
        guard let summary = parent.sweep else { return }
        var text = term.dim("git-ml: sweep ", stderr: true) + parent.id + " " + Render.status(parent.status, term, stderr: true)
        if let d = parent.duration { text += " in \(RunFormatting.duration(d))" }
        if let reason = parent.statusReason { text += term.dim(" (\(reason))", stderr: true) }
        if let best = summary.best {
            text += " · best trial \(best.index) \(best.id) \(summary.objective.primaryMetric)=\(best.objective.map(RunFormatting.number) ?? "-") \(Self.params(best))"
        }
        line(text)
    }

    static func params(_ trial: SweepSummary.Trial) -> String {
        trial.params.keys.sorted().map { "\($0)=\(trial.params[$0]!)" }.joined(separator: " ")
    }
}
