import Foundation
import Synchronization
import ObjectStore
import Workspace

/// What a run reports while it goes on; the CLI renders these.
public protocol RunObserver: AnyObject, Sendable {
    func runStarted(_ record: RunRecord, live: LiveRun)
    /// A chunk of the command's output, as it arrived.
    func output(_ data: Data, isStderr: Bool)
    /// Metrics the command logged since the last call.
    func metricsLogged(_ points: [MetricPoint])
    /// Called from several threads at once while outputs are hashed.
    func storing(_ progress: StoreProgress)
    func runFinished(_ record: RunRecord)
}

/// How to start a run's processes: one by default, or several (a distributed job).
public struct LaunchPlan {
    public struct Process: Sendable {
        /// Added to the run's environment for this process (RANK, TF_CONFIG, ...).
        public var environment: [String: String]
        /// This process's own log file, beside the run's combined output.log.
        public var logPath: String?
        public init(environment: [String: String] = [:], logPath: String? = nil) {
            self.environment = environment; self.logPath = logPath
        }
    }
    public var processes: [Process] = [Process()]
    /// Stop the processes and fail the run after this many seconds.
    public var timeoutSeconds: Int?
    /// Readies the run after its first record is written; returns environment variables
    /// to set (an empty value removes one). Throwing ends the run as failed.
    public var prepare: ((LiveRun, _ isCanceled: @escaping @Sendable () -> Bool) throws -> [String: String])?
    /// Checks after the processes end; a message fails a run that would have completed.
    public var finish: (() -> String?)?
    /// Asked on every tick of the first process: a request stops the processes (SIGTERM,
    /// SIGKILL after 10 s) and ends the run with its status and reason.
    public var stopRequest: (@Sendable () -> StopRequest?)?
    /// Seconds between ticks (metrics read, stop requests asked); a sweep's trials tick faster
    /// so that a policy stops a trial soon after the metric that decided it.
    public var tickInterval = 0.2
    public init() {}
}

/// Why a run is stopped from outside its command, and the status it ends with.
public struct StopRequest: Sendable {
    public var status: RunRecord.Status
    public var reason: String
    public init(status: RunRecord.Status, reason: String) { self.status = status; self.reason = reason }
}

/// A failure while readying a run (environment build, inputs), recorded as the run's reason.
public struct StageError: Error, CustomStringConvertible {
    public var reason: String
    public var detail: String
    public init(reason: String, detail: String) { self.reason = reason; self.detail = detail }
    public var description: String { detail.isEmpty ? reason : reason + "\n" + detail }
}

/// Writes the running record again every few seconds (metrics, params, tags, a short
/// log), so a crash loses only the last seconds. `@unchecked Sendable`: only rank 0's
/// thread calls `tick`, while the thread that owns the workspace waits for the processes.
final class Checkpointer: @unchecked Sendable {
    let workspace: Workspace
    let live: LiveRun
    let interval: Double
    var last = monotonicSeconds()

    init(workspace: Workspace, live: LiveRun, interval: Double) {
        self.workspace = workspace
        self.live = live
        self.interval = interval
    }

    func tick() {
        guard interval > 0, monotonicSeconds() - last >= interval else { return }
        last = monotonicSeconds()
        // A failed checkpoint is retried at the next one; the final record is what must succeed.
        try? workspace.checkpointRun(live)
    }
}

/// Runs one command as a git-ml run: records the start, supervises the process
/// (output streamed and logged, metrics tailed live, signals forwarded), then
/// stores outputs and the final record.
public struct RunExecutor {
    let workspace: Workspace

    public init(workspace: Workspace) { self.workspace = workspace }

    public func execute(_ request: RunRequest, observer: RunObserver) throws -> RunRecord {
        try execute(request, plan: LaunchPlan(), observer: observer)
    }

