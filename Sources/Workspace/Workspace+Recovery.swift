import Foundation
import GitKit
import ObjectStore

/// What a run's live folder says about how to finish it, for whoever finishes it: its own
/// git-ml process, or the recovery of a run whose process was killed. Written at the start
/// of a job run (`finish.json`); a plain command run needs none (its outputs are the live
/// folder's `outputs/`).
struct FinishPlan: Codable {
    struct Collected: Codable { var name: String; var path: String; var absolute: String }
    var collected: [Collected]
    var logFiles: [String: String]
    var outputsFolder: String?
    static let file = "finish.json"
}

/// A lost run that was finished from what it left.
public struct RecoveredRun: Sendable {
    public var record: RunRecord
    /// False when the live folder was gone and only the last checkpoint could be recorded.
    public var fromLiveFolder: Bool
}

extension Workspace {
    /// Writes the finish plan of a run about to start (jobs only).
    func writeFinishPlan(_ request: RunRequest, folder: String) throws {
        guard !request.collected.isEmpty || !request.logFiles.isEmpty else { return }
        let plan = FinishPlan(collected: request.collected.map { .init(name: $0.name, path: $0.path, absolute: $0.absolute) },
                              logFiles: request.logFiles, outputsFolder: request.outputsFolder)
        // Not synced (a sweep writes one a trial): a plan a power cut lost or tore is read as absent,
        // and recovery falls back to the run's outputs folder, as for a run of an older git-ml.
        try writeFileAtomically(try JSONEncoder().encode(plan), to: folder + "/" + FinishPlan.file, durable: false)
    }

    /// Finishes a run whose git-ml process is gone (its record says `running`, it ran on this
    /// host, and its live folder's lock is free): its metrics, params, tags, logs and the
    /// outputs in its live folder go into a final record with status `lost`, and the live
    /// folder is removed only once that record is written. Outputs a run declared with
    /// `--output` in the work tree are not taken: what is there now may be another run's.
    /// Returns nil when the run is not lost (still running, finished, or another host's).
    public func recoverLostRun(_ id: String, by who: String) throws -> RecoveredRun? {
        guard RunID.isValid(id), let commit = try git({ try ledger.head(.run, id) }) else { return nil }
        let record = try readRecord(commit: commit, of: id)
        guard record.status == .running, record.host == Host.name else { return nil }
        let folder = liveFolder(id)
        let reason = "git-ml (process \(record.pid) on \(record.host)) ended before it finished this run"
        var lockFD = openFile(folder + "/lock", O_RDONLY | O_CLOEXEC)
        if lockFD < 0 {
            // Only a lock that is not there says anything; one that cannot be opened is left alone.
            guard errno == ENOENT else { return nil }
            switch liveFolderState(folder) {
            case .missing: return try recordLostWithoutFolder(id, reason: reason, by: who)
            case .starting: return nil
            case .stale:
                lockFD = openFile(folder + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
                guard lockFD >= 0 else { return nil }
            }
        }
        // The descriptor is the LiveRun's once made; until then every way out closes it.
        var handedOver = false
        defer { if !handedOver { close(lockFD) } }
        // Held while git-ml or the command it started (which inherits the lock) still lives.
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else { return nil }
        // Under the lock: another recovery may have finished it meanwhile.
        guard let current = try git({ try ledger.head(.run, id) }) else { return nil }
        let latest = try readRecord(commit: current, of: id)
        guard latest.status == .running else { return nil }

        var request = RunRequest(command: latest.command, workingDirectory: workTree)
        request.id = id
        if let data = FileManager.default.contents(atPath: folder + "/" + FinishPlan.file),
           let plan = try? JSONDecoder().decode(FinishPlan.self, from: data) {
            request.collected = plan.collected.map { CollectedOutput(name: $0.name, path: $0.path, absolute: $0.absolute) }
            request.logFiles = plan.logFiles
            request.outputsFolder = plan.outputsFolder
        } else if let data = FileManager.default.contents(atPath: folder + "/outputs.path"), let path = String(data: data, encoding: .utf8), !path.isEmpty {
            request.outputsFolder = path
        }
        // A job's file, as its first record holds it, goes into the final record too.
        request.jobSpec = try git { () -> Data? in
            guard case .object(let blob, _)? = try ledger.content(at: current, .run).files["job.yaml"] else { return nil }
            return try repository.readBlob(blob)
        }
        let live = LiveRun(record: latest, folder: folder, request: request, commit: current, lockFD: lockFD)
        handedOver = true
        // The end is when the run last wrote anything it left.
        var end = latest.startTime
        for path in [live.metricsPath, live.logPath] {
            var st = stat()
            if stat(path, &st) == 0 { end = max(end, Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)) }
        }
        let outcome = RunOutcome(status: .lost, exitCode: -1, reason: reason + "; recovered by \(who) from what it left",
                                 wallSeconds: end.timeIntervalSince(latest.startTime), cpuSeconds: 0, peakMemoryBytes: 0)
        return RecoveredRun(record: try finishRun(live, outcome: outcome, end: end), fromLiveFolder: true)
    }

