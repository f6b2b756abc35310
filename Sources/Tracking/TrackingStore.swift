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
    public var startTime: Int64
    public var endTime: Int64?
    public var metrics: [MetricPoint]
    public var params: [String: String]
    public var tags: [String: String]
}

/// The tracking API's state: the workspace (one libgit2 handle, used by one task at
/// a time, which the actor guarantees) and the runs this server started.
public actor TrackingStore {
    let workspace: Workspace
    /// Runs created through this server and not yet ended.
    var live: [String: LiveRun] = [:]
    /// When each live run's record was last brought up to date in git.
    var checkpointed: [String: Date] = [:]
    static let checkpointInterval: TimeInterval = 5

    public init(directory: String, environment: [String: String]) throws {
        workspace = try Workspace.open(at: directory, environment: environment)
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
        try workspace.experiments().filter { e in
            switch view {
            case "DELETED_ONLY": return e.lifecycleStage == "deleted"
            case "ALL": return true
            default: return e.lifecycleStage == "active"
            }
        }
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
        live[run.record.id] = run
        return try view(run.record.id)
    }

    public func run(_ id: String) throws -> RunView { try view(id) }

    /// Appends metrics, params and tags to a running run (one this server started, or
    /// one another git-ml process is running in this repository).
    public func log(_ id: String, metrics: [MetricPoint] = [], params: [String: String] = [:], tags: [String: String] = [:]) throws {
        let current = try view(id)
        guard current.status == "RUNNING" else {
            throw MLflowError(.invalidParameterValue, "The run \(id) must be in the 'active' state. Current state is \(current.status).")
        }
        for (k, v) in params {
            if let old = current.params[k], old != v {
                throw MLflowError(.invalidParameterValue,
                                  "Changing param values is not allowed. Param with key='\(k)' was already logged with value='\(old)' for run ID='\(id)'. Attempted logging new value '\(v)'.")
            }
        }
        var lines: [[String: Any]] = metrics.map { ["key": $0.key, "value": encodeValue($0.value), "step": $0.step, "timestamp": $0.timestamp] }
        lines += params.sorted { $0.key < $1.key }.map { ["param": $0.key, "value": $0.value] }
        lines += tags.sorted { $0.key < $1.key }.map { ["tag": $0.key, "value": $0.value] }
        guard !lines.isEmpty else { return }
        try mapped { try workspace.appendToMetrics(metricsPath: workspace.liveFolder(id) + "/metrics.jsonl", lines: lines) }
        // A run this server owns is brought up to date in git every few seconds.
        if let run = live[id], Date().timeIntervalSince(checkpointed[id] ?? run.record.startTime) >= Self.checkpointInterval {
            checkpointed[id] = Date()
            try? workspace.checkpointRun(run)
        }
    }

    /// Ends a run this server started (FINISHED, FAILED or KILLED): its final record is written.
    public func update(_ id: String, status: String?, endTime: Int64?, name: String?) throws -> RunView {
        _ = try view(id)
        guard let status, status != "RUNNING" else { return try view(id) }
        guard let run = live[id] else {
            // Another git-ml process owns it (`git ml run`); it writes the end itself.
            return try view(id)
        }
        let mapped: RunRecord.Status
        switch status {
        case "FINISHED": mapped = .completed
        case "FAILED": mapped = .failed
        case "KILLED": mapped = .canceled
        default: throw MLflowError(.invalidParameterValue, "Invalid value \(status) for parameter 'status'")
        }
        let end = endTime.map { Date(timeIntervalSince1970: Double($0) / 1000) } ?? Date()
        if let name { run.update { $0.name = name } }
        let outcome = RunOutcome(status: mapped, exitCode: mapped == .completed ? 0 : 1,
                                 reason: mapped == .completed ? nil : "ended as \(status) through the tracking API",
                                 wallSeconds: end.timeIntervalSince(run.record.startTime), cpuSeconds: 0, peakMemoryBytes: 0)
        _ = try self.mapped { try workspace.finishRun(run, outcome: outcome, end: end) }
        live[id] = nil
        checkpointed[id] = nil
        return try view(id)
    }

    public func metricHistory(_ id: String, key: String) throws -> [MetricPoint] {
        try view(id).metrics.filter { $0.key == key }
    }

    public func searchRuns(experimentIDs: [String], maxResults: Int) throws -> [RunView] {
        let names = try Set(experimentIDs.map { try experiment(id: $0).name })
        return try workspace.listRuns().filter { names.contains($0.experiment) }.prefix(maxResults).map { try view($0.id) }
    }

    // MARK: views

    func view(_ id: String) throws -> RunView {
        let record: RunRecord
        do { record = try workspace.record(id) } catch let e as WorkspaceError where e.code == .unknownRun || e.code == .ambiguousRun {
            throw MLflowError(.resourceDoesNotExist, "Run '\(id)' not found")
        }
        guard record.id == id else { throw MLflowError(.resourceDoesNotExist, "Run '\(id)' not found") }
        var params = record.params, tags = record.tags
        var metrics: [MetricPoint] = []
        if record.status == .running, let data = FileManager.default.contents(atPath: workspace.liveFolder(id) + "/metrics.jsonl") {
            var parser = MetricsParser()
            parser.feed(data)
            parser.finish()
            metrics = parser.points
            params.merge(parser.params) { _, new in new }
            tags.merge(parser.tags) { _, new in new }
        } else {
            metrics = (try? workspace.metricSeries(of: record)) ?? []
        }
        let status: String
        switch record.status {
        case .running: status = workspace.isLost(id: record.id, host: record.host) ? "FAILED" : "RUNNING"
        case .queued: status = "SCHEDULED"
        case .completed: status = "FINISHED"
        case .failed, .lost: status = "FAILED"
        case .canceled, .stoppedByPolicy: status = "KILLED"
        }
        return RunView(id: record.id, name: record.name, experimentID: Workspace.experimentID(for: record.experiment), user: record.user,
                       status: status, startTime: Self.ms(record.startTime), endTime: record.endTime.map(Self.ms),
                       metrics: metrics, params: params, tags: tags)
    }

    /// Turns a workspace error into MLflow's error shape.
    func mapped<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as WorkspaceError {
            throw MLflowError(e.code == .invalidArgument || e.code == .badConfig ? .invalidParameterValue : .internalError, e.message)
        }
    }
}
