import Foundation
import GitKit
import GRDB

/// A run of the reported commit beside the latest run of the same job on the base.
public struct RunComparison: Sendable {
    /// What matches the two: the job file (`job: train.yml`), else the command line (`cmd: python train.py`).
    public var key: String
    public var run: RunRecord
    public var base: RunRecord?
}

/// What `git ml report` compares: the runs of one commit against the latest runs of the
/// same jobs on a base, and the model versions registered from them.
public struct ReportData: Sendable {
    public var commit: String
    public var baseRef: String
    /// The base's tip; nil when the base could not be resolved (no runs to compare with).
    public var baseCommit: String?
    public var comparisons: [RunComparison]
    /// Model versions registered from the reported runs.
    public var models: [ModelEntry]
}

extension Workspace {
    /// How far back the base's first-parent history is searched for runs.
    static let reportBaseDepth = 1000

    /// The runs of `commit` (default HEAD), each with the latest run of the same job among the
    /// commits of `base`'s first-parent history (its last 1,000 commits). A job is matched by its
    /// job file, else by its command line.
    public func reportData(commit: String = "HEAD", base: String) throws -> ReportData {
        let head = try git { try repository.resolveCommit(commit) }
        let baseTip = try? git { try repository.resolveCommit(base) }
        let mine = try latestRunsByJob(commits: [head.hex])
        var baseRuns: [String: RunRecord] = [:]
        if let baseTip {
            var commits: [String] = []
            var next: ObjectID? = baseTip
            while let c = next, commits.count < Self.reportBaseDepth {
                commits.append(c.hex)
                next = try git { try repository.readCommit(c).parents.first }
            }
            // The reported commit's own runs are not its base (a report on the base branch itself).
            baseRuns = try latestRunsByJob(commits: commits.filter { $0 != head.hex })
        }
        let comparisons = mine.sorted { $0.key < $1.key }.map { RunComparison(key: $0.key, run: $0.value, base: baseRuns[$0.key]) }
        let ids = Set(comparisons.map(\.run.id))
        let models = try listModels().filter { $0.model.source.run.map(ids.contains) ?? false }
        return ReportData(commit: head.hex, baseRef: base, baseCommit: baseTip?.hex, comparisons: comparisons, models: models)
    }

    /// The job a run ran, as reports match runs: `job: <file>` or `cmd: <command line>`.
    static func jobKey(_ r: RunRecord) -> String {
        if let file = r.job?.file { return "job: " + file }
        return "cmd: " + r.command.joined(separator: " ")
    }

    /// The latest run of each job among the runs made from `commits` (sweep trials and steps left out).
    func latestRunsByJob(commits: [String]) throws -> [String: RunRecord] {
        var rows: [(id: String, start: Int64)] = []
        for start in stride(from: 0, to: commits.count, by: 500) {
            let chunk = Array(commits[start..<min(commits.count, start + 500)])
            rows += try queryIndex { index in
                try index.queue.read { db in
                    let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                    return try Row.fetchAll(db, sql: "SELECT id, start_time FROM runs WHERE \"commit\" IN (\(marks)) AND lifecycle_stage = 'active'",
                                            arguments: StatementArguments(chunk))
                        .map { ($0[0] as String, $0[1] as Int64) }
                }
            }.rows
        }
        var out: [String: RunRecord] = [:]
        for row in rows.sorted(by: { $0.start > $1.start }) {
            guard let record = try? readRecord(commit: try resolveRun(row.id).commit),
                  record.kind == "command" || record.kind == "pipeline" || record.kind == "sweep" else { continue }
            let key = Self.jobKey(record)
            if out[key] == nil { out[key] = record }
        }
        return out
    }
}
