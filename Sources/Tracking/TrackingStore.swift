import Foundation
import Workspace

/// A run as MLflow's API shows it.
public struct RunView: Sendable {
    public var id: String
    public var name: String
    public var experimentID: String
    public var user: String
    /// MLflow's status names: RUNNING, FINISHED, FAILED, KILLED, SCHEDULED.
    public var status: String
    public var lifecycleStage: String
    public var startTime: Int64
    public var endTime: Int64?
    public var metrics: [MetricPoint]
    public var params: [String: String]
    public var tags: [String: String]
}

/// The tracking API's state: the workspace (one libgit2 handle, used by one task at
/// a time, which the actor guarantees), the runs this server started, and what it has
/// read of each running run's metrics file (so a request reads only what is new).
///
/// The actor runs on an executor of its own (a dispatch queue), not on Swift's cooperative
/// pool: everything it does blocks (libgit2, SQLite, files).
public actor TrackingStore {
    let workspace: Workspace
    nonisolated let executor = StoreExecutor(label: "git-ml.tracking-store")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    /// Runs created through this server and not yet ended.
    var owned: [String: LiveRun] = [:]
    /// When each owned run's record was last brought up to date in git.
    var checkpointed: [String: Date] = [:]
    /// Running runs (owned, or run by another git-ml process) as read so far.
    var running: [String: RunningState] = [:]
    static let checkpointInterval: TimeInterval = 5

    struct RunningState {
        var record: RunRecord
        var parser = MetricsParser()
        var offset: off_t = 0
        let metricsPath: String
        /// The points logged so far, as MLflow's stores key them; `seenCount` of the parser's
        /// points are in it (it catches up on use, so reading the file costs nothing more).
        var seen = Set<PointKey>()
        var seenCount = 0

        /// The points of `metrics` not logged before (same key, step, timestamp and value) and
        /// not repeated within `metrics`: MLflow's stores keep such a point once, so a client
        /// that sends a request again (a retry after a timeout) does not log it twice.
        mutating func fresh(_ metrics: [MetricPoint]) -> [MetricPoint] {
            let points = parser.points
            while seenCount < points.count { seen.insert(PointKey(points[seenCount])); seenCount += 1 }
            var out: [MetricPoint] = []
            for m in metrics where seen.insert(PointKey(m)).inserted { out.append(m) }
            return out
        }
    }

    struct PointKey: Hashable {
        let key: String, step: Int, timestamp: Int64, bits: UInt64
        init(_ p: MetricPoint) { key = p.key; step = p.step; timestamp = p.timestamp; bits = p.value.bitPattern }
    }

    /// The run of `git ml run` this store serves (nil for `git ml serve`): a model logged
    /// outside any run (`mlflow.sklearn.log_model` with no `start_run`) lands in it, as
    /// everything a job logs lands in the job's run on Azure ML.
    let servedRun: String?

    public init(directory: String, environment: [String: String], servedRun: String? = nil) throws {
        workspace = try Workspace.open(at: directory, environment: environment)
        self.servedRun = servedRun
    }

    static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    // MARK: experiments

    public func createExperiment(name: String, tags: [String: String]) throws -> String {
        guard !name.isEmpty else { throw MLflowError(.invalidParameterValue, "Experiment name must not be empty") }
        if let existing = try workspace.experiment(named: name), existing.lifecycleStage == "active" || existing.id == Workspace.experimentID(for: name) {
            throw MLflowError(.resourceAlreadyExists, "Experiment '\(name)' already exists")
        }
        let now = Self.ms(Date())
        let e = Experiment(id: Workspace.experimentID(for: name), name: name, tags: tags, creationTime: now, lastUpdateTime: now)
        try workspace.saveExperiment(e)
        return e.id
    }

    public func experiment(id: String) throws -> Experiment {
        guard let e = try workspace.experiment(id: id) else {
            throw MLflowError(.resourceDoesNotExist, "Could not find experiment with ID \(id)")
        }
        return e
    }

    public func experiment(name: String) throws -> Experiment {
        guard let e = try workspace.experiment(named: name) else {
            throw MLflowError(.resourceDoesNotExist, "Could not find experiment with name '\(name)'")
        }
        return e
    }

    /// `view`: ACTIVE_ONLY, DELETED_ONLY or ALL.
    public func experiments(view: String) throws -> [Experiment] {
        let wanted = Self.view(view)
        return try workspace.experiments().filter { wanted == .all || (wanted == .deleted) == ($0.lifecycleStage == "deleted") }
    }

    /// MLflow's view types: ACTIVE_ONLY (the default), DELETED_ONLY, ALL.
    static func view(_ name: String) -> RunSearch.View {
        name == "ALL" ? .all : name == "DELETED_ONLY" ? .deleted : .active
    }

    public func updateExperiment(id: String, change: @Sendable (inout Experiment) -> Void) throws {
        var e = try experiment(id: id)
        change(&e)
        e.lastUpdateTime = Self.ms(Date())
        try workspace.saveExperiment(e)
    }

    // MARK: runs

    public func createRun(experimentID: String, name: String?, startTime: Int64?, tags: [String: String]) throws -> RunView {
        let e = try experiment(id: experimentID)
        guard e.lifecycleStage == "active" else {
            throw MLflowError(.invalidParameterValue, "The experiment \(experimentID) must be in the 'active' state")
        }
        var request = RunRequest(command: [], workingDirectory: workspace.workTree)
        request.kind = "mlflow"
        request.name = name ?? tags["mlflow.runName"]
        request.experiment = e.name
        request.tags = tags
        let start = startTime.map { Date(timeIntervalSince1970: Double($0) / 1000) } ?? Date()
        let run = try mapped { try workspace.startRun(request, at: start) }
        owned[run.record.id] = run
        return try view(run.record.id)
    }

    public func run(_ id: String) throws -> RunView { try view(id) }

    /// Appends metrics, params and tags to a running run (one this server started, or
    /// one another git-ml process is running in this repository). Tags with a nil value
    /// are deleted. Tags of a run that has ended are changed in its record.
    public func log(_ id: String, metrics given: [MetricPoint] = [], params: [String: String] = [:], tags: [String: String?] = [:]) throws {
        guard var state = try runningState(id) else {
            let metrics = given
            let record = try loadRecord(id)
            try requireActive(record)
            guard metrics.isEmpty, params.isEmpty else {
                throw MLflowError(.invalidParameterValue,
                                  "The run \(id) has ended (\(record.status.rawValue)); git-ml keeps a finished run's metrics and params as recorded. Tags can still be set.")
            }
            if !tags.isEmpty {
                try mapped {
                    try workspace.amendRecord(id, message: "tags") { r in
                        for (k, v) in tags { r.tags[k] = v }
                    }
                }
            }
            return
        }
        try requireActive(state.record)
        // Kept in `running` only once appended (below): a failed append is not remembered as logged.
        let metrics = state.fresh(given)
        var current = state.record.params
        current.merge(state.parser.params) { _, new in new }
        for (k, v) in params {
            if let old = current[k], old != v {
                throw MLflowError(.invalidParameterValue,
                                  "Changing param values is not allowed. Param with key='\(k)' was already logged with value='\(old)' for run ID='\(id)'. Attempted logging new value '\(v)'.")
            }
        }
        var text = ""
        for m in metrics { text += MetricsParser.line(m) }
        for (k, v) in params.sorted(by: { $0.key < $1.key }) {
            text += "{\"param\":\(MetricsParser.jsonString(k)),\"value\":\(MetricsParser.jsonString(v))}\n"
        }
        for (k, v) in tags.sorted(by: { $0.key < $1.key }) {
            text += "{\"tag\":\(MetricsParser.jsonString(k)),\"value\":\(v.map(MetricsParser.jsonString) ?? "null")}\n"
        }
        guard !text.isEmpty else { return }
        let data = Data(text.utf8)
        let (before, after) = try mapped { try workspace.appendToMetrics(metricsPath: state.metricsPath, data: data) }
        if before == Int64(state.offset), after - before == Int64(data.count) {
            // Nobody wrote in between: what was appended is known, so it is not read back.
            var updated = state
            updated.parser.add(points: metrics, params: params, tags: tags)
            updated.offset = off_t(after)
            running[id] = updated
        }
        // A run this server owns is brought up to date in git every few seconds.
        if let run = owned[id], Date().timeIntervalSince(checkpointed[id] ?? run.record.startTime) >= Self.checkpointInterval {
            checkpointed[id] = Date()
            try? workspace.checkpointRun(run)
        }
    }

    func requireActive(_ record: RunRecord) throws {
        if record.lifecycleStage == "deleted" {
            throw MLflowError(.invalidParameterValue, "The run \(record.id) must be in the 'active' state. Current state is deleted.")
        }
    }

    /// Ends a run this server started (FINISHED, FAILED or KILLED): its final record is written.
    public func update(_ id: String, status: String?, endTime: Int64?, name: String?) throws -> RunView {
        let current = try view(id)
        if let status, !["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"].contains(status) {
            throw MLflowError(.invalidParameterValue, "Invalid value \(status) for parameter 'status'")
        }
        guard let run = owned[id] else {
            // Another git-ml process owns a running run (`git ml run`) and writes its end itself;
            // a finished run can be renamed.
            if let name, current.status != "RUNNING", name != current.name {
                try mapped { try workspace.amendRecord(id, message: "renamed") { $0.name = name } }
            }
            return try view(id)
        }
        if let name { run.update { $0.name = name } }
        guard let status, status != "RUNNING", status != "SCHEDULED" else { return try view(id) }
        let ended: RunRecord.Status = status == "FINISHED" ? .completed : status == "FAILED" ? .failed : .canceled
        let end = endTime.map { Date(timeIntervalSince1970: Double($0) / 1000) } ?? Date()
        let outcome = RunOutcome(status: ended, exitCode: ended == .completed ? 0 : 1,
                                 reason: ended == .completed ? nil : "ended as \(status) through the tracking API",
                                 wallSeconds: end.timeIntervalSince(run.record.startTime), cpuSeconds: 0, peakMemoryBytes: 0)
        _ = try mapped { try workspace.finishRun(run, outcome: outcome, end: end) }
        owned[id] = nil
        checkpointed[id] = nil
        running[id] = nil
        return try view(id)
    }

    /// Marks a run deleted or active again (MLflow's lifecycle stage); the record is kept.
    public func setLifecycle(_ id: String, deleted: Bool) throws {
        if let run = owned[id] {
            run.update { $0.lifecycleStage = deleted ? "deleted" : nil }
            running[id]?.record.lifecycleStage = deleted ? "deleted" : nil
            return
        }
        if try runningState(id) != nil {
            throw MLflowError(.invalidParameterValue, "The run \(id) is running in another git-ml process; delete or restore it once it has ended")
        }
        try mapped { try workspace.amendRecord(id, message: deleted ? "deleted" : "restored") { $0.lifecycleStage = deleted ? "deleted" : nil } }
    }

    public func metricHistory(_ id: String, key: String) throws -> [MetricPoint] {
        try view(id).metrics.filter { $0.key == key }
    }

    /// get-history's body. A finished run's stored series lines are MLflow's metric objects
    /// already (`{"key":..,"value":..,"step":..,"timestamp":..}`, NaN as "NaN"): the lines of
    /// the key are copied as they are, with nothing parsed.
    public func metricHistoryJSON(_ id: String, key: String) throws -> [UInt8] {
        if try runningState(id) == nil {
            let record = try loadRecord(id)
            guard let series = try mapped({ try workspace.storedMetricSeries(of: record) }) else { return Array("{\"metrics\":[]}".utf8) }
            return Self.selectLines(series, prefix: Array("{\"key\":\(MetricsParser.jsonString(key)),".utf8))
        }
        return encodeHistory(try metricHistory(id, key: key))
    }

    static func selectLines(_ series: Data, prefix: [UInt8]) -> [UInt8] {
        var out: [UInt8] = Array("{\"metrics\":[".utf8)
        out.reserveCapacity(series.count + 16)
        var first = true
        series.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress else { return }
            var start = 0
            while start < raw.count {
                let end = memchr(base + start, 0x0A, raw.count - start).map { base.distance(to: UnsafeRawPointer($0)) } ?? raw.count
                if end - start > prefix.count, memcmp(base + start, prefix, prefix.count) == 0 {
                    if !first { out.append(0x2C) }
                    first = false
                    out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                }
                start = end + 1
            }
        }
        out += Array("]}".utf8)
        return out
    }

    /// Runs of the given experiments that match `filter` (MLflow's syntax, plus OR and
    /// parentheses), in `orderBy` order then newest first; one page from `offset`.
    public func searchRuns(experimentIDs: [String], view: String, filter: String?, orderBy: [String],
                           maxResults: Int, offset: Int) throws -> (runs: [RunView], next: Int?) {
        var search = RunSearch()
        search.experimentIDs = experimentIDs
        search.view = Self.view(view)
        do {
            search.filter = try filter.flatMap { try SearchFilter.parse($0) }
            search.orderBy = try orderBy.map { try SearchOrder.parse($0) }
        } catch let e as SearchFilterError {
            throw MLflowError(.invalidParameterValue, "\(e)")
        }
        search.limit = maxResults + 1
        search.offset = offset
        let rows = try mapped { try workspace.searchRunRows(search).rows }
        // Finished runs come from the index as they are; running ones are read live.
        let page = try rows.prefix(maxResults).map { row -> RunView in
            if row.status == "RUNNING" { return try self.view(row.id) }
            let stamp = row.endTime ?? row.startTime
            return RunView(id: row.id, name: row.name, experimentID: row.experimentID, user: row.user, status: row.status,
                           lifecycleStage: row.lifecycleStage, startTime: row.startTime, endTime: row.endTime,
                           metrics: row.metrics.map { MetricPoint(key: $0.key, value: $0.value.value, step: $0.value.step, timestamp: stamp) },
                           params: row.params, tags: row.tags)
        }
        return (page, rows.count > maxResults ? offset + maxResults : nil)
    }

    // MARK: artifacts

    /// The run and the path within its artifacts that an `mlflow-artifacts` path names:
    /// `<experiment>/<run>/artifacts/<path>` or `<experiment>/models/<model>/artifacts/<path>`.
    /// (`viaModel`: the path came through a logged model.)
    public func artifactTarget(_ path: String) throws -> (run: RunRecord, path: String, viaModel: Bool) {
        let parts = path.split(separator: "/").map(String.init)
        var runID: String, rest: ArraySlice<String>, prefix = ""
        if parts.count >= 3, parts[2] == "artifacts" {
            runID = parts[1]; rest = parts[3...]
        } else if parts.count >= 4, parts[1] == "models", parts[3] == "artifacts" {
            let model = try loggedModel(parts[2])
            runID = model.runID; rest = parts[4...]; prefix = model.folder
        } else {
            throw MLflowError(.invalidParameterValue, "Invalid artifact path '\(path)': expected <experiment>/<run>/artifacts/<path>")
        }
        let joined = ([prefix] + rest).filter { !$0.isEmpty }.joined(separator: "/")
        guard let clean = Workspace.validArtifactPath(joined) else {
            throw MLflowError(.invalidParameterValue, "Invalid artifact path '\(path)': '.' and '..' are not allowed")
        }
        return (try loadRecord(runID), clean, !prefix.isEmpty)
    }

    /// The artifacts under an `mlflow-artifacts` path. As in MLflow 3, a run's own listing
    /// leaves out its logged models' folders (the client lists those through the model),
    /// though the files are in the run's outputs.
    public func listArtifacts(_ path: String) throws -> (folder: String, entries: [ArtifactEntry]) {
        let (record, folder, viaModel) = try artifactTarget(path)
        var entries = try mapped { try workspace.artifacts(of: record, under: folder) }
        if !viaModel {
            let models = Set(try view(record.id).tags.compactMap { k, v -> String? in
                guard k.hasPrefix(LoggedModel.tagPrefix) else { return nil }
                return (try? JSONDecoder().decode(LoggedModel.self, from: Data(v.utf8)))?.folder
            })
            let top = folder.split(separator: "/").first.map(String.init)
            if let top, models.contains(top) { return (folder, []) }
            entries.removeAll { models.contains($0.path) }
        }
        return (folder, entries)
    }

    public func artifactFile(_ record: RunRecord, path: String) throws -> String {
        guard let file = try mapped({ try workspace.artifactFile(of: record, path: path) }) else {
            throw MLflowError(.resourceDoesNotExist, "No artifact '\(path)' in run \(record.id)")
        }
        return file
    }

    public func artifactUploadPath(_ record: RunRecord, path: String) throws -> String {
        guard record.status == .running, try runningState(record.id) != nil else {
            throw MLflowError(.invalidParameterValue, "The run \(record.id) has ended; its artifacts are stored and can no longer change")
        }
        guard !path.isEmpty else { throw MLflowError(.invalidParameterValue, "An artifact upload needs a file path") }
        return try mapped { try workspace.artifactUploadPath(runID: record.id, path: path) }
    }

    // MARK: logged models (MLflow 3's log_model)

    /// Creates a logged model for a run; its files are the run's artifacts under `<name>/`.
    public func createLoggedModel(experimentID: String, name: String?, runID: String?, modelType: String?,
                                  params: [String: String], tags: [String: String]) throws -> LoggedModel {
        guard let runID = runID ?? servedRun else {
            throw MLflowError(.invalidParameterValue, "git-ml keeps a model's files in a run: log the model inside a run (source_run_id)")
        }
        let record = try loadRecord(runID)
        let name = name.flatMap { Workspace.validArtifactPath($0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "model"
        let now = Self.ms(Date())
        var suffix = ""
        for _ in 0..<8 { suffix.append("0123456789abcdefghjkmnpqrstvwxyz".randomElement()!) }
        let model = LoggedModel(id: "m-\(record.id)-\(suffix)", experimentID: experimentID, name: name, runID: record.id,
                                modelType: modelType, status: "LOGGED_MODEL_PENDING", creationTime: now, lastUpdateTime: now,
                                tags: tags, params: params)
        try save(model)
        return model
    }

    public func loggedModel(_ id: String) throws -> LoggedModel {
        // Model ids carry their run's id: m-<run id>-<suffix>.
        let parts = id.split(separator: "-")
        guard parts.count == 3, parts[0] == "m", let run = try? view(String(parts[1])),
              let json = run.tags[LoggedModel.tagPrefix + id],
              let model = try? JSONDecoder().decode(LoggedModel.self, from: Data(json.utf8)) else {
            throw MLflowError(.resourceDoesNotExist, "Logged model with ID '\(id)' not found.")
        }
        return model
    }

    public func updateLoggedModel(_ id: String, change: @Sendable (inout LoggedModel) -> Void) throws -> LoggedModel {
        var model = try loggedModel(id)
        change(&model)
        model.lastUpdateTime = Self.ms(Date())
        try save(model)
        return model
    }

    public func loggedModels(experimentIDs: [String]) throws -> [LoggedModel] {
        var out: [LoggedModel] = []
        for summary in try workspace.listRuns() where experimentIDs.isEmpty || experimentIDs.contains(Workspace.experimentID(for: summary.experiment)) {
            let tags = try view(summary.id).tags
            for (k, v) in tags where k.hasPrefix(LoggedModel.tagPrefix) {
                if let m = try? JSONDecoder().decode(LoggedModel.self, from: Data(v.utf8)) { out.append(m) }
            }
        }
        return out.sorted { $0.creationTime > $1.creationTime }
    }

    func save(_ model: LoggedModel) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(model), as: UTF8.self)
        try log(model.runID, tags: [LoggedModel.tagPrefix + model.id: json])
    }

    // MARK: views

    /// A running run's state, read up to the end of its metrics file; nil once it has ended.
    func runningState(_ id: String) throws -> RunningState? {
        if var state = running[id] {
            if Self.readNew(&state) {
                running[id] = state
                return state
            }
            running[id] = nil
        }
        let record = try owned[id]?.record ?? loadRecord(id)
        guard record.status == .running, owned[id] != nil || !workspace.isLost(id: record.id, host: record.host) else { return nil }
        var state = RunningState(record: record, metricsPath: workspace.liveFolder(id) + "/metrics.jsonl")
        guard Self.readNew(&state) else { return nil }
        running[id] = state
        return state
    }

    /// Feeds what was appended to the metrics file since the last read; false when it is gone.
    static func readNew(_ state: inout RunningState) -> Bool {
        let fd = open(state.metricsPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, state.offset) }
            guard n > 0 else { break }
            state.parser.feed(Data(buffer[0..<n]))
            state.offset += off_t(n)
        }
        return true
    }

    func loadRecord(_ id: String) throws -> RunRecord {
        guard let record = try mapped({ try workspace.record(id: id) }), record.id == id else {
            throw MLflowError(.resourceDoesNotExist, "Run '\(id)' not found")
        }
        return record
    }

    func view(_ id: String) throws -> RunView {
        var record: RunRecord
        var metrics: [MetricPoint]
        if let state = try runningState(id) {
            record = owned[id]?.record ?? state.record
            metrics = state.parser.points
            record.params.merge(state.parser.params) { _, new in new }
            record.tags = record.tagsIncludingLive(state)
        } else {
            record = try loadRecord(id)
            metrics = (try? workspace.metricSeries(of: record)) ?? []
        }
        return RunView(id: record.id, name: record.name, experimentID: Workspace.experimentID(for: record.experiment), user: record.user,
                       status: record.status.mlflowName, lifecycleStage: record.lifecycleStage ?? "active",
                       startTime: Self.ms(record.startTime), endTime: record.endTime.map(Self.ms),
                       metrics: metrics, params: record.params, tags: record.tags)
    }

    /// Turns a workspace error into MLflow's error shape.
    func mapped<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as WorkspaceError {
            switch e.code {
            case .invalidArgument, .badConfig: throw MLflowError(.invalidParameterValue, e.message)
            case .unknownRun, .ambiguousRun: throw MLflowError(.resourceDoesNotExist, e.message)
            default: throw MLflowError(.internalError, e.message)
            }
        }
    }
}

