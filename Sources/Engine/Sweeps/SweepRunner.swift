import Foundation
import ObjectStore
import Synchronization
import Workspace

/// What a sweep reports as it goes; the CLI draws it.
public protocol SweepObserver: AnyObject, Sendable {
    func sweepStarted(_ parent: RunRecord, summary: SweepSummary, resumed: Bool)
    func trialStarted(_ trial: SweepSummary.Trial, summary: SweepSummary)
    func trialFinished(_ trial: SweepSummary.Trial, summary: SweepSummary)
    /// A stage of readying a trial (its environment build), or of the sweep.
    func stage(_ message: String)
    func sweepFinished(_ parent: RunRecord)
}

/// Runs a sweep job: the parent run records the search; trials (each a resolved command
/// job, a child run with the sweep's code snapshot) run on the compute target, up to
/// `max_concurrent_trials` at once; the primary metric streams from running trials into
/// the early-termination policy, which stops trials; limits and timeouts are enforced;
/// the parent record is brought up to date as trials start and end, so that an interrupted
/// sweep can be resumed (`resume`) without running a finished trial again.
public struct SweepRunner {
    let workspace: Workspace
    /// The compute target of one trial, on a workspace handle of the trial's own thread.
    let makeTarget: @Sendable (Workspace) -> any ComputeTarget

    public init(workspace: Workspace, target makeTarget: @escaping @Sendable (Workspace) -> any ComputeTarget = { LocalCompute(workspace: $0) }) {
        self.workspace = workspace
        self.makeTarget = makeTarget
    }

    /// Starts a sweep from its file.
    public func run(_ file: JobFile, request: JobRequest, observer: SweepObserver) throws -> RunRecord {
        let sweep = try workspace.planSweep(file)
        let space = SearchSpace(sweep.searchSpace)
        var seed: UInt64
        if case .random(let given?, _) = sweep.sampling { seed = given } else { seed = UInt64.random(in: 1...UInt64(Int64.max)) }
        // Azure's defaults: 1000 trials (grid: the whole space, up to that); here, as many at once as there are cores.
        let total = sweep.limits.maxTotalTrials ?? space.gridSize.map { min($0, 1000) } ?? 1000
        let slots = sweep.limits.maxConcurrentTrials ?? ProcessInfo.processInfo.activeProcessorCount
        // A trial that cannot be planned (a missing input, a bad environment) stops the sweep before it starts.
        _ = try workspace.planTrial(sweep, file: file, values: sweep.sampler(seed: seed).next(index: 0, history: []) ?? [:])

        var summary = SweepSummary(
            searchSpace: Dictionary(uniqueKeysWithValues: sweep.searchSpace.map { ($0.name, $0.expression.description) }),
            sampling: sweep.sampler(seed: seed).description, seed: seed,
            objective: .init(primaryMetric: sweep.objective.primaryMetric, goal: sweep.objective.goal.rawValue),
            earlyTermination: sweep.earlyTermination?.description,
            limits: .init(maxTotalTrials: total, maxConcurrentTrials: slots, timeout: sweep.limits.timeout, trialTimeout: sweep.limits.trialTimeout))
        summary.trials = []
        var parent = RunRequest(command: ["git", "ml", "run", "-f", file.shown] + file.overrides.flatMap { ["--set", $0] },
                                workingDirectory: workspace.workTree)
        parent.kind = "sweep"
        parent.name = request.name ?? sweep.displayName ?? sweep.name
        parent.experiment = request.experiment ?? sweep.experimentName
        parent.tags = sweep.tags.merging(request.tags) { _, new in new }
        parent.jobSpec = try file.spec.yaml()
        parent.job = RunRecord.Job(file: file.shown, overrides: file.overrides, code: nil, processes: 1, distribution: nil, timeoutSeconds: sweep.limits.timeout)
        parent.sweep = summary
        parent.sign = request.sign
        parent.recordedWorkingDirectory = ""
        let live = try workspace.startRun(parent)
        observer.sweepStarted(live.record, summary: summary, resumed: false)
        return try drive(live, sweep: sweep, file: file, request: request, summary: summary, observer: observer)
    }

