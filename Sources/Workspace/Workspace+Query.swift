import Foundation
import GitKit

/// The part of a record `git ml runs` shows, read from the query index, so that listing
/// ten thousand runs reads no commit.
public struct RunSummary: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var experiment: String
    public var status: RunRecord.Status
    public var exitCode: Int32?
    public var codeCommit: String
    public var dirty: Bool
    public var startTime: Date
    public var endTime: Date?
    public var host: String
    /// Last value of each metric, in key order.
    public var metrics: [String: Double]
    /// Deleted through the tracking API (MLflow's lifecycle stage `deleted`); kept, and restorable.
    public var deleted: Bool = false
    /// command, sweep, trial, mlflow (a run made through the tracking API).
    public var kind: String = "command"
    /// The run this one belongs to: a trial's sweep.
    public var parent: String?

    enum CodingKeys: String, CodingKey {
        case id, name, experiment, status, exitCode = "exit_code", codeCommit = "commit", dirty
        case startTime = "start_time", endTime = "end_time", host, metrics, deleted, kind, parent
    }

    init(_ r: IndexedRun) {
        id = r.id; name = r.name; experiment = r.experiment; status = r.state; exitCode = r.exitCode
        codeCommit = r.commit; dirty = r.dirty; host = r.host
        startTime = Date(timeIntervalSince1970: Double(r.startTime) / 1000)
        endTime = r.endTime.map { Date(timeIntervalSince1970: Double($0) / 1000) }
        metrics = r.metrics.mapValues(\.value)
        deleted = r.lifecycleStage == "deleted"
        kind = r.kind
        parent = r.parent
    }

    public var duration: TimeInterval? { endTime.map { $0.timeIntervalSince(startTime) } }
}

/// Which runs to list.
public struct RunFilter: Sendable {
    public var statuses: Set<RunRecord.Status> = []
    public var experiment: String?
    /// A revision (`HEAD`, a branch, an abbreviated id): runs made from that commit.
    public var commit: String?
    /// At most this many, newest first (nil: all).
    public var limit: Int?
    /// Only runs of this kind (`sweep`, `trial`, ...).
    public var kind: String?
    /// Only runs under this one (a sweep's trials).
    public var parent: String?
    /// A search filter in MLflow's syntax, with OR and parentheses (`--filter`).
    public var search: String?
    /// Orderings such as `metrics.acc DESC` (`--order-by`); newest first after them.
    public var orderBy: [String] = []
    /// Active runs, deleted ones, or both (the default here: experiments and logged models
    /// are found through deleted runs too; `git ml runs` asks for active ones, as MLflow does).
    public var view: RunSearch.View = .all
    public init() {}
}

extension Workspace {
    /// Summaries of the runs that match, newest first (or in the order asked), read from
    /// the query index. A `running` record whose git-ml process is gone from this machine
    /// is reported as `lost`.
    /// A lost run met here is recovered (`recoverLostRun`) unless `recover` is false.
    public func listRuns(_ filter: RunFilter = RunFilter(), recover: Bool = true) throws -> [RunSummary] {
        var commitFilter: String?
        if let spec = filter.commit {
            do { commitFilter = try repository.resolveCommit(spec).hex } catch {
                throw WorkspaceError(.invalidArgument, "--commit \(spec): no such commit in this repository")
            }
        }
        var search = RunSearch()
        search.view = filter.view
        do {
            search.filter = try filter.search.flatMap { try SearchFilter.parse($0) }
            search.orderBy = try filter.orderBy.map { try SearchOrder.parse($0) }
        } catch let e as SearchFilterError {
            throw WorkspaceError(.invalidArgument, "\(filter.search != nil ? "--filter" : "--order-by"): \(e)",
                                 hint: "e.g. --filter \"metrics.acc > 0.9 and params.model = 'cnn'\" --order-by \"metrics.acc DESC\"")
        }
        // The other filters go into the query too, so a page is read from the index and no more.
        var clauses: [SearchFilter] = search.filter.map { [$0] } ?? []
        func equals(_ key: String, _ value: SearchFilter.Value, op: String = "=") -> SearchFilter {
            .comparison(.init(column: .init(entity: .attribute, key: key), op: op, value: value))
        }
        if let e = filter.experiment { clauses.append(equals("experiment_id", .string(Self.experimentID(for: e)))) }
        if let c = commitFilter { clauses.append(equals("commit", .string(c))) }
        if let k = filter.kind { clauses.append(equals("kind", .string(k))) }
        if let p = filter.parent { clauses.append(equals("parent", .string(p))) }
        if !filter.statuses.isEmpty {
            // `lost` is a recovered record, or a running one whose process is gone: told apart below, after the query.
            let states = Set(filter.statuses.flatMap { $0 == .lost ? [RunRecord.Status.running, .lost] : [$0] }).map(\.rawValue).sorted()
            clauses.append(equals("state", .list(states), op: "IN"))
        }
        search.filter = clauses.dropFirst().reduce(clauses.first) { acc, next in acc.map { .and($0, next) } ?? next }
        let exact = !filter.statuses.contains(.running) && !filter.statuses.contains(.lost)
        if exact { search.limit = filter.limit }
        let (rows, warning) = try searchRunRows(search, withParamsAndTags: false)
        indexWarning = warning
        var out: [RunSummary] = []
        for row in rows {
            var s = RunSummary(row)
            if s.status == .running, isLost(id: s.id, host: s.host) {
                s.status = .lost
                if recover { recoverQuietly(s.id, by: "git ml runs") }
            }
            if !filter.statuses.isEmpty, !filter.statuses.contains(s.status) { continue }
            out.append(s)
            if let limit = filter.limit, out.count >= limit { break }
        }
        return out
    }