extension RunRecord {
    /// The record's tags with those a running run has logged since (set or deleted).
    func tagsIncludingLive(_ state: TrackingStore.RunningState?) -> [String: String] {
        guard let state else { return tags }
        var out = tags
        out.merge(state.parser.tags) { _, new in new }
        for key in state.parser.deletedTags where state.parser.tags[key] == nil { out[key] = nil }
        return out
    }
}

/// An MLflow 3 logged model: its files live in its run's artifacts under `folder`, its
/// metadata in a run tag (`mlflow.gitml.loggedModel.<id>`), so both travel with the record.
public struct LoggedModel: Codable, Sendable {
    static let tagPrefix = "mlflow.gitml.loggedModel."
    public var id: String
    public var experimentID: String
    public var name: String
    public var runID: String
    public var modelType: String?
    /// LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.
    public var status: String
    public var creationTime: Int64
    public var lastUpdateTime: Int64
    public var tags: [String: String]
    public var params: [String: String]
    /// The folder in the run's artifacts.
    public var folder: String { name }

    enum CodingKeys: String, CodingKey {
        case id = "model_id", experimentID = "experiment_id", name, runID = "source_run_id", modelType = "model_type", status
        case creationTime = "creation_timestamp_ms", lastUpdateTime = "last_updated_timestamp_ms", tags, params
    }
}