    /// Continues a sweep after an interruption: finished trials stay, trials that were cut
    /// short run again with their parameters, and the sampler, fed with what finished,
    /// draws the rest.
    public func resume(_ id: String, observer: SweepObserver) throws -> RunRecord {
        let record = try workspace.record(id)
        guard record.kind == "sweep", let stored = record.sweep else {
            throw WorkspaceError(.invalidArgument, "run \(record.id) is a \(record.kind) run, not a sweep", hint: "git ml runs shows sweeps with kind sweep")
        }
        guard let text = try workspace.jobSpec(of: record.id) else {
            throw WorkspaceError(.storage, "run \(record.id) keeps no job.yaml to resume from")
        }
        guard let jobFile = record.job?.file else { throw WorkspaceError(.storage, "run \(record.id) names no job file") }
        // The sweep as it was run (after --set), read from its record, relative to its file's folder.
        let absolute = jobFile.hasPrefix("/") ? jobFile : workspace.workTree + "/" + jobFile
        let spec = try SpecNode.parse(text, file: jobFile + " (as run by \(record.id))")
        let file = JobFile(type: .sweep, spec: spec, shown: jobFile, folder: String(absolute[..<absolute.lastIndex(of: "/")!]),
                           overrides: [], typeLine: spec["type"]?.line ?? 1)
        let sweep = try workspace.planSweep(file)
        // Every trial of this sweep as its own record says now: those in the parent's record (which
        // may be behind: a trial can finish after the parent's last update) and those the index
        // knows by their parent. A trial whose record cannot be read keeps what the parent says.
        let stated = Dictionary(stored.trials.map { ($0.id, $0) }) { first, _ in first }
        var ids = stored.trials.map(\.id)
        var children = RunFilter()
        children.parent = record.id
        for child in try workspace.listRuns(children) where stated[child.id] == nil { ids.append(child.id) }
        var trials: [SweepSummary.Trial] = []
        for id in ids {
            let known = stated[id]
            guard let own = try? workspace.record(id: id), let index = own.trialIndex ?? known?.index,
                  own.status.isFinal || !(known?.status.isFinal ?? false) else {
                // No record to read, or one left running by a trial the sweep recorded as failed.
                if let known { trials.append(known) }
                continue
            }
            let params = known?.params ?? own.params.filter { name, _ in sweep.searchSpace.contains { $0.name == name } }
            trials.append(.init(id: id, index: index, status: own.status, params: params,
                                objective: Self.objective(of: own, sweep.objective), reason: own.statusReason))
        }
        // One entry an index (a trial cut short and its rerun share one): a finished one when there is one.
        func rank(_ t: SweepSummary.Trial) -> Int { [.completed, .failed, .stoppedByPolicy].contains(t.status) ? 0 : 1 }
        var summary = stored
        summary.trials = Dictionary(grouping: trials, by: \.index).values
            .map { $0.min { rank($0) < rank($1) }! }.sorted { $0.index < $1.index }
        let live = try workspace.reopenRun(record.id) { $0.sweep = summary }
        observer.sweepStarted(live.record, summary: summary, resumed: true)
        var request = JobRequest(file: jobFile)
        request.sign = (try? workspace.signatureCheck(record.id))?.isSigned ?? false
        return try drive(live, sweep: sweep, file: file, request: request, summary: summary, observer: observer)
    }

    /// The best value of the primary metric a trial reported.
    static func objective(of record: RunRecord, _ objective: SweepJob.Objective) -> Double? {
        guard let m = record.metrics[objective.primaryMetric] else { return nil }
        let best = objective.goal == .maximize ? m.max : m.min
        return best.isFinite ? best : nil
    }

    final class Shared: Sendable {
        struct State {
            var reports: [String: TrialReports] = [:]
            var stops: [String: StopRequest] = [:]
            var finished: [(index: Int, id: String, record: RunRecord?, error: String?)] = []
        }
        let state = Mutex(State())
        let wake = DispatchSemaphore(value: 0)
    }

