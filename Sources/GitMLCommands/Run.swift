import ArgumentParser
import Engine
import Foundation
import ObjectStore
import Synchronization
import Workspace

struct Run: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command as a recorded run: code, logs, metrics and outputs tied to HEAD.",
        discussion: """
        The command runs in the current folder with its output streamed live and captured. It gets GITML_RUN_ID, GITML_OUTPUTS (files written there become the run's outputs), GITML_METRICS (a JSON-lines metrics file) and the `gitml` Python helper on PYTHONPATH. A dirty work tree is snapshotted, so the run can be restored exactly. git-ml exits with the command's exit code; Ctrl-C stops the command and records it as canceled. A single quoted argument is run by /bin/sh, like a job file's `command:`.

        Examples:
          git ml run -- python train.py --lr 0.1
          git ml run --name base --param lr=0.1 --tag team=cv -- python train.py
          git ml run --output model.pkl -- python train.py
          git ml run "python prep.py && python train.py"
          git ml run -f jobs/train.yml
          git ml run -f jobs/train.yml --set inputs.learning_rate=0.01 --set compute=local
          git ml run -f jobs/sweep.yml --set limits.max_concurrent_trials=2
        """)

    @Option(name: [.customShort("f"), .customLong("file")], help: ArgumentHelp("An Azure ML command or sweep job YAML to run locally.", valueName: "job.yml"))
    var file: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field of the job file (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    @Option(name: .long, help: "Display name (default: a generated one such as brave-otter-417).")
    var name: String?
    @Option(name: .long, help: "Experiment the run joins (default: from .mlops/config.yaml).")
    var experiment: String?
    @Option(name: .long, help: ArgumentHelp("A tag, key=value (repeatable).", valueName: "key=value"))
    var tag: [String] = []
    @Option(name: .long, help: ArgumentHelp("A parameter to record, key=value (repeatable).", valueName: "key=value"))
    var param: [String] = []
    @Option(name: .long, help: ArgumentHelp("A file or folder the command writes, stored as an output (repeatable).", valueName: "path"))
    var output: [String] = []
    @Flag(help: "Sign the run's record commit with your git signing set-up (gpg.format, user.signingkey), as git commit -S does.")
    var sign = false
    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

    mutating func validate() throws {
        // Everything after `run` is captured, so a bare --help/-h must be answered here.
        if command == ["--help"] || command == ["-h"] { throw CleanExit.helpRequest(self) }
        if command.first == "--" {
            command.removeFirst()
        } else if file != nil, let first = command.first {
            throw ValidationError("unexpected '\(first)': a job file names its own command; change it with --set command=...")
        } else if let first = command.first, first.hasPrefix("-") {
            // Without `--`, a leading dash is a mistyped option, not a command to record.
            throw ValidationError("unknown option '\(first)'; give the command after --, e.g. git ml run -- python train.py")
        }
        if file != nil {
            guard command.isEmpty else { throw ValidationError("give either -f job.yml or a command after --, not both") }
            guard output.isEmpty, param.isEmpty else { throw ValidationError("--output and --param are for commands; a job file declares outputs and inputs") }
        } else if !overrides.isEmpty {
            throw ValidationError("--set changes a job file; give one with -f job.yml")
        }
        guard file != nil || !command.isEmpty else { throw ValidationError("no command to run; give one after --, e.g. git ml run -- python train.py") }
        _ = try keyValues(tag, option: "--tag")
        _ = try keyValues(param, option: "--param")
    }

    func run(in workspace: Workspace) throws {
        // A signing set-up that cannot work is found before the run, not when its record is written.
        if sign { try workspace.checkSigningSetup() }
        let record = try JobSubmitter(workspace: workspace).submit(try submission(in: workspace), observer: RunRenderer(term: .current),
                                                                   sweeps: SweepRenderer(term: .current))
        switch record.status {
        case .completed: return
        case .canceled: throw ExitCode(record.exitCode.map { $0 > 128 ? $0 : 130 } ?? 130)
        default: throw ExitCode(max(1, record.exitCode ?? 1))
        }
    }

    /// The job file, or the command line run in place.
    func submission(in workspace: Workspace) throws -> JobSubmission {
        if let file {
            var job = JobRequest(file: file)
            job.overrides = overrides
            job.name = name
            job.experiment = experiment
            job.tags = try keyValues(tag, option: "--tag")
            job.sign = sign
            return .file(job)
        }
        var request = RunRequest(command: command, workingDirectory: workspace.currentDirectory)
        request.name = name
        request.experiment = experiment
        request.tags = try keyValues(tag, option: "--tag")
        request.params = try keyValues(param, option: "--param")
        request.outputPaths = output
        request.sign = sign
        return .command(request)
    }
}

/// Shows a run as it goes: its start, the command's output untouched, metrics
/// as they are logged, a progress bar while outputs are stored, and its end.
final class RunRenderer: JobObserver {
    let term: Terminal
    let progressState = Mutex<(shown: Bool, last: Double)>((false, 0))
    let metricsState = Mutex(MetricsState())

