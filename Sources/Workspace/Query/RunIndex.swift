import Foundation
import GitKit
import GRDB
import ObjectStore

/// The query index: `.git/ml/index.sqlite`, a cache of every run record's searchable
/// fields (attributes, last metric values, params, tags) that filters and orderings run
/// against as SQL. It is brought up to date from `refs/ml/runs/*` before each search,
/// reading only records whose commit changed, and skipping even the ref listing when
/// the refs have not moved since. A missing index is rebuilt without a word; a corrupt
/// one or one of another schema version is rebuilt with a warning.
///
/// A record that cannot be indexed (a key SQLite cannot hold) is skipped and listed in
/// `skipped`, which `git ml fsck` reports: one record never breaks every search.
final class RunIndex {
    static let schemaVersion = 6
    /// Files of a folder output listed one by one (for lineage by file); larger outputs match as whole folders.
    static let outputFilesLimit = 1_000
    let queue: DatabaseQueue
    /// Set when the index had to be thrown away (corrupt, another schema version).
    private(set) var warning: String?

    init(path: String) throws {
        (queue, warning) = try Self.open(path)
    }

    static func open(_ path: String) throws -> (DatabaseQueue, String?) {
        let fm = FileManager.default
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        let existed = fm.fileExists(atPath: path)
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            let version = try queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") ?? 0 }
            if existed, version != schemaVersion { throw IndexProblem.schema(version) }
            if version != schemaVersion { try create(queue) }
            // A page that cannot be read shows up here rather than in the middle of a search.
            _ = try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM runs") }
            return (queue, nil)
        } catch {
            let warning = error is IndexProblem
                ? "the query index \(path) is from another version of git-ml; rebuilding it"
                : "the query index \(path) could not be read (\(error)); rebuilding it"
            for suffix in ["", "-wal", "-shm", "-journal"] { try? fm.removeItem(atPath: path + suffix) }
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            try create(queue)
            return (queue, warning)
        }
    }

    enum IndexProblem: Error { case schema(Int) }

    static func create(_ queue: DatabaseQueue) throws {
        try queue.write { db in
            for table in ["runs", "metrics", "params", "tags", "meta", "skipped", "run_inputs", "run_outputs", "output_files", "pending_lists"] {
                try db.execute(sql: "DROP TABLE IF EXISTS \(table)")
            }
            try db.execute(sql: """
                CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE runs(
                    id TEXT PRIMARY KEY, record_commit TEXT NOT NULL, run_name TEXT NOT NULL, experiment TEXT NOT NULL,
                    experiment_id TEXT NOT NULL, status TEXT NOT NULL, lifecycle_stage TEXT NOT NULL, user_id TEXT NOT NULL,
                    start_time INTEGER NOT NULL, end_time INTEGER, "commit" TEXT NOT NULL, dirty INTEGER NOT NULL,
                    host TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL, exit_code INTEGER, parent TEXT);
                CREATE INDEX runs_experiment ON runs(experiment_id, start_time);
                CREATE TABLE metrics(run_id TEXT NOT NULL, key TEXT NOT NULL, value REAL, step INTEGER NOT NULL, PRIMARY KEY(run_id, key)) WITHOUT ROWID;
                CREATE INDEX metrics_key ON metrics(key, value);
                CREATE TABLE params(run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(run_id, key)) WITHOUT ROWID;
                CREATE INDEX params_key ON params(key, value);
                CREATE TABLE tags(run_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(run_id, key)) WITHOUT ROWID;
                CREATE INDEX tags_key ON tags(key, value);
                CREATE TABLE skipped(id TEXT PRIMARY KEY, record_commit TEXT NOT NULL, reason TEXT NOT NULL);
                CREATE INDEX runs_commit ON runs("commit");
                CREATE TABLE run_inputs(run_id TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL, asset TEXT, PRIMARY KEY(run_id, name)) WITHOUT ROWID;
                CREATE INDEX run_inputs_sha ON run_inputs(sha256);
                CREATE TABLE run_outputs(run_id TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY(run_id, name)) WITHOUT ROWID;
                CREATE INDEX run_outputs_sha ON run_outputs(sha256);
                CREATE TABLE output_files(sha256 TEXT NOT NULL, run_id TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY(sha256, run_id, path)) WITHOUT ROWID;
                CREATE INDEX output_files_run ON output_files(run_id);
                CREATE TABLE pending_lists(run_id TEXT NOT NULL, output TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY(run_id, output)) WITHOUT ROWID;
                PRAGMA user_version = \(schemaVersion);
                """)
        }
    }

    /// Brings the index up to date with the refs: `refs` lists (id, record commit) and
    /// `read` loads a record. Only new and changed records are read.
    /// `outputFiles` lists the files of a record's folder outputs (`<output>/<path>`, SHA-256) for lineage
    /// by file, and the outputs whose list of files is not in the store (a partial fetch): those are
    /// kept pending and `listFiles` is asked again on each sync, until they arrive.
    func sync(stamp: String?, refs: () throws -> [(id: String, commit: ObjectID)], read: (ObjectID) -> RunRecord?,
              outputFiles: (RunRecord) -> (files: [(path: String, sha256: String)], missing: [(output: String, sha256: String)]) = { _ in ([], []) },
              listFiles: (String) -> [(path: String, sha256: String)]? = { _ in nil }) throws {
        try retryPending(listFiles)
        if let stamp, try queue.read({ try String.fetchOne($0, sql: "SELECT value FROM meta WHERE key = 'stamp'") }) == stamp { return }
        let current = try refs()
        let indexed = try queue.read { db -> [String: String] in
            var out: [String: String] = [:]
            for sql in ["SELECT id, record_commit FROM runs", "SELECT id, record_commit FROM skipped"] {
                let rows = try Row.fetchCursor(db, sql: sql)
                while let row = try rows.next() { out[row[0]] = row[1] }
            }
            return out
        }
        var changed: [(record: RunRecord, commit: String, files: [(path: String, sha256: String)], missing: [(output: String, sha256: String)])] = []
        var seen = Set<String>()
        for (id, commit) in current {
            seen.insert(id)
            if indexed[id] == commit.hex { continue }
            if var record = read(commit) {
                record.id = id
                let (files, missing) = outputFiles(record)
                changed.append((record, commit.hex, files, missing))
            }
        }
        let gone = indexed.keys.filter { !seen.contains($0) }
        try queue.write { db in
            for id in gone + changed.map(\.record.id) { try Self.remove(id, db) }
            for (record, commit, files, missing) in changed {
                do {
                    try db.inSavepoint {
                        try Self.upsert(record, commit: commit, db)
                        try Self.insertLineage(record, files: files, db)
                        for m in missing {
                            try db.execute(sql: "INSERT OR REPLACE INTO pending_lists(run_id, output, sha256) VALUES (?,?,?)",
                                           arguments: [record.id, m.output, m.sha256])
                        }
                        return .commit
                    }
                } catch {
                    // Left out of every search, and named by git ml fsck, rather than breaking them all.
                    try Self.remove(record.id, db)
                    try db.execute(sql: "INSERT OR REPLACE INTO skipped(id, record_commit, reason) VALUES (?,?,?)",
                                   arguments: [record.id, commit, "\(error)"])
                }
            }
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('stamp', ?)", arguments: [stamp ?? ""])
        }
    }

    /// Lists of files that were missing when their runs were indexed and are in the store now.
    func retryPending(_ listFiles: (String) -> [(path: String, sha256: String)]?) throws {
        let pending = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT run_id, output, sha256 FROM pending_lists").map { ($0[0] as String, $0[1] as String, $0[2] as String) }
        }
        guard !pending.isEmpty else { return }
        let found = pending.compactMap { p in listFiles(p.2).map { (p, $0) } }
        guard !found.isEmpty else { return }
        try queue.write { db in
            let file = try db.makeStatement(sql: "INSERT OR IGNORE INTO output_files(sha256, run_id, path) VALUES (?,?,?)")
            for ((run, output, sha), files) in found {
                for f in files { try file.execute(arguments: [f.sha256, run, output + "/" + f.path]) }
                try db.execute(sql: "DELETE FROM pending_lists WHERE run_id = ? AND output = ? AND sha256 = ?", arguments: [run, output, sha])
            }
        }
    }

    static func remove(_ id: String, _ db: Database) throws {
        for table in ["runs", "metrics", "params", "tags", "skipped", "run_inputs", "run_outputs", "output_files", "pending_lists"] {
            try db.execute(sql: "DELETE FROM \(table) WHERE \(table == "runs" || table == "skipped" ? "id" : "run_id") = ?", arguments: [id])
        }
    }

    /// Records the index left out, with the reason.
    func skipped() throws -> [(id: String, reason: String)] {
        try queue.read { db in try Row.fetchAll(db, sql: "SELECT id, reason FROM skipped ORDER BY id").map { ($0[0], $0[1]) } }
    }

    /// Inserts a run's rows; `sync` has removed its old ones (`remove`) first.
    static func upsert(_ r: RunRecord, commit: String, _ db: Database) throws {
        let ms = { (d: Date) in Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        try db.execute(sql: """
            INSERT OR REPLACE INTO runs(id, record_commit, run_name, experiment, experiment_id, status, lifecycle_stage, user_id,
                start_time, end_time, "commit", dirty, host, kind, state, exit_code, parent) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            """, arguments: [r.id, commit, r.name, r.experiment, Workspace.experimentID(for: r.experiment), r.status.mlflowName,
                             r.lifecycleStage ?? "active", r.user, ms(r.startTime), r.endTime.map(ms), r.code.commit, r.code.dirty ? 1 : 0,
                             r.host, r.kind, r.status.rawValue, r.exitCode.map { Int($0) }, r.parent])
        let metric = try db.makeStatement(sql: "INSERT INTO metrics(run_id, key, value, step) VALUES (?,?,?,?)")
        for (k, m) in r.metrics { try metric.execute(arguments: [r.id, k, m.last.isNaN ? nil : m.last, m.lastStep]) }
        let param = try db.makeStatement(sql: "INSERT INTO params(run_id, key, value) VALUES (?,?,?)")
        for (k, v) in r.params { try param.execute(arguments: [r.id, k, v]) }
        let tag = try db.makeStatement(sql: "INSERT INTO tags(run_id, key, value) VALUES (?,?,?)")
        var tags = r.tags
        tags["mlflow.runName"] = tags["mlflow.runName"] ?? r.name
        // MLflow's clients and UI nest a run under the one this tag names (a sweep's trials).
        if let parent = r.parent { tags["mlflow.parentRunId"] = tags["mlflow.parentRunId"] ?? parent }
        for (k, v) in tags { try tag.execute(arguments: [r.id, k, v]) }
    }

    /// A run's inputs and outputs by SHA-256, for lineage.
    static func insertLineage(_ r: RunRecord, files: [(path: String, sha256: String)], _ db: Database) throws {
        let input = try db.makeStatement(sql: "INSERT OR REPLACE INTO run_inputs(run_id, name, sha256, asset) VALUES (?,?,?,?)")
        for i in r.inputs ?? [] { if let sha = i.sha256 { try input.execute(arguments: [r.id, i.name, sha, i.asset]) } }
        let output = try db.makeStatement(sql: "INSERT OR REPLACE INTO run_outputs(run_id, name, sha256) VALUES (?,?,?)")
        for o in r.outputs { try output.execute(arguments: [r.id, o.name, o.sha256]) }
        let file = try db.makeStatement(sql: "INSERT OR IGNORE INTO output_files(sha256, run_id, path) VALUES (?,?,?)")
        for f in files { try file.execute(arguments: [f.sha256, r.id, f.path]) }
    }

    /// The ids of matching runs in order.
    func search(_ query: RunSearch) throws -> [String] {
        var clauses: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let experiments = query.experimentIDs {
            clauses.append("experiment_id IN (\(experiments.map { _ in "?" }.joined(separator: ",")))")
            arguments += experiments as [any DatabaseValueConvertible]
            if experiments.isEmpty { return [] }
        }
        switch query.view {
        case .active: clauses.append("lifecycle_stage = 'active'")
        case .deleted: clauses.append("lifecycle_stage = 'deleted'")
        case .all: break
        }
        if let filter = query.filter { clauses.append(Self.sql(filter, &arguments)) }
        var order: [String] = []
        for o in query.orderBy {
            let (expression, args) = Self.column(o.column)
            arguments += args + args
            // Runs without the value come last either way, as in MLflow.
            order.append("(\(expression)) IS NULL, (\(expression)) \(o.descending ? "DESC" : "ASC")")
        }
        order += ["start_time DESC", "id DESC"]
        var sql = "SELECT id FROM runs"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY " + order.joined(separator: ", ")
        if let limit = query.limit { sql += " LIMIT \(limit)" }
        if query.offset > 0 { sql += (query.limit == nil ? " LIMIT -1" : "") + " OFFSET \(query.offset)" }
        let args = StatementArguments(arguments.map { $0.databaseValue })
        return try queue.read { try String.fetchAll($0, sql: sql, arguments: args) }
    }

    /// The indexed fields of the given runs, in the given order; params and tags only when asked
    /// (a listing shows neither, and they are most of the rows).
    func rows(_ ids: [String], withParamsAndTags: Bool = true) throws -> [IndexedRun] {
        guard !ids.isEmpty else { return [] }
        return try queue.read { db in
            var byID: [String: IndexedRun] = [:]
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                let marks = chunk.map { _ in "?" }.joined(separator: ",")
                let args = StatementArguments(chunk)
                for row in try Row.fetchAll(db, sql: """
                    SELECT id, run_name, experiment, experiment_id, status, lifecycle_stage, user_id, start_time, end_time,
                        state, exit_code, "commit", dirty, host, kind, parent
                    FROM runs WHERE id IN (\(marks))
                    """, arguments: args) {
                    byID[row[0]] = IndexedRun(id: row[0], name: row[1], experiment: row[2], experimentID: row[3], status: row[4],
                                              lifecycleStage: row[5], user: row[6], startTime: row[7], endTime: row[8],
                                              state: RunRecord.Status(rawValue: row[9]) ?? .failed, exitCode: (row[10] as Int?).map(Int32.init),
                                              commit: row[11], dirty: row[12], host: row[13], kind: row[14], parent: row[15])
                }
                for row in try Row.fetchAll(db, sql: "SELECT run_id, key, value, step FROM metrics WHERE run_id IN (\(marks))", arguments: args) {
                    let value: Double? = row[2]
                    byID[row[0] as String]?.metrics[row[1]] = (value ?? .nan, row[3])
                }
                for (table, path) in [("params", \IndexedRun.params), ("tags", \IndexedRun.tags)] where withParamsAndTags {
                    for row in try Row.fetchAll(db, sql: "SELECT run_id, key, value FROM \(table) WHERE run_id IN (\(marks))", arguments: args) {
                        byID[row[0] as String]?[keyPath: path][row[1]] = row[2] as String
                    }
                }
            }
            return ids.compactMap { byID[$0] }
        }
    }

    static func column(_ c: SearchFilter.Column) -> (String, [any DatabaseValueConvertible]) {
        switch c.entity {
        case .metric: return ("SELECT value FROM metrics WHERE run_id = runs.id AND key = ?", [c.key])
        case .param: return ("SELECT value FROM params WHERE run_id = runs.id AND key = ?", [c.key])
        case .tag: return ("SELECT value FROM tags WHERE run_id = runs.id AND key = ?", [c.key])
        case .attribute:
            let name = c.key == "run_id" ? "id" : c.key == "commit" ? "\"commit\"" : c.key
            return (name, [])
        }
    }

    static func sql(_ f: SearchFilter, _ arguments: inout [any DatabaseValueConvertible]) -> String {
        switch f {
        case .and(let a, let b): return "(\(sql(a, &arguments)) AND \(sql(b, &arguments)))"
        case .or(let a, let b): return "(\(sql(a, &arguments)) OR \(sql(b, &arguments)))"
        case .comparison(let c):
            var right: String
            var values: [any DatabaseValueConvertible] = []
            switch c.value {
            case .number(let n): right = "?"; values = [n]
            case .string(let s):
                right = "?"
                // Status compares as MLflow names it, or as git-ml does.
                if c.column == .init(entity: .attribute, key: "status"), let status = RunRecord.Status(rawValue: s.lowercased()) {
                    values = [status.mlflowName]
                } else {
                    values = [s]
                }
            case .list(let items): right = "(" + items.map { _ in "?" }.joined(separator: ",") + ")"; values = items
            }
            let op: String
            switch c.op {
            case "LIKE": op = "GLOB"; values = values.map { likeToGlob(($0 as? String) ?? "") }
            case "ILIKE": op = "LIKE"
            default: op = c.op
            }
            if c.column.entity == .attribute {
                let (name, _) = column(c.column)
                arguments += values
                return "\(name) \(op) \(right)"
            }
            let table = c.column.entity == .metric ? "metrics" : c.column.entity == .param ? "params" : "tags"
            arguments.append(c.column.key)
            arguments += values
            // `!=` and `NOT IN` hold for runs that have the key with another value, as in MLflow.
            return "EXISTS (SELECT 1 FROM \(table) WHERE run_id = runs.id AND key = ? AND value \(op) \(right))"
        }
    }

    /// LIKE is case-sensitive in MLflow; SQLite's LIKE is not, so it becomes GLOB.
    static func likeToGlob(_ pattern: String) -> String {
        var out = ""
        for ch in pattern {
            switch ch {
            case "%": out += "*"
            case "_": out += "?"
            case "*", "?", "[": out += "[\(ch)]"
            default: out.append(ch)
            }
        }
        return out
    }
}

