import Foundation
import GitKit
import ObjectStore

/// What the user asked `git ml run` to do.
public struct RunRequest: Sendable {
    public var command: [String]
    public var name: String?
    public var experiment: String?
    public var tags: [String: String] = [:]
    public var params: [String: String] = [:]
    /// Extra outputs (`--output PATH`), relative to `workingDirectory` or absolute.
    public var outputPaths: [String] = []
    /// Absolute folder the command runs in.
    public var workingDirectory: String

    /// `command`, or `mlflow` for a run created through the tracking API (it has no command).
    public var kind = "command"

    // Set by the job runner (`git ml run -f`).
    /// The run id, when the caller needs the live folder's paths before the start.
    public var id: String?
    public var job: RunRecord.Job?
    public var compute: String?
    /// Declared inputs; data inputs get their hashes once stored.
    public var inputs: [RunRecord.Input] = []
    /// Folders (or files) under the live folder stored as outputs when the run ends:
    /// the code copy's `./outputs` and `./logs`, and each named output.
    public var collected: [CollectedOutput] = []
    /// The folder GITML_OUTPUTS names (default: `<live folder>/outputs`).
    public var outputsFolder: String?
    /// Extra log files stored under `logs/` in the record (name -> absolute path).
    public var logFiles: [String: String] = [:]
    /// The working directory to record (relative to the top), when the command runs in a copy.
    public var recordedWorkingDirectory: String?
    /// The job file as run (after `--set`), stored as `job.yaml` in the record.
    public var jobSpec: Data?
    /// Sign the final record commit with the user's git signing set-up (`git ml run --sign`).
    public var sign = false
    /// The run this one belongs to (a sweep's trial: the sweep).
    public var parent: String?
    /// The code to record instead of a snapshot of the work tree now (a sweep's trials run
    /// the sweep's code, even when the work tree changes meanwhile or the sweep is resumed).
    public var codeSnapshot: RunRecord.Code?
    /// A sweep's summary, in its first record (the seed a resumed sweep draws from).
    public var sweep: SweepSummary?
    public var trialIndex: Int?

    public init(command: [String], workingDirectory: String) {
        self.command = command
        self.workingDirectory = workingDirectory
    }
}

/// An output git-ml collects from a path it made for the job.
public struct CollectedOutput: Sendable {
    /// The name in the record: `artifacts/outputs`, `artifacts/logs`, or the output's name.
    public var name: String
    /// Where `git ml checkout --outputs DIR` puts it.
    public var path: String
    public var absolute: String
    public init(name: String, path: String, absolute: String) {
        self.name = name; self.path = path; self.absolute = absolute
    }
}

/// A run between its start and its end: the record as first written and the
/// live folder (`.git/ml/runs/<id>/`) the command writes into.
public final class LiveRun {
    public private(set) var record: RunRecord
    public let folder: String
    public var outputsFolder: String { request.outputsFolder ?? folder + "/outputs" }
    public var logPath: String { folder + "/logs/output.log" }
    public var metricsPath: String { folder + "/metrics.jsonl" }
    let request: RunRequest
    var commit: ObjectID
    /// The live folder's lock, held (flock) for as long as the run's git-ml process lives. A
    /// command it starts inherits it, so the run is never taken for lost while the command lives.
    public let lockFD: Int32

    init(record: RunRecord, folder: String, request: RunRequest, commit: ObjectID, lockFD: Int32) {
        self.record = record
        self.folder = folder
        self.request = request
        self.commit = commit
        self.lockFD = lockFD
    }

    deinit { if lockFD >= 0 { close(lockFD) } }

    /// Changes the record to be written at the end (inputs once hashed, the environment once built).
    public func update(_ change: (inout RunRecord) -> Void) { change(&record) }
}

/// How the command ended, as the engine saw it.
public struct RunOutcome: Sendable {
    public var status: RunRecord.Status
    public var exitCode: Int32
    public var reason: String?
    public var wallSeconds: Double
    public var cpuSeconds: Double
    public var peakMemoryBytes: Int64
    public init(status: RunRecord.Status, exitCode: Int32, reason: String?, wallSeconds: Double, cpuSeconds: Double, peakMemoryBytes: Int64) {
        self.status = status
        self.exitCode = exitCode
        self.reason = reason
        self.wallSeconds = wallSeconds
        self.cpuSeconds = cpuSeconds
        self.peakMemoryBytes = peakMemoryBytes
    }
}

extension Workspace {
    /// The live folder of a run.
    public func liveFolder(_ id: String) -> String { stateDirectory + "/runs/" + id }