    init(term: Terminal) { self.term = term }

    func runStarted(_ r: RunRecord, live: LiveRun) {
        let code = String(r.code.commit.prefix(10)) + (r.code.dirty ? "+dirty" : "")
        Out.error(term.dim("git-ml: run ", stderr: true) + term.bold(r.id, stderr: true)
                  + term.dim(" (\(r.name)) on \(code), experiment \(r.experiment)", stderr: true))
    }

    func output(_ data: Data, isStderr: Bool) { Out.write(isStderr ? 2 : 1, data) }

    func stage(_ message: String) { Out.error(term.dim("git-ml: " + message, stderr: true)) }

    /// An environment build's output: one redrawn line on a terminal; elsewhere only
    /// git-ml's own lines (pip's full output is in the build log).
    func buildOutput(_ line: String) {
        if term.stderrIsTTY {
            let shown = String(line.prefix(max(20, term.width - 12)))
            // git-ml's own lines (translations, notes, the end) stay; the installer's are redrawn over.
            let own = line.hasPrefix("environment ") || line.hasPrefix("git-ml: ")
            let text = line.hasPrefix("git-ml: ") ? String(line.dropFirst(8)) : shown
            Out.write(2, "\r\u{1b}[K" + term.dim("git-ml: ", stderr: true) + text + (own ? "\n" : ""))
        } else if line.hasPrefix("environment ") || line.hasPrefix("git-ml: ") {
            Out.error(line.hasPrefix("git-ml: ") ? line : "git-ml: " + line)
        }
    }

    /// Live metrics: the first values at once, then at most one line a second with
    /// the latest value of each key, and the last values when the run ends, so a
    /// loop that logs thousands of steps does not flood the terminal.
    func metricsLogged(_ points: [MetricPoint]) {
        let now = Date().timeIntervalSince1970
        let line = metricsState.withLock { s -> String? in
            for p in points {
                if s.latest[p.key] == nil { s.order.append(p.key) }
                s.latest[p.key] = p
            }
            guard now - s.lastPrint >= 1 else { return nil }
            s.lastPrint = now
            return Self.metricsLine(&s)
        }
        if let line { Out.error(term.cyan("git-ml: ", stderr: true) + line) }
    }

    func flushMetrics() {
        let line = metricsState.withLock { s -> String? in
            guard let last = s.latest.values.map(\.timestamp).max(), last > s.printedUpTo else { return nil }
            return Self.metricsLine(&s)
        }
        if let line { Out.error(term.cyan("git-ml: ", stderr: true) + line) }
    }

    struct MetricsState {
        var latest: [String: MetricPoint] = [:]
        var order: [String] = []
        var lastPrint = 0.0
        var printedUpTo: Int64 = 0
    }

    static func metricsLine(_ s: inout MetricsState) -> String {
        s.printedUpTo = s.latest.values.map(\.timestamp).max() ?? 0
        let step = s.latest.values.map(\.step).max() ?? 0
        return "step \(step) " + s.order.prefix(8).map { "\($0)=\(RunFormatting.number(s.latest[$0]!.value))" }.joined(separator: " ")
    }

    func storing(_ p: StoreProgress) {
        guard term.stderrIsTTY, p.bytesTotal > 0 else { return }
        let now = Date().timeIntervalSince1970
        let draw = progressState.withLock { s -> Bool in
            guard p.filesDone == p.filesTotal || now - s.last > 0.1 else { return false }
            s.last = now; s.shown = true
            return true
        }
        guard draw else { return }
        let fraction = Double(p.bytesDone) / Double(max(1, p.bytesTotal))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        var line = "\rgit-ml: storing outputs \(bar) \(RunFormatting.bytes(p.bytesDone))/\(RunFormatting.bytes(p.bytesTotal)) \(p.filesDone)/\(p.filesTotal) files"
        if p.filesDone == p.filesTotal { line += "\n" }
        Out.write(2, line)
    }

    func runFinished(_ r: RunRecord) {
        flushMetrics()
        var parts = [Render.status(r.status, term, stderr: true)]
        if let d = r.duration { parts.append("in \(RunFormatting.duration(d))") }
        if r.status != .completed, let reason = r.statusReason { parts.append("(\(reason))") }
        var line = term.dim("git-ml: run ", stderr: true) + r.id + " " + parts.joined(separator: " ")
        let metrics = r.metrics.keys.sorted().prefix(4).map { "\($0)=\(RunFormatting.number(r.metrics[$0]!.last))" }
        if !metrics.isEmpty { line += " · " + metrics.joined(separator: " ") }
        if !r.outputs.isEmpty { line += " · \(r.outputs.reduce(0) { $0 + $1.files }) output files" }
        if r.metricsSkipped > 0 { line += term.yellow(" · \(r.metricsSkipped) malformed metric lines skipped", stderr: true) }
        Out.error(line)
    }
}
