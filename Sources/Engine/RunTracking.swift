import Foundation
import Synchronization
import Tracking
import Workspace

/// The tracking server of one run: listening before the command starts, built only when
/// the command first connects (TrackingServer), and stopped when the command ends. The
/// command finds it through MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and MLFLOW_EXPERIMENT_ID.
///
/// `GITML_TRACKING=off` leaves it out (and the MLFLOW_* variables as they were).
final class RunTracking: Sendable {
    let server: Result<TrackingServer, TrackingServerError>
    /// The run this server serves, once known: what a model logged with no run lands in.
    final class ServedRun: Sendable { let id = Mutex<String?>(nil) }
    let servedRun: ServedRun

    init(server: Result<TrackingServer, TrackingServerError>, servedRun: ServedRun) {
        self.server = server
        self.servedRun = servedRun
    }

    static func start(for workspace: Workspace, warn: @escaping @Sendable (String) -> Void) -> RunTracking? {
        guard workspace.environment["GITML_TRACKING"] != "off" else { return nil }
        let directory = workspace.workTree, environment = workspace.environment
        let served = ServedRun()
        return RunTracking(server: Result {
            try TrackingServer.listen(warn: warn) {
                try TrackingStore(directory: directory, environment: environment, servedRun: served.id.withLock { $0 })
            }
        }.mapError { $0 as? TrackingServerError ?? TrackingServerError(message: "cannot start the tracking server: \($0)") }, servedRun: served)
    }

    /// The variables the run's processes get.
    func environment(for record: RunRecord) throws -> [String: String] {
        let server = try server.get()
        servedRun.id.withLock { $0 = record.id }
        return ["MLFLOW_TRACKING_URI": server.url, "MLFLOW_RUN_ID": record.id,
                "MLFLOW_EXPERIMENT_ID": Workspace.experimentID(for: record.experiment), "MLFLOW_EXPERIMENT_NAME": record.experiment]
    }

    /// Stops the server once its requests are answered; nothing is written through it after.
    func stop() {
        if case .success(let server) = server { server.stop() }
    }
}