    /// Runs `request` as planned: after the `running` record is written, `plan.prepare`
    /// readies what the command needs (a failure there ends the run as failed at that
    /// stage), then one process per entry of `plan.processes` is started.
    public func execute(_ request: RunRequest, plan: LaunchPlan, observer: RunObserver) throws -> RunRecord {
        var request = request
        if request.command.count == 1, request.command[0].contains(where: { $0 == " " || $0 == "\n" || $0 == ";" }) {
            // One quoted string is a shell command line, as an Azure ML `command:` is.
            request.command = ["/bin/sh", "-c", request.command[0]]
        }
        let supervisors = plan.processes.map { _ in ProcessSupervisor() }
        let signals = SignalForwarder(supervisors: supervisors)
        defer { signals.stop() }

        // The run's tracking server: a listening socket now, an HTTP server on first use.
        let tracking = RunTracking.start(for: workspace) { observer.output(Data("git-ml: warning: \($0)\n".utf8), isStderr: true) }
        defer { tracking?.stop() }
        PerfTrace.mark("tracking socket listening")
        let live = try workspace.startRun(request)
        observer.runStarted(live.record, live: live)
        if let left = live.record.code.leftOut {
            observer.output(Data("git-ml: warning: left out of the code snapshot (untracked, named like secrets): \(left.joined(separator: ", ")); add them to .gitignore, or set snapshot_secrets: true in .mlops/config.yaml to keep them\n".utf8), isStderr: true)
        }

        let helper = try installPythonHelper()
        var env = workspace.environment
        env["GITML_RUN_ID"] = live.record.id
        env["GITML_EXPERIMENT"] = live.record.experiment
        env["GITML_OUTPUTS"] = live.outputsFolder
        env["GITML_METRICS"] = live.metricsPath
        env["PYTHONPATH"] = [helper, env["PYTHONPATH"]].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ":")
        env["PYTHONUNBUFFERED"] = "1"
        if let tracking {
            do {
                env.merge(try tracking.environment(for: live.record)) { _, new in new }
            } catch {
                // The run goes on without it; MLflow calls then fail in the command, not git-ml.
                observer.output(Data("git-ml: warning: \(error); MLflow logging is not recorded in this run\n".utf8), isStderr: true)
            }
        }
        if let prepare = plan.prepare {
            do {
                for (k, v) in try prepare(live, { signals.cancelSignal != nil }) { if v.isEmpty { env.removeValue(forKey: k) } else { env[k] = v } }
            } catch {
                let message = "git-ml: \(error)\n"
                observer.output(Data(message.utf8), isStderr: true)
                try? message.write(toFile: live.logPath, atomically: false, encoding: .utf8)
                let reason = (error as? StageError)?.reason ?? "\(error)"
                let outcome = RunOutcome(status: signals.cancelSignal == nil ? .failed : .canceled, exitCode: 1, reason: reason,
                                         wallSeconds: 0, cpuSeconds: 0, peakMemoryBytes: 0)
                tracking?.stop()
                let record = try workspace.finishRun(live, outcome: outcome, progress: { observer.storing($0) })
                observer.runFinished(record)
                return record
            }
        }

        PerfTrace.mark("environment ready")
        let logFD = open(live.logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        defer { if logFD >= 0 { close(logFD) } }
        let metricsFD = open(live.metricsPath, O_RDONLY | O_CLOEXEC)
        defer { if metricsFD >= 0 { close(metricsFD) } }
        let parser = Mutex(MetricsParser())
        let timedOut = Atomic<Bool>(false)
        let stopped = Mutex<StopRequest?>(nil)
        let stopRequest = plan.stopRequest, tickInterval = plan.tickInterval
        let started = monotonicSeconds()

        let results = Mutex<[ProcessResult?]>(Array(repeating: nil, count: plan.processes.count))
        let command = request.command, workingDirectory = request.workingDirectory, baseEnv = env
        let processes = plan.processes, timeout = plan.timeoutSeconds
        let lockFD = live.lockFD
        let checkpoint = Checkpointer(workspace: workspace, live: live,
                                      interval: Double(workspace.environment["GITML_CHECKPOINT_SECONDS"] ?? "") ?? 5)
        let runProcess: @Sendable (Int) -> Void = { rank in
            let process = processes[rank]
            var environment = baseEnv
            environment.merge(process.environment) { _, new in new }
            let rankFD = process.logPath.map { open($0, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) } ?? -1
            defer { if rankFD >= 0 { close(rankFD) } }
            let chunk = UnsafeMutableRawPointer.allocate(byteCount: 65536, alignment: 16)
            defer { chunk.deallocate() }
            let spec = ProcessSpec(arguments: command, environment: environment, workingDirectory: workingDirectory,
                                   stdinFromNull: isatty(0) == 1 || rank > 0, inheritedFiles: [lockFD])
            // Several processes share the terminal and output.log: each one's output is passed on
            // in whole lines so that two ranks never mix within a line (its own log gets every byte).
            var pending = [Data(), Data()]
            func shared(_ data: Data, _ isStderr: Bool) {
                observer.output(data, isStderr: isStderr)
                if logFD >= 0 { data.withUnsafeBytes { _ = write(logFD, $0.baseAddress, $0.count) } }
            }
            let result = supervisors[rank].run(spec, tickInterval: tickInterval, output: { data, isStderr in
                if rankFD >= 0 { data.withUnsafeBytes { _ = write(rankFD, $0.baseAddress, $0.count) } }
                guard processes.count > 1 else { return shared(data, isStderr) }
                let k = isStderr ? 1 : 0
                pending[k].append(data)
                if let nl = pending[k].lastIndex(of: 10) {
                    shared(pending[k][pending[k].startIndex...nl], isStderr)
                    pending[k] = Data(pending[k][(nl + 1)...])
                }
            }, tick: {
                signals.forwardPending()
                if let limit = timeout, monotonicSeconds() - started > Double(limit) {
                    if !timedOut.exchange(true, ordering: .acquiringAndReleasing) { signals.stopAll(grace: 10) }
                }
                guard rank == 0 else { return }
                checkpoint.tick()
                if metricsFD >= 0 {
                    var fresh: [MetricPoint] = []
                    while true {
                        let n = read(metricsFD, chunk, 65536)
                        if n <= 0 { break }
                        fresh += parser.withLock { $0.feed(Data(bytes: chunk, count: n)) }
                    }
                    if !fresh.isEmpty { observer.metricsLogged(fresh) }
                }
                // Asked after the metrics are read, so a policy's decision on them acts in this same tick.
                if let stopRequest, stopped.withLock({ $0 == nil }), let request = stopRequest() {
                    stopped.withLock { $0 = request }
                    signals.stopAll(grace: 10)
                }
            })
            for k in 0..<2 where !pending[k].isEmpty { shared(pending[k], k == 1) }
            results.withLock { $0[rank] = result }
        }
        if plan.processes.count == 1 {
            runProcess(0)
            PerfTrace.mark("command ended")
        } else {
            // A thread per process (not a pool the size of the cores): ranks wait for each other.
            let group = DispatchGroup()
            for rank in plan.processes.indices {
                group.enter()
                Thread { runProcess(rank); group.leave() }.start()
            }
            group.wait()
        }
        let all = results.withLock { $0.map { $0! } }
        var outcome = Self.outcome(of: all, command: request.command[0], cancelSignal: signals.cancelSignal)
        if timedOut.load(ordering: .acquiring) {
            outcome.status = .failed
            outcome.reason = "timed out after \(plan.timeoutSeconds ?? 0) s (limits.timeout)"
        } else if let request = stopped.withLock({ $0 }), signals.cancelSignal == nil {
            outcome.status = request.status
            outcome.reason = request.reason
        }
        if let spawnError = all.compactMap(\.spawnError).first {
            let message = "git-ml: cannot start \(request.command[0]): \(String(cString: strerror(spawnError)))\n"
            observer.output(Data(message.utf8), isStderr: true)
            if logFD >= 0 { _ = message.withCString { write(logFD, $0, strlen($0)) } }
        }
        // What the command sent through the tracking API is in before the final record is written.
        tracking?.stop()
        if let finish = plan.finish, let problem = finish(), outcome.status == .completed {
            outcome.status = .failed
            outcome.reason = problem
        }
        let record = try workspace.finishRun(live, outcome: outcome, progress: { observer.storing($0) })
        observer.runFinished(record)
        return record
    }