    private struct FinishedMeanwhile: Error {}

    /// A running record whose live folder is gone (an older git-ml removed it): the last
    /// checkpoint is all there is. Nil when the run turns out to have finished meanwhile (its
    /// own process removes the folder right after writing the final record).
    private func recordLostWithoutFolder(_ id: String, reason: String, by who: String) throws -> RecoveredRun? {
        do {
            let amended = try amendRecord(id, message: "lost, recovered by \(who)") { r in
                guard r.status == .running else { throw FinishedMeanwhile() }
                r.status = .lost
                r.statusReason = reason + "; its live folder was gone, so this record holds what the last checkpoint saved (recovered by \(who))"
                r.endTime = r.endTime ?? Date()
            }
            return RecoveredRun(record: amended, fromLiveFolder: false)
        } catch is FinishedMeanwhile {
            return nil
        }
    }

    enum LiveFolderState { case missing, starting, stale }

    /// What a live folder without a lock file is: gone, being made by a run starting now
    /// (the lock is the first thing in it, so only for an instant), or left like that for
    /// over a minute.
    func liveFolderState(_ folder: String) -> LiveFolderState {
        var st = stat()
        guard lstat(folder, &st) == 0 else { return errno == ENOENT ? .missing : .starting }
        return Date().timeIntervalSince1970 - Double(st.st_mtim.tv_sec) < 60 ? .starting : .stale
    }

    /// Recovers every lost run of this host (`git ml recover`, and commands that meet one).
    public func recoverLostRuns(by who: String) throws -> [RecoveredRun] {
        var out: [RecoveredRun] = []
        var lost = RunFilter()
        lost.statuses = [.lost]
        for summary in try listRuns(lost, recover: false) {
            if let r = try recoverLostRun(summary.id, by: who) { out.append(r) }
        }
        // What is left: folders of finished runs whose removal was cut short, and of runs
        // killed before their first record (nothing in them was ever started). A folder kept
        // on purpose (outputs that could not be stored) stays for the user.
        for folder in orphanLiveFolders() where folder.state == .leftover {
            try? FileManager.default.removeItem(atPath: liveFolder(folder.id))
        }
        return out
    }

    /// A live folder that no running process holds.
    public struct OrphanFolder: Sendable {
        public enum State: Sendable, Equatable {
            /// The record says running: recovery records what the folder holds.
            case lost
            /// The record is final or missing: the folder only takes space.
            case leftover
            /// Kept on purpose by a run whose outputs could not be stored.
            case kept
        }
        public var id: String
        public var bytes: Int64
        public var state: State
    }

    /// Live folders under `.git/ml/runs/` that no running process holds: lost runs waiting for
    /// recovery, folders kept by runs whose outputs could not be stored, and leftovers (a
    /// finished run's folder whose removal was cut short, a run killed before its first record).
    public func orphanLiveFolders() -> [OrphanFolder] {
        let root = stateDirectory + "/runs"
        var out: [OrphanFolder] = []
        for id in ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted() where RunID.isValid(id) {
            guard isLost(id: id, host: Host.name) else { continue }
            let bytes = (try? ObjectStore.walk(root + "/" + id).reduce(Int64(0)) { $0 + $1.size }) ?? 0
            let head = (try? git({ try ledger.head(.run, id) })) ?? nil
            let running = (head.flatMap { try? readRecord(commit: $0) })?.status == .running
            let kept = FileManager.default.fileExists(atPath: root + "/" + id + "/" + Self.keptMarker)
            out.append(OrphanFolder(id: id, bytes: bytes, state: running ? .lost : kept ? .kept : .leftover))
        }
        return out
    }
}