    /// The folder a running run's outputs are written to (GITML_OUTPUTS), as any process sees it.
    public func liveOutputsFolder(_ id: String) -> String {
        let folder = liveFolder(id)
        if let data = FileManager.default.contents(atPath: folder + "/outputs.path"), let path = String(data: data, encoding: .utf8), !path.isEmpty {
            return path
        }
        return folder + "/outputs"
    }

    /// Changes a finished run's record (tags, name, lifecycle stage) as a new commit on its
    /// ref with the same tree otherwise, by compare-and-swap. A running run is changed
    /// through its metrics file instead, by the process that owns it.
    @discardableResult
    public func amendRecord(_ id: String, message: String, _ change: (inout RunRecord) throws -> Void) throws -> RunRecord {
        var record: RunRecord?
        try git {
            try ledger.write(.run, id, expecting: .latest) { current in
                guard let current else { throw WorkspaceError(.unknownRun, "no run \(id)") }
                var content = try ledger.content(at: current, .run)
                var changed = try RunRecord.decode(content.document)
                try change(&changed)
                content.document = try changed.encoded()
                content.message = "git-ml run \(id): \(message)\n"
                content.time = Date()
                record = changed
                return content
            }
        }
        return record!
    }

    /// Records the start of a run: snapshots the code, makes the live folder and
    /// writes the `running` record. (The note on the commit is written at the end.)
    public func startRun(_ request: RunRequest, at start: Date = Date()) throws -> LiveRun {
        guard !request.command.isEmpty || request.kind != "command" else {
            throw WorkspaceError(.invalidArgument, "no command to run", hint: "give one after --, e.g. git ml run -- python train.py")
        }
        _ = try requireHead()
        let config = try config()
        PerfTrace.mark("head and config read")
        let code: RunRecord.Code
        if let given = request.codeSnapshot {
            code = given
        } else {
            let snapshot = try git { try repository.snapshotWorkTree(leavingOut: config.snapshotSecrets ? { _ in false } : SecretNames.matches) }
            code = .init(commit: snapshot.head.hex, tree: snapshot.tree.hex, dirty: snapshot.isDirty,
                         branch: repository.headBranch(), changedPaths: snapshot.changedPaths,
                         leftOut: snapshot.leftOut.isEmpty ? nil : snapshot.leftOut)
        }
        PerfTrace.mark("work tree snapshot taken")
        let id = request.id ?? RunID.make(at: start)
        let (folder, lockFD) = try makeLiveFolder(id)
        PerfTrace.mark("live folder made and locked")
        let record = RunRecord(
            id: id, name: request.name ?? RunID.friendlyName(), experiment: request.experiment ?? config.experiment,
            kind: request.kind, parent: request.parent, status: .running, startTime: start, user: userName, host: Host.name, pid: getpid(), command: request.command,
            workingDirectory: request.recordedWorkingDirectory ?? relative(request.workingDirectory),
            code: code,
            params: request.params, tags: request.tags, metrics: [:], metricsSkipped: 0, outputs: [],
            compute: request.compute ?? "local", job: request.job, inputs: request.inputs.isEmpty ? nil : request.inputs,
            gitmlVersion: gitmlVersion, sweep: request.sweep, trialIndex: request.trialIndex)
        if let custom = request.outputsFolder {
            // Other processes (a tracking server) find a job's GITML_OUTPUTS here.
            // Not synced: after a power cut a run is recovered from its default outputs folder.
            try writeFileAtomically(Data(custom.utf8), to: folder + "/outputs.path", durable: false)
        }
        try writeFinishPlan(request, folder: folder)
        let commit = try writeRecord(record, files: RecordFiles(jobSpec: request.jobSpec), expected: nil)
        PerfTrace.mark("first record written")
        return LiveRun(record: record, folder: folder, request: request, commit: commit, lockFD: lockFD)
    }

