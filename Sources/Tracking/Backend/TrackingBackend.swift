import Foundation
import Workspace

/// What the tracking API's controllers need from storage: experiments, runs, their metrics,
/// artifacts and logged models. `TrackingStore` answers it from the git records; the
/// controllers know nothing of git, so another store (a fake in a test, a remote) fits.
public protocol TrackingBackend: Sendable {
    // Experiments
    func createExperiment(name: String, tags: [String: String]) async throws -> String
    func experiment(id: String) async throws -> Experiment
    func experiment(name: String) async throws -> Experiment
    func experiments(view: String) async throws -> [Experiment]
    func updateExperiment(id: String, change: @Sendable (inout Experiment) -> Void) async throws

    // Runs
    func createRun(experimentID: String, name: String?, startTime: Int64?, tags: [String: String]) async throws -> RunView
    func run(_ id: String) async throws -> RunView
    func update(_ id: String, status: String?, endTime: Int64?, name: String?) async throws -> RunView
    func setLifecycle(_ id: String, deleted: Bool) async throws
    func log(_ id: String, metrics: [MetricPoint], params: [String: String], tags: [String: String?]) async throws
    func searchRuns(experimentIDs: [String], view: String, filter: String?, orderBy: [String],
                    maxResults: Int, offset: Int) async throws -> (runs: [RunView], next: Int?)

    // Metrics
    /// `{"metrics": [...]}` for get-history, as bytes (a history can hold hundreds of thousands of points).
    func metricHistoryJSON(_ id: String, key: String) async throws -> [UInt8]

    // Artifacts
    func artifactTarget(_ path: String) async throws -> (run: RunRecord, path: String, viaModel: Bool)
    func listArtifacts(_ path: String) async throws -> (folder: String, entries: [ArtifactEntry])
    func artifactFile(_ record: RunRecord, path: String) async throws -> String
    func artifactUploadPath(_ record: RunRecord, path: String) async throws -> String

    // Logged models
    func createLoggedModel(experimentID: String, name: String?, runID: String?, modelType: String?,
                           params: [String: String], tags: [String: String]) async throws -> LoggedModel
    func loggedModel(_ id: String) async throws -> LoggedModel
    func updateLoggedModel(_ id: String, change: @Sendable (inout LoggedModel) -> Void) async throws -> LoggedModel
    func loggedModels(experimentIDs: [String]) async throws -> [LoggedModel]
}

extension TrackingStore: TrackingBackend {}
