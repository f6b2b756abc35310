import Foundation
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

/// Runs one command as a git-ml run: records the start, supervises the process
/// (output streamed and logged, metrics tailed live, signals forwarded), then
/// stores outputs and the final record.
public struct RunExecutor {
    let workspace: Workspace

    public init(workspace: Workspace) { self.workspace = workspace }

    public func execute(_ request: RunRequest, observer: RunObserver) throws -> RunRecord {
        var request = request
        if request.command.count == 1, request.command[0].contains(where: { $0 == " " || $0 == "\n" || $0 == ";" }) {
            // One quoted string is a shell command line, as an Azure ML `command:` is.
            request.command = ["/bin/sh", "-c", request.command[0]]
        }
        let supervisor = ProcessSupervisor()
        let signals = SignalForwarder(supervisor: supervisor)
        defer { signals.stop() }

        let live = try workspace.startRun(request)
        observer.runStarted(live.record, live: live)

        let helper = try installPythonHelper()
        var env = workspace.environment
        env["GITML_RUN_ID"] = live.record.id
        env["GITML_EXPERIMENT"] = live.record.experiment
        env["GITML_OUTPUTS"] = live.outputsFolder
        env["GITML_METRICS"] = live.metricsPath
        env["PYTHONPATH"] = [helper, env["PYTHONPATH"]].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ":")
        env["PYTHONUNBUFFERED"] = "1"

        let logFD = open(live.logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        defer { if logFD >= 0 { close(logFD) } }
        let metricsFD = open(live.metricsPath, O_RDONLY | O_CLOEXEC)
        defer { if metricsFD >= 0 { close(metricsFD) } }
        var parser = MetricsParser()
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: 65536, alignment: 16)
        defer { chunk.deallocate() }

        let spec = ProcessSpec(arguments: request.command, environment: env, workingDirectory: request.workingDirectory,
                               stdinFromNull: isatty(0) == 1)
        let result = supervisor.run(spec, output: { data, isStderr in
            observer.output(data, isStderr: isStderr)
            if logFD >= 0 { data.withUnsafeBytes { _ = write(logFD, $0.baseAddress, $0.count) } }
        }, tick: {
            signals.forwardPending(to: supervisor)
            guard metricsFD >= 0 else { return }
            var fresh: [MetricPoint] = []
            while true {
                let n = read(metricsFD, chunk, 65536)
                if n <= 0 { break }
                fresh += parser.feed(Data(bytes: chunk, count: n))
            }
            if !fresh.isEmpty { observer.metricsLogged(fresh) }
        })

        let outcome = Self.outcome(of: result, command: request.command[0], cancelSignal: signals.cancelSignal)
        if let spawnError = result.spawnError {
            let message = "git-ml: cannot start \(request.command[0]): \(String(cString: strerror(spawnError)))\n"
            observer.output(Data(message.utf8), isStderr: true)
            if logFD >= 0 { _ = message.withCString { write(logFD, $0, strlen($0)) } }
        }
        let record = try workspace.finishRun(live, outcome: outcome, progress: { observer.storing($0) })
        observer.runFinished(record)
        return record
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