    /// Makes a run's live folder and takes its lock. The lock comes first and is never seen
    /// free: it is taken under a name no other process looks at and then renamed into place.
    /// (A folder without it is taken for a run starting this instant, see liveFolderState.)
    func makeLiveFolder(_ id: String) throws -> (folder: String, lockFD: Int32) {
        let folder = liveFolder(id)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let locking = folder + "/.lock-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let lockFD = openFile(locking, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard lockFD >= 0, flock(lockFD, LOCK_EX | LOCK_NB) == 0, rename(locking, folder + "/lock") == 0 else {
            let e = errno
            if lockFD >= 0 { close(lockFD); unlink(locking) }
            throw WorkspaceError(.storage, "cannot lock \(relative(folder))/lock: \(String(cString: strerror(e)))")
        }
        for sub in ["outputs", "logs"] {
            try FileManager.default.createDirectory(atPath: folder + "/" + sub, withIntermediateDirectories: true)
        }
        _ = FileManager.default.createFile(atPath: folder + "/metrics.jsonl", contents: nil)
        return (folder, lockFD)
    }

    /// Takes up again a run whose process is gone (a sweep after Ctrl-C, a crash or a reboot):
    /// a run left `running` is first recorded as lost from what it left; then the run gets a
    /// live folder and lock again and a `running` record on top of its history. `change`
    /// edits the record that goes on (a sweep's trials as they are known now).
    public func reopenRun(_ id: String, _ change: (inout RunRecord) -> Void = { _ in }) throws -> LiveRun {
        _ = try recoverLostRun(id, by: "git ml (\(userName))")
        guard let commit = try git({ try ledger.head(.run, id) }) else { throw WorkspaceError(.unknownRun, "no run \(id)") }
        var record = try readRecord(commit: commit, of: id)
        guard record.status.isFinal else {
            throw WorkspaceError(.invalidArgument, "run \(id) is still running (git-ml process \(record.pid) on \(record.host))",
                                 hint: "stop it first (Ctrl-C where it runs, or kill \(record.pid)), then try again")
        }
        let (folder, lockFD) = try makeLiveFolder(id)
        var request = RunRequest(command: record.command, workingDirectory: workTree)
        request.id = id
        request.kind = record.kind
        request.jobSpec = try git { () -> Data? in
            guard case .object(let blob, _)? = try ledger.content(at: commit, .run).files["job.yaml"] else { return nil }
            return try repository.readBlob(blob)
        }
        record.status = .running
        record.statusReason = nil
        record.exitCode = nil
        record.endTime = nil
        record.pid = getpid()
        record.host = Host.name
        change(&record)
        do {
            try writeFinishPlan(request, folder: folder)
            let written = try writeRecord(record, files: RecordFiles(jobSpec: request.jobSpec), expected: commit)
            return LiveRun(record: record, folder: folder, request: request, commit: written, lockFD: lockFD)
        } catch {
            close(lockFD)
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    /// Records the end of a run: stores its outputs, metrics and log, replaces the
    /// `running` record with the final one, updates the note, and removes the live folder.
    ///
    /// When an output cannot be stored the run is still recorded, as failed, with the reason.
    public func finishRun(_ live: LiveRun, outcome: RunOutcome, end: Date = Date(),
                          progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> RunRecord {
        let clock = Date()
        var record = live.record
        record.status = outcome.status
        record.exitCode = outcome.status == .lost ? nil : outcome.exitCode
        record.statusReason = outcome.reason
        record.endTime = end

        PerfTrace.mark("finishing")
        CrashPoint.pass("finish:start")
        var files = gatherMetrics(live, into: &record)
        files.logFile = live.logPath
        files.extraLogs = live.request.logFiles
        files.jobSpec = live.request.jobSpec
        files.sign = live.request.sign
        var keepFolder = false
        do {
            record.outputs = try storeOutputs(live, requireAll: outcome.status == .completed, manifests: &files.manifests, progress: progress)
        } catch {
            record.status = .failed
            record.statusReason = "could not store the outputs: \(error)"
            // A declared output that was never written leaves nothing to keep; any other failure
            // (a full disk, an unreadable file) keeps the live folder, whose outputs may be the only copy.
            if (error as? WorkspaceError)?.code != .invalidArgument {
                keepFolder = true
                record.statusReason! += "; what the run wrote is kept in \(relative(live.folder)) (remove it when done)"
            }
        }
        record.resources = .init(wallSeconds: outcome.wallSeconds, cpuSeconds: outcome.cpuSeconds,
                                 peakMemoryBytes: outcome.peakMemoryBytes, recordSeconds: Date().timeIntervalSince(clock))
        PerfTrace.mark("metrics and outputs gathered")
        CrashPoint.pass("finish:outputs-stored")
        let noteWritten = updateNoteConcurrently(for: record)
        let written = Result {
            try git { try repository.retryingOnContention { try writeRecord(record, files: files, expected: live.commit) } }
        }
        do {
            try noteWritten()
            live.commit = try written.get()
        } catch {
            // The live folder stays: it holds everything the run logged and stored.
            throw WorkspaceError(.storage, "cannot write the final record of run \(record.id): \(error)",
                                 hint: "what the run logged and wrote is kept in \(relative(live.folder)); once the cause is fixed (a full disk: free space), `git ml recover` records it")
        }
        PerfTrace.mark("final record and note written")
        CrashPoint.pass("finish:record-written")
        // Only now, with a record naming every stored output, does the live folder go.
        if keepFolder {
            // Marked, so that `git ml recover` does not take it for a leftover.
            try? writeFileAtomically(Data((record.statusReason ?? "").utf8), to: live.folder + "/" + Self.keptMarker)
        } else {
            try? FileManager.default.removeItem(atPath: live.folder)
        }
        PerfTrace.mark("live folder removed")
        return record
    }

    /// Reads the live metrics file into the record (summary, params, tags) and returns
    /// the record's files with the series.
    func gatherMetrics(_ live: LiveRun, into record: inout RunRecord) -> RecordFiles {
        var parser = MetricsParser()
        if let data = FileManager.default.contents(atPath: live.metricsPath) {
            parser.feed(data)
            parser.finish()
        }
        record.metrics = parser.summary
        record.metricsSkipped = parser.skipped
        record.params.merge(parser.params) { _, new in new }
        record.tags.merge(parser.tags) { _, new in new }
        for key in parser.deletedTags { record.tags[key] = nil }
        var files = RecordFiles(metricsSeries: parser.points.isEmpty ? nil : parser.seriesFile())
        files.jobSpec = live.request.jobSpec
        return files
    }

    /// The file in a finished run's live folder that says why it was kept.
    static let keptMarker = "KEPT"

    /// The largest log a checkpoint copies into git; a longer one waits for the final record.
    static let checkpointLogLimit: Int64 = 16 << 20

    /// Brings a running run's record in git up to date (metrics, params, tags and, while
    /// short, the log so far), so that a crash loses only what came after. The record
    /// stays `running`; the final one replaces it by compare-and-swap as before.
    public func checkpointRun(_ live: LiveRun) throws {
        var record = live.record
        var files = gatherMetrics(live, into: &record)
        var st = stat()
        if stat(live.logPath, &st) == 0, Int64(st.st_size) <= Self.checkpointLogLimit { files.logFile = live.logPath }
        live.commit = try git { try repository.retryingOnContention { try writeRecord(record, files: files, expected: live.commit) } }
    }

    /// Stores the GITML_OUTPUTS folder (moved into the store, no copy) and each
    /// `--output` path (copied). A missing `--output` fails a run that otherwise
    /// completed, and is passed over for one that failed already.
    func storeOutputs(_ live: LiveRun, requireAll: Bool, manifests: inout [String: Data],
                      progress: (@Sendable (StoreProgress) -> Void)?) throws -> [RunRecord.Output] {
        var outputs: [RunRecord.Output] = []
        let fm = FileManager.default
        if live.request.outputsFolder == nil, let items = try? fm.contentsOfDirectory(atPath: live.outputsFolder), !items.isEmpty {
            let stored = try store.putFolder(at: live.outputsFolder, consume: true, progress: progress)
            manifests["outputs"] = try store.get(stored.manifest)
            outputs.append(.init(name: "outputs", path: "", type: "uri_folder", sha256: stored.manifest.hex,
                                 size: stored.size, files: stored.fileCount))
        }
        for c in live.request.collected {
            var st = stat()
            guard lstat(c.absolute, &st) == 0 else { continue }
            if st.st_mode & S_IFMT == S_IFDIR {
                // A declared output the job left empty is still recorded; empty ./outputs and ./logs are not.
                if c.name.hasPrefix("artifacts/"), (try? fm.contentsOfDirectory(atPath: c.absolute))?.isEmpty ?? true { continue }
                let stored = try store.putFolder(at: c.absolute, consume: true, progress: progress)
                manifests[c.name.replacingOccurrences(of: "/", with: "__")] = try store.get(stored.manifest)
                outputs.append(.init(name: c.name, path: c.path, type: "uri_folder", sha256: stored.manifest.hex, size: stored.size, files: stored.fileCount))
            } else if st.st_mode & S_IFMT == S_IFREG {
                let (id, size) = try store.put(fileAt: c.absolute, consume: true)
                outputs.append(.init(name: c.name, path: c.path, type: "uri_file", sha256: id.hex, size: size, files: 1))
            }
        }
        for given in live.request.outputPaths {
            let absolute = given.hasPrefix("/") ? given : live.request.workingDirectory + "/" + given
            var st = stat()
            guard lstat(absolute, &st) == 0 else {
                if !requireAll { continue }
                throw WorkspaceError(.invalidArgument, "output \(given) was not written by the command")
            }
            let name = relative(absolute)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                let stored = try store.putFolder(at: absolute, progress: progress)
                manifests[name.replacingOccurrences(of: "/", with: "__")] = try store.get(stored.manifest)
                outputs.append(.init(name: name, path: name, type: "uri_folder", sha256: stored.manifest.hex, size: stored.size, files: stored.fileCount))
            case S_IFREG:
                let (id, size) = try store.put(fileAt: absolute)
                outputs.append(.init(name: name, path: name, type: "uri_file", sha256: id.hex, size: size, files: 1))
            default:
                throw WorkspaceError(.invalidArgument, "output \(given) is not a file or folder (a symbolic link is stored only inside an output folder)")
            }
        }
        return outputs
    }
}
