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
                mergeNote(old, lines: lines)
            }
        }
    }

    static func writeNote(for record: RunRecord, in repository: Repository, author: Signature) throws {
        try writeNotes(for: [record], in: repository, author: author)
    }

    /// The note with each run's line replaced, or appended when the run has none. A commit's note
    /// can hold many thousands of runs (a sweep, or a team's year on one commit), so new runs (the
    /// usual case) are found absent by a byte search and appended without taking the note apart.
    static func mergeNote(_ old: String?, lines: [(prefix: String, line: String)]) -> String {
        var old = old ?? ""
        let present = old.withUTF8 { note in
            lines.contains { entry in
                var prefix = "\n" + entry.prefix
                return prefix.withUTF8 { needle in
                    note.starts(with: needle.dropFirst()) || contains(needle, in: note)
                }
            }
        }
        if !present {
            return (old.hasSuffix("\n") || old.isEmpty ? old : old + "\n") + lines.map(\.line).joined(separator: "\n") + "\n"
        }
        // A run's line is replaced where it stands (a run that finishes keeps its place).
        var pending = Dictionary(lines.map { ($0.prefix, $0.line) }, uniquingKeysWith: { _, last in last })
        var merged = old.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        for i in merged.indices where merged[i].hasPrefix("git-ml run ") {
            guard let end = merged[i].dropFirst(11).firstIndex(of: " "),
                  let line = pending.removeValue(forKey: String(merged[i][...end])) else { continue }
            merged[i] = line
        }
        merged += lines.compactMap { pending.removeValue(forKey: $0.prefix) }
        return merged.joined(separator: "\n") + "\n"
    }

    /// Whether `haystack` holds `needle` (which starts with a newline), jumping from line to line with memchr.
    private static func contains(_ needle: UnsafeBufferPointer<UInt8>, in haystack: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = haystack.baseAddress, let first = needle.first, needle.count <= haystack.count else { return false }
        var at = 0
        while at + needle.count <= haystack.count {
            guard let hit = memchr(base + at, Int32(first), haystack.count - at) else { return false }
            let offset = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
            if offset + needle.count > haystack.count { return false }
            if memcmp(base + offset, needle.baseAddress!, needle.count) == 0 { return true }
            at = offset + 1
        }
        return false
    }

    static func noteLine(for record: RunRecord) -> String {
        var line = "git-ml run \(record.id) \(record.status.rawValue) name=\(record.name)"
        if record.code.dirty { line += " dirty" }
        for key in record.metrics.keys.sorted().prefix(6) {
            line += " \(key)=\(RunFormatting.number(record.metrics[key]!.last))"
        }
        return line
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