    /// True when a running record's processes have died: its live lock is free (git-ml and
    /// the command it started, which inherits the lock, are gone), or its live folder is gone.
    public func isLost(id: String, host: String) -> Bool {
        guard host == Host.name else { return false }
        let fd = openFile(liveFolder(id) + "/lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            // A lock that cannot be opened says nothing; a folder without one is lost only
            // when it is not being made this instant.
            return errno == ENOENT && liveFolderState(liveFolder(id)) != .starting
        }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { flock(fd, LOCK_UN); return true }
        return false
    }

    /// Identifies the current state of every place a run ref can live, or nil
    /// when it cannot be read (then the index is never trusted blindly).
    func refsStamp() -> String? {
        let common = repository.commonDirectory
        func stamp(_ path: String) -> String? {
            var st = stat()
            if lstat(path, &st) != 0 { return errno == ENOENT ? "-" : nil }
            return "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        }
        guard let loose = stamp(common + "/" + RecordKind.run.refPrefix.dropLast()), let packed = stamp(common + "/packed-refs") else { return nil }
        return loose + "|" + packed
    }

    /// Finds a run by id, unambiguous id prefix, `latest`, or display name.
    public func resolveRun(_ name: String) throws -> (id: String, commit: ObjectID) {
        let refs = try runRefs()
        if refs.isEmpty {
            throw WorkspaceError(.unknownRun, "no runs recorded in this repository yet", hint: "start one: git ml run -- python train.py")
        }
        if name == "latest" || name == "@" {
            let r = refs.max { $0.id < $1.id }!
            return (r.id, r.commit)
        }
        let lower = name.lowercased()
        if let exact = refs.first(where: { $0.id == lower }) { return (exact.id, exact.commit) }
        let matches = refs.filter { $0.id.hasPrefix(lower) }
        if matches.count == 1 { return (matches[0].id, matches[0].commit) }
        if matches.count > 1 {
            let shown = matches.map(\.id).sorted().suffix(5).joined(separator: ", ")
            throw WorkspaceError(.ambiguousRun, "run '\(name)' is ambiguous: \(matches.count) runs start with it (\(shown))",
                                 hint: "give more characters of the id")
        }
        let summaries = (try? runNames()) ?? []
        let named = summaries.filter { $0.name == name }
        if named.count == 1, let r = refs.first(where: { $0.id == named[0].id }) { return (r.id, r.commit) }
        if named.count > 1 {
            throw WorkspaceError(.ambiguousRun, "\(named.count) runs are named '\(name)': \(named.map(\.id).sorted().joined(separator: ", "))",
                                 hint: "name the run by its id")
        }
        var scored: [(score: Int, summary: (id: String, name: String))] = []
        for s in summaries {
            let byID = Self.distance(lower, String(s.id.prefix(max(lower.count, 1))))
            scored.append((Swift.min(byID, Self.distance(name, s.name)), s))
        }
        scored.sort { $0.score != $1.score ? $0.score < $1.score : $0.summary.id > $1.summary.id }
        let closest = scored.prefix(3).map { "\($0.summary.id) (\($0.summary.name))" }
        throw WorkspaceError(.unknownRun, "no run '\(name)' in this repository; closest: \(closest.joined(separator: ", "))",
                             hint: "list runs with `git ml runs`")
    }

    /// The record of the run with exactly this id (its ref read directly, no listing), or nil.
    public func record(id: String) throws -> RunRecord? {
        guard RunID.isValid(id), let commit = try git({ try ledger.head(.run, id) }) else { return nil }
        return try recoveredIfLost(try readRecord(commit: commit, of: id))
    }

    /// The full record of a named run; a lost one is recovered first.
    public func record(_ name: String) throws -> RunRecord {
        let (id, commit) = try resolveRun(name)
        return try recoveredIfLost(try readRecord(commit: commit, of: id))
    }

    /// A running record whose process is gone, recovered (or shown as `lost` when recovery fails).
    func recoveredIfLost(_ record: RunRecord) throws -> RunRecord {
        guard record.status == .running, isLost(id: record.id, host: record.host) else { return record }
        if let recovered = recoverQuietly(record.id, by: "git-ml") { return recovered }
        var r = record
        r.status = .lost
        return r
    }

    /// Recovers a lost run met by a command; a failure is a warning, and the run stays as it was.
    @discardableResult
    func recoverQuietly(_ id: String, by who: String) -> RunRecord? {
        do { return try recoverLostRun(id, by: who)?.record } catch {
            FileHandle.standardError.write(Data("git-ml: warning: could not recover lost run \(id): \(error); `git ml recover` tries again\n".utf8))
            return nil
        }
    }

    /// The record on `refs/ml/runs/<id>`, refusing one that names another run (a ref moved by
    /// hand or by a bad merge would otherwise show that run under this id without a word).
    func readRecord(commit: ObjectID, of id: String) throws -> RunRecord {
        let r = try readRecord(commit: commit)
        guard r.id == id else {
            throw WorkspaceError(.damaged, "refs/ml/runs/\(id) points at the record of another run, \(r.id) (commit \(commit.short))",
                                 hint: "git ml fsck lists damaged records; put the ref back from its reflog (git reflog refs/ml/runs/\(id)) or a remote")
        }
        return r
    }

    /// Levenshtein distance, for "did you mean".
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.utf8), y = Array(b.utf8)
        if x.isEmpty { return y.count }
        var row = Array(0...y.count)
        for i in 1...x.count {
            var prev = row[0]
            row[0] = i
            for j in stride(from: 1, through: y.count, by: 1) {
                let cur = row[j]
                row[j] = Swift.min(row[j] + 1, row[j - 1] + 1, prev + (x[i - 1] == y[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[y.count]
    }
}