/// A run as the index holds it: what a search returns without reading the record.
public struct IndexedRun: Sendable {
    public var id: String
    public var name: String
    public var experiment: String
    public var experimentID: String
    /// MLflow's status name (FINISHED, FAILED, KILLED, RUNNING, SCHEDULED).
    public var status: String
    public var lifecycleStage: String
    public var user: String
    /// Milliseconds since 1970.
    public var startTime: Int64
    public var endTime: Int64?
    /// git-ml's status, exit code, code commit, dirty mark and host.
    public var state: RunRecord.Status
    public var exitCode: Int32?
    public var commit: String
    public var dirty: Bool
    public var host: String
    /// command, sweep, trial, mlflow ...; the run it belongs to (a trial's sweep).
    public var kind: String
    public var parent: String?
    /// The last value and step of each metric (NaN for a NaN value).
    public var metrics: [String: (value: Double, step: Int)] = [:]
    public var params: [String: String] = [:]
    public var tags: [String: String] = [:]
}

/// A search over the recorded runs: a filter, orderings, experiments, lifecycle stages, a page.
public struct RunSearch: Sendable {
    public enum View: Sendable { case active, deleted, all }
    public var filter: SearchFilter?
    public var orderBy: [SearchOrder] = []
    /// Experiment ids to search in (nil: all).
    public var experimentIDs: [String]?
    public var view: View = .active
    public var limit: Int?
    public var offset = 0
    public init() {}
}