    /// How several processes ended, as one outcome: the first failure by rank decides.
    static func outcome(of results: [ProcessResult], command: String, cancelSignal: Int32?) -> RunOutcome {
        var outcome = outcome(of: results.first { $0.spawnError != nil || $0.exitCode != 0 } ?? results[0], command: command, cancelSignal: cancelSignal)
        outcome.cpuSeconds = results.reduce(0) { $0 + $1.cpuSeconds }
        outcome.peakMemoryBytes = results.reduce(0) { $0 + $1.peakMemoryBytes }
        outcome.wallSeconds = results.map(\.wallSeconds).max() ?? 0
        if results.count > 1, let i = results.firstIndex(where: { $0.spawnError != nil || $0.exitCode != 0 }), outcome.status == .failed {
            outcome.reason = "process \(i): " + (outcome.reason ?? "failed")
        }
        return outcome
    }

    static func outcome(of r: ProcessResult, command: String, cancelSignal: Int32?) -> RunOutcome {
        let status: RunRecord.Status
        var reason: String?
        if let e = r.spawnError {
            status = .failed
            reason = e == ENOENT ? "command not found: \(command)" : "cannot start \(command): \(String(cString: strerror(e)))"
        } else if let s = cancelSignal {
            status = .canceled
            reason = "canceled by \(signalName(s))"
        } else if let s = r.signal {
            status = (s == SIGINT || s == SIGTERM) ? .canceled : .failed
            reason = "ended by \(signalName(s))"
        } else if r.exitCode == 0 {
            status = .completed
        } else {
            status = .failed
            reason = "exited with code \(r.exitCode)"
        }
        return RunOutcome(status: status, exitCode: r.exitCode, reason: reason, wallSeconds: r.wallSeconds,
                          cpuSeconds: r.cpuSeconds, peakMemoryBytes: r.peakMemoryBytes)
    }

    static func signalName(_ s: Int32) -> String {
        switch s {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        case SIGKILL: return "SIGKILL"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        default: return "signal \(s)"
        }
    }

    /// Writes the `gitml` Python module under `.git/ml/lib/python` (when absent or
    /// from another version) and returns the folder to put on PYTHONPATH.
    func installPythonHelper() throws -> String {
        let dir = workspace.stateDirectory + "/lib/python"
        let file = dir + "/gitml/__init__.py"
        let text = Data(EmbeddedAssets.pythonHelper.utf8)
        if FileManager.default.contents(atPath: file) != text {
            try FileManager.default.createDirectory(atPath: dir + "/gitml", withIntermediateDirectories: true)
            try writeFileAtomically(text, to: file)
        }
        return dir
    }
}
