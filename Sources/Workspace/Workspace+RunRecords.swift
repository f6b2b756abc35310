import Foundation
import GitKit
import ObjectStore
import Synchronization

/// The files a run commit's tree holds besides `run.json`.
struct RecordFiles {
    var metricsSeries: Data?
    var logFile: String?
    /// More logs (per-process logs of a distributed job), by file name.
    var extraLogs: [String: String] = [:]
    var manifests: [String: Data] = [:]
    var jobSpec: Data?
    var sign = false
}

extension Workspace {
    /// Writes a record as a commit on `refs/ml/runs/<id>` whose first parent is
    /// the code commit, replacing `expected` (nil: the ref must not exist yet).
    @discardableResult
    func writeRecord(_ record: RunRecord, files: RecordFiles, expected: ObjectID?) throws -> ObjectID {
        PerfTrace.mark("record: writing")
        guard let codeTree = ObjectID(hex: record.code.tree), let codeCommit = ObjectID(hex: record.code.commit) else {
            throw WorkspaceError(.storage, "record \(record.id) names no valid code commit")
        }
        var tree: [String: RecordFile] = ["code": .object(codeTree, .tree)]
        if let spec = files.jobSpec { tree["job.yaml"] = .data(spec) }
        if let series = files.metricsSeries { tree["metrics.jsonl"] = .data(series) }
        var logPaths = files.extraLogs
        if let log = files.logFile { logPaths["output.log"] = log }
        let logs = logPaths.filter { access($0.value, F_OK) == 0 }.mapValues { RecordFile.file(path: $0) }
        if !logs.isEmpty { tree["logs"] = .folder(logs) }
        if !files.manifests.isEmpty {
            tree["outputs"] = .folder(Dictionary(uniqueKeysWithValues: files.manifests.map { ($0.key + ".json", RecordFile.data($0.value)) }))
        }
        let content = RecordContent(
            document: try record.encoded(), files: tree, parents: [codeCommit],
            message: "git-ml run \(record.id): \(record.status.rawValue) \(record.name)\n\n\(record.command.joined(separator: " "))\n",
            time: record.endTime ?? record.startTime, sign: files.sign)
        let commit = try git { try ledger.write(.run, record.id, expecting: expected.map { .at($0) } ?? .absent) { _ in content } }
        PerfTrace.mark("record: tree and commit written")
        return commit
    }

    /// Reads the record stored in a run commit.
    public func readRecord(commit: ObjectID) throws -> RunRecord {
        let data = try git { try ledger.document(.run, at: commit) }
        do {
            return try RunRecord.decode(data)
        } catch {
            throw WorkspaceError(.storage, "run.json in \(commit.short) cannot be read: \(error)")
        }
    }

    /// Every run ref: (run id, run commit).
    func runRefs() throws -> [(id: String, commit: ObjectID)] {
        try git { try ledger.list(.run) }.map { ($0.key, $0.commit) }
    }

    /// Adds or replaces this run's line in the `refs/notes/ml` note of its code commit,
    /// on another thread with a repository handle of its own (libgit2 handles are one
    /// thread's at a time), so the note and the record, which live on different refs,
    /// are written at the same time. Calling the returned closure joins it.
    func updateNoteConcurrently(for record: RunRecord) -> () throws -> Void {
        let gitDir = repository.gitDirectory, author = signature
        let failure = Mutex<Error?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            do {
                let repo = try Repository.discover(from: gitDir, environment: ["GIT_DIR": gitDir])
                PerfTrace.mark("note: repository opened")
                try Self.writeNote(for: record, in: repo, author: author)
                PerfTrace.mark("note: written")
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }
        return {
            done.wait()
            if let e = failure.withLock({ $0 }) {
                throw (e as? GitError).map { WorkspaceError(.storage, "git: \($0.description)") } ?? e
            }
        }
    }

    /// Adds or replaces the lines of many runs, one note update a code commit (runs that arrive with a pull).
    static func writeNotes(for records: [RunRecord], in repository: Repository, author: Signature) throws {
        for (commitHex, group) in Dictionary(grouping: records, by: { $0.code.commit }) {
            guard let commit = ObjectID(hex: commitHex) else { continue }
            let lines = group.map { (prefix: "git-ml run \($0.id) ", line: noteLine(for: $0)) }
            try repository.updateNote(on: commit, notesRef: notesRef, author: author) { old in
                // New runs (the usual case) are appended without taking a long note apart.
                if let old, !lines.contains(where: { old.contains($0.prefix) }) {
                    return (old.hasSuffix("\n") || old.isEmpty ? old : old + "\n") + lines.map(\.line).joined(separator: "\n") + "\n"
                }
                var existing = (old ?? "").split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
                let replaced = Set(lines.map(\.prefix))
                existing.removeAll { line in
                    guard line.hasPrefix("git-ml run "), let end = line.dropFirst(11).firstIndex(of: " ") else { return false }
                    return replaced.contains(String(line[..<line.index(after: end)]))
                }
                return (existing + lines.map(\.line)).joined(separator: "\n") + "\n"
            }
        }
    }

    static func noteLine(for record: RunRecord) -> String {
        var line = "git-ml run \(record.id) \(record.status.rawValue) name=\(record.name)"
        if record.code.dirty { line += " dirty" }
        for key in record.metrics.keys.sorted().prefix(6) {
            line += " \(key)=\(RunFormatting.number(record.metrics[key]!.last))"
        }
        return line
    }

    static func writeNote(for record: RunRecord, in repository: Repository, author: Signature) throws {
        guard let commit = ObjectID(hex: record.code.commit) else { return }
        let line = noteLine(for: record)
        let prefix = "git-ml run \(record.id) "
        try repository.updateNote(on: commit, notesRef: notesRef, author: author) { old in
            var lines = (old ?? "").split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            if let i = lines.firstIndex(where: { $0.hasPrefix(prefix) }) { lines[i] = line } else { lines.append(line) }
            return lines.joined(separator: "\n") + "\n"
        }
    }
}

/// Number formatting shared by notes, tables and reports.
public enum RunFormatting {
    /// Up to 4 significant decimals, no trailing zeros: 0.1235, 12, 1.5e-07.
    public static func number(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == v.rounded(), abs(v) < 1e12 { return String(Int64(v)) }
        if abs(v) >= 1e-3, abs(v) < 1e6 {
            var s = String(format: "%.4f", v)
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
            return s
        }
        return String(format: "%.3g", v)
    }

    /// 850ms, 12.3s, 4m05s, 2h03m.
    public static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let s = Int(seconds.rounded())
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }

    /// 512 B, 1.2 KB, 3.4 MB, 1.0 GB.
    public static func bytes(_ n: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var v = Double(n)
        var i = 0
        while v >= 1000, i < units.count - 1 { v /= 1000; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f", v) + " " + units[i]
    }
}