extension Workspace {
    var indexPath: String { stateDirectory + "/index.sqlite" }

    /// Opens the index and brings it up to date; a warning says when it was rebuilt.
    func openIndex() throws -> (RunIndex, warning: String?) {
        let index: RunIndex
        do { index = try RunIndex(path: indexPath) } catch {
            throw WorkspaceError(.storage, "cannot open the query index \(indexPath): \(error)", hint: "remove it; git ml reindex builds it again")
        }
        do {
            // The files of a folder output whose list is in the store; nil while it is not (a partial fetch).
            func list(_ sha: String) -> [(path: String, sha256: String)]? {
                guard let id = ContentID(hex: sha), store.has(id), let manifest = try? store.manifest(id) else { return nil }
                return manifest.entries.compactMap { e in e.sha256.map { (e.path, $0.hex) } }
            }
            try index.sync(stamp: refsStamp(), refs: { try runRefs() }, read: { try? readRecord(commit: $0) }, outputFiles: { record in
                var files: [(path: String, sha256: String)] = []
                var missing: [(output: String, sha256: String)] = []
                for o in record.outputs where o.type == "uri_folder" && o.files <= RunIndex.outputFilesLimit {
                    guard let entries = list(o.sha256) else { missing.append((o.name, o.sha256)); continue }
                    files += entries.map { (o.name + "/" + $0.path, $0.sha256) }
                }
                return (files, missing)
            }, listFiles: list)
        } catch {
            throw WorkspaceError(.storage, "cannot update the query index \(indexPath): \(error)", hint: "git ml reindex builds it again")
        }
        return (index, index.warning)
    }

