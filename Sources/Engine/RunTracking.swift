import Foundation
import Synchronization
import Tracking
import Workspace

/// The tracking server of one run: started on a thread of its own while the run's first
/// record is written (so it adds little to the start), and stopped when the command ends.
/// The command finds it through MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and MLFLOW_EXPERIMENT_ID.
///
/// `GITML_TRACKING=off` leaves it out (and the MLFLOW_* variables as they were).
final class RunTracking: Sendable {
    let result = Mutex<Result<TrackingServer, TrackingServerError>?>(nil)
    let started = DispatchSemaphore(value: 0)

    static func start(for workspace: Workspace) -> RunTracking? {
        guard workspace.environment["GITML_TRACKING"] != "off" else { return nil }
        let tracking = RunTracking()
        let directory = workspace.workTree, environment = workspace.environment
        Thread {
            let outcome: Result<TrackingServer, TrackingServerError>
            do {
                let store = try TrackingStore(directory: directory, environment: environment)
                outcome = .success(try TrackingServer.start(store: store))
            } catch let e as TrackingServerError {
                outcome = .failure(e)
            } catch {
                outcome = .failure(TrackingServerError(message: "cannot start the tracking server: \(error)"))
            }
            tracking.result.withLock { $0 = outcome }
            tracking.started.signal()
        }.start()
        return tracking
    }

    /// The variables the run's processes get; waits for the server to listen.
    func environment(for record: RunRecord) throws -> [String: String] {
        started.wait()
        started.signal()
        let server = try result.withLock { $0! }.get()
        return ["MLFLOW_TRACKING_URI": server.url, "MLFLOW_RUN_ID": record.id,
                "MLFLOW_EXPERIMENT_ID": Workspace.experimentID(for: record.experiment), "MLFLOW_EXPERIMENT_NAME": record.experiment]
    }

    /// Stops the server once its requests are answered; nothing is written through it after.
    func stop() {
        started.wait()
        started.signal()
        if case .success(let server)? = result.withLock({ $0 }) { server.stop() }
    }
}