    func drive(_ live: LiveRun, sweep: SweepJob, file: JobFile, request: JobRequest, summary start: SweepSummary,
               observer: SweepObserver) throws -> RunRecord {
        var summary = start
        let sampler = sweep.sampler(seed: summary.seed)
        let policy = sweep.earlyTermination.map { EarlyTerminationPolicy($0, goal: sweep.objective.goal, metric: sweep.objective.primaryMetric) }
        let shared = Shared()
        // Trials cut short by an interruption run again, first, with the same parameters.
        var again = summary.trials.filter { !$0.status.isFinal || $0.status == .canceled || $0.status == .lost }.sorted { $0.index < $1.index }
        summary.trials.removeAll { t in again.contains { $0.id == t.id } }
        for t in summary.trials {
            // What finished trials reported feeds the policy's comparisons.
            if let record = try? workspace.record(id: t.id), let series = try? workspace.metricSeries(of: record) {
                let values = series.filter { $0.key == sweep.objective.primaryMetric && $0.value.isFinite }.map(\.value)
                shared.state.withLock { $0.reports[t.id] = TrialReports(id: t.id, values: values, finished: true) }
            }
        }
        let taken = Set((summary.trials + again).map(\.index))
        var nextIndex = (taken.max() ?? -1) + 1
        // Numbers below the highest with no trial at all: started just before a crash, in the second
        // the parent's record lags, and never written. They run now, drawn for their own number.
        var missing = (0..<nextIndex).filter { !taken.contains($0) }
        var running: [String: SweepSummary.Trial] = [:]
        var exhausted = false
        let signals = SignalForwarder(supervisors: [])
        defer { signals.stop() }
        // limits.timeout counts the sweep's whole time: what sessions before a resume used, and this one.
        let started = monotonicSeconds(), before = summary.elapsedSeconds ?? 0
        var interruption: StopRequest?
        let slots = summary.limits.maxConcurrentTrials
        // Set when the first trials finished without logging the primary metric: the sweep cannot rank anything.
        var noMetric: String?
        // Set when a trial could not be readied (its job no longer plans): no more trials start.
        var launchFailure: String?

        // The parent's record is brought up to date at most once a second: a resume finds the
        // trials it has not caught up with by their own records.
        var lastSave = -Double.infinity, unsaved = false
        func save(now: Bool = false) {
            unsaved = true
            guard now || monotonicSeconds() - lastSave >= 1 else { return }
            summary.pickBest()
            summary.elapsedSeconds = ((before + monotonicSeconds() - started) * 1000).rounded() / 1000
            live.update { $0.sweep = summary }
            // A failed update is made again later; the final record is what must succeed.
            try? workspace.checkpointRun(live)
            lastSave = monotonicSeconds()
            unsaved = false
        }

        func launch(index: Int, values: [String: ParamValue]) throws {
            let id = RunID.make(at: Date())
            let plan = try workspace.planTrial(sweep, file: file, values: values)
            var trialRequest = JobRequest(file: file.shown)
            trialRequest.experiment = live.record.experiment
            trialRequest.name = "\(live.record.name)-trial-\(index)"
            trialRequest.sign = request.sign
            var job = try JobResolver(workspace: workspace).resolve(plan, request: trialRequest, id: id)
            job.run.kind = "trial"
            job.run.parent = live.record.id
            job.run.trialIndex = index
            job.run.codeSnapshot = live.record.code
            job.stopRequest = { shared.state.withLock { $0.stops[id] } }
            let params = values.mapValues(\.rendered)
            let trial = SweepSummary.Trial(id: id, index: index, status: .running, params: params, objective: nil, reason: nil)
            running[id] = trial
            summary.trials.append(trial)
            shared.state.withLock { $0.reports[id] = TrialReports(id: id, values: [], finished: false) }
            save()
            observer.trialStarted(trial, summary: summary)
            let watcher = TrialWatcher(id: id, index: index, metric: sweep.objective.primaryMetric, policy: policy, shared: shared, sweep: observer)
            let makeTarget = self.makeTarget, directory = workspace.currentDirectory, environment = workspace.environment
            let resolved = job
            Thread {
                var record: RunRecord?, failure: String?
                do {
                    let own = try Workspace.open(at: directory, environment: environment)
                    record = try makeTarget(own).run(resolved, observer: watcher)
                } catch {
                    failure = "\(error)"
                }
                shared.state.withLock { $0.finished.append((index, id, record, failure)) }
                shared.wake.signal()
            }.start()
        }

        while true {
            if interruption == nil {
                if let s = signals.cancelSignal {
                    interruption = StopRequest(status: .canceled, reason: "the sweep was interrupted (\(RunExecutor.signalName(s))); git ml sweep resume \(live.record.id) goes on")
                } else if let limit = summary.limits.timeout, before + monotonicSeconds() - started > Double(limit) {
                    interruption = StopRequest(status: .canceled, reason: "the sweep's limits.timeout (\(limit) s) was reached")
                }
                if let interruption {
                    shared.state.withLock { s in for id in running.keys { s.stops[id] = interruption } }
                    observer.stage(interruption.reason)
                }
            }
            while interruption == nil && noMetric == nil && launchFailure == nil && running.count < slots {
                do {
                    if !again.isEmpty {
                        let t = again.removeFirst()
                        var values: [String: ParamValue] = [:]
                        for p in sweep.searchSpace {
                            guard let text = t.params[p.name] else { continue }
                            values[p.name] = Self.value(text, of: p.expression)
                        }
                        try launch(index: t.index, values: values)
                        continue
                    }
                    if !missing.isEmpty {
                        let i = missing.removeFirst()
                        let history = summary.trials.map { SampledTrial(params: $0.params, objective: $0.objective) }
                        if let values = sampler.next(index: i, history: history) { try launch(index: i, values: values) }
                        continue
                    }
                    guard !exhausted, nextIndex < summary.limits.maxTotalTrials else { break }
                    let history = summary.trials.map { SampledTrial(params: $0.params, objective: $0.objective) }
                    guard let values = sampler.next(index: nextIndex, history: history) else { exhausted = true; break }
                    nextIndex += 1
                    try launch(index: nextIndex - 1, values: values)
                } catch {
                    // The running trials finish; the sweep records why it stopped starting more.
                    launchFailure = "a trial could not be started: \((error as? WorkspaceError)?.message ?? "\(error)")"
                    observer.stage(launchFailure!)
                }
            }
            if running.isEmpty { break }
            _ = shared.wake.wait(timeout: .now() + 0.5)
            if unsaved { save() }
            let done = shared.state.withLock { s -> [(index: Int, id: String, record: RunRecord?, error: String?)] in
                defer { s.finished.removeAll() }
                return s.finished
            }
            for (_, id, record, error) in done {
                running[id] = nil
                guard let i = summary.trials.firstIndex(where: { $0.id == id }) else { continue }
                if let record {
                    summary.trials[i].status = record.status
                    summary.trials[i].objective = Self.objective(of: record, sweep.objective)
                    summary.trials[i].reason = record.statusReason
                } else {
                    summary.trials[i].status = .failed
                    summary.trials[i].reason = error
                }
                shared.state.withLock { $0.reports[id]?.finished = true }
                summary.pickBest()
                save()
                observer.trialFinished(summary.trials[i], summary: summary)
                // Two trials completed and neither logged the primary metric: say so now, not after the last trial.
                let completed = summary.trials.filter { $0.status == .completed }
                if noMetric == nil, completed.count >= min(2, summary.limits.maxTotalTrials), completed.allSatisfy({ $0.objective == nil }),
                   !summary.trials.contains(where: { $0.objective != nil }) {
                    let logged = Set(record?.metrics.keys.map { $0 } ?? []).sorted()
                    noMetric = "\(file.shown):\(sweep.objectiveLine): no trial logs the primary metric '\(sweep.objective.primaryMetric)'"
                        + " (\(completed.count) completed; trial \(summary.trials[i].index) logged \(logged.isEmpty ? "no metric" : logged.joined(separator: ", ")));"
                        + " the sweep starts no more trials: fix objective.primary_metric or what the script logs"
                    observer.stage(noMetric!)
                }
            }
        }

        summary.pickBest()
        summary.elapsedSeconds = ((before + monotonicSeconds() - started) * 1000).rounded() / 1000
        live.update { record in
            record.sweep = summary
            // Azure ML names the best trial in the parent's `best_child_run_id`.
            record.tags["best_child_run_id"] = summary.best?.id
        }
        let statuses = summary.trials.map(\.status)
        var status = RunRecord.Status.completed
        var reason: String?
        if let interruption, interruption.status == .canceled, signals.cancelSignal != nil {
            status = .canceled
            reason = interruption.reason
        } else if let interruption {
            reason = interruption.reason
        } else if let failure = noMetric ?? launchFailure {
            status = .failed
            reason = failure
        } else if !statuses.isEmpty && statuses.allSatisfy({ $0 == .failed }) {
            status = .failed
            reason = "every trial failed"
        } else if summary.best == nil {
            reason = "no trial reported \(sweep.objective.primaryMetric)"
        }
        let outcome = RunOutcome(status: status, exitCode: status == .completed ? 0 : (status == .canceled ? 130 : 1), reason: reason,
                                 wallSeconds: monotonicSeconds() - started, cpuSeconds: 0, peakMemoryBytes: 0)
        let record = try workspace.finishRun(live, outcome: outcome)
        observer.sweepFinished(record)
        return record
    }