    /// The runs that match, in order, with their indexed fields; `warning` is set when the index was rebuilt.
    public func searchRunRows(_ search: RunSearch, withParamsAndTags: Bool = true) throws -> (rows: [IndexedRun], warning: String?) {
        try queryIndex { index in try index.rows(try index.search(search), withParamsAndTags: withParamsAndTags) }
    }

    /// Every run's id and display name, for finding a run by name.
    func runNames() throws -> [(id: String, name: String)] {
        try queryIndex { index in
            try index.queue.read { db in
                try Row.fetchAll(db, sql: "SELECT id, run_name FROM runs").map { ($0[0] as String, $0[1] as String) }
            }
        }.rows
    }

    /// Each experiment that runs name, with its first run's start (milliseconds since 1970).
    func experimentsOfRuns() throws -> [(name: String, firstStart: Int64)] {
        try queryIndex { index in
            try index.queue.read { db in
                try Row.fetchAll(db, sql: "SELECT experiment, MIN(start_time) FROM runs GROUP BY experiment")
                    .map { ($0[0] as String, $0[1] as Int64) }
            }
        }.rows
    }

    /// Runs a read against the up-to-date index, turning its errors into one a user can act on.
    func queryIndex<T>(_ body: (RunIndex) throws -> T) throws -> (rows: T, warning: String?) {
        let (index, warning) = try openIndex()
        do {
            return (try body(index), warning)
        } catch {
            throw WorkspaceError(.storage, "the query index could not answer: \(error)", hint: "git ml reindex builds it again")
        }
    }

    /// Throws the index away and builds it again from the refs; returns how many runs it holds.
    @discardableResult
    public func reindex() throws -> Int {
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: indexPath + suffix) }
        let (index, _) = try openIndex()
        return try index.queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM runs") ?? 0 }
    }

    /// Runs the query index left out (it could not hold them), with the reason.
    public func unindexedRuns() throws -> [(id: String, reason: String)] {
        try queryIndex { try $0.skipped() }.rows
    }
}
