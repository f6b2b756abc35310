import Foundation
import Hummingbird
import Logging
import Synchronization

/// A tracking server in the background of this process: the one each `git ml run` starts
/// on 127.0.0.1 for its command (`git ml serve` runs the same application in the foreground).
public final class TrackingServer: Sendable {
    public let port: Int
    public let host: String
    let task: Task<Void, Never>
    let finished: DispatchSemaphore

    /// The URL clients use (MLFLOW_TRACKING_URI).
    public var url: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    init(port: Int, host: String, task: Task<Void, Never>, finished: DispatchSemaphore) {
        self.port = port; self.host = host; self.task = task; self.finished = finished
    }

    /// Starts serving `store` on `host:port` (0: a free port) and returns once the socket
    /// accepts connections. `quiet` keeps the server's own log lines off the terminal.
    public static func start(store: TrackingStore, host: String = "127.0.0.1", port: Int = 0, token: String? = nil,
                             quiet: Bool = true) throws -> TrackingServer {
        let ready = DispatchSemaphore(value: 0), finished = DispatchSemaphore(value: 0)
        let bound = Mutex<Int?>(nil), failure = Mutex<String?>(nil)
        var logger = Logger(label: "git-ml")
        logger.logLevel = quiet ? .critical : .warning
        let app = buildApplication(store: store, host: host, port: port, token: token, logger: logger) { port in
            bound.withLock { $0 = port }
            ready.signal()
        }
        let task = Task {
            do { try await app.runService(gracefulShutdownSignals: []) } catch { failure.withLock { $0 = "\(error)" } }
            ready.signal()
            finished.signal()
        }
        ready.wait()
        guard let port = bound.withLock({ $0 }) else {
            throw TrackingServerError(message: "cannot serve the tracking API on \(host): \(failure.withLock { $0 } ?? "the server stopped")")
        }
        return TrackingServer(port: port, host: host, task: task, finished: finished)
    }

    /// Stops accepting requests, lets those under way finish, and returns when it has stopped.
    public func stop() {
        task.cancel()
        finished.wait()
        finished.signal()
    }
}

public struct TrackingServerError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