    /// A parameter's value from its recorded text.
    static func value(_ text: String, of expression: SweepJob.Expression) -> ParamValue {
        if case .choice(let values) = expression, let v = values.first(where: { $0.rendered == text }) { return v }
        if case .randint = expression, let i = Int64(text) { return .int(i) }
        if let d = Double(text) { return .double(d) }
        return .string(text)
    }
}

/// One trial's observer: its primary metric goes to the early-termination policy, whose
/// decision the trial's stop request returns; its stages go to the sweep's observer.
final class TrialWatcher: JobObserver {
    let id: String
    let index: Int
    let metric: String
    let policy: EarlyTerminationPolicy?
    let shared: SweepRunner.Shared
    let sweep: SweepObserver

    init(id: String, index: Int, metric: String, policy: EarlyTerminationPolicy?, shared: SweepRunner.Shared, sweep: SweepObserver) {
        self.id = id; self.index = index; self.metric = metric; self.policy = policy; self.shared = shared; self.sweep = sweep
    }

    func runStarted(_ record: RunRecord, live: LiveRun) {}
    func output(_ data: Data, isStderr: Bool) {}
    func storing(_ progress: StoreProgress) {}
    func runFinished(_ record: RunRecord) {}
    func stage(_ message: String) { sweep.stage("trial \(index): \(message)") }
    func buildOutput(_ line: String) {
        if line.hasPrefix("environment ") || line.hasPrefix("git-ml: ") { sweep.stage("trial \(index): " + line.replacingOccurrences(of: "git-ml: ", with: "")) }
    }

    func metricsLogged(_ points: [MetricPoint]) {
        // A value that is not a number (a diverged loss, NaN) is no report: it would compare as
        // neither better nor worse and turn the policy off for every trial.
        let values = points.filter { $0.key == metric && $0.value.isFinite }.map(\.value)
        guard !values.isEmpty else { return }
        shared.state.withLock { s in
            for v in values {
                s.reports[id, default: TrialReports(id: id, values: [], finished: false)].values.append(v)
                guard let policy, s.stops[id] == nil, let mine = s.reports[id] else { continue }
                if let reason = policy.decide(mine, all: Array(s.reports.values)) {
                    s.stops[id] = StopRequest(status: .stoppedByPolicy, reason: reason)
                }
            }
        }
    }
}
