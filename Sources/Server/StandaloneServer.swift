import Foundation
import Logging
import Synchronization
import ObjectStore
import Tracking
import Workspace

/// What `git ml serve` runs: the tracking API over a repository, in the foreground, until
/// SIGINT or SIGTERM (it answers the requests under way, then stops): the tracking API, the
/// model registry, and the Git LFS object server under `/lfs`. Later the studio and webhooks join it here.
public enum StandaloneServer {
    /// Serves until stopped; `announce` gets the URL once the socket listens. Throws when the
    /// repository cannot be opened or the address cannot be bound.
    public static func run(directory: String, environment: [String: String], host: String, port: Int, token: String?,
                           announce: @escaping @Sendable (String) -> Void) throws {
        let store = try TrackingStore(directory: directory, environment: environment)
        var logger = Logger(label: "git-ml")
        logger.logLevel = .warning
        // Route groups mounted side by side; the registry, the object server and the studio join here.
        let objects = try Workspace.open(at: directory, environment: environment).objectStore
        let groups: [any RouteGroup] = [TrackingAPI(store: store), ModelRegistryAPI(store: store), LFSObjectAPI(store: objects)]
        // On loopback, web pages are kept out (Host and Origin checked); beyond it, the token guards.
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(host)
        let allowed = (environment["GITML_SERVE_HOSTS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let app = buildApplication(groups: groups, host: host, port: port, token: token,
                                   guard: loopback ? LoopbackGuard(allowedHosts: allowed) : nil, logger: logger) { port in
            announce("http://\(host.contains(":") ? "[\(host)]" : host):\(port)")
        }
        let failure = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await app.runService() } catch { failure.withLock { $0 = "\(error)" } }
            done.signal()
        }
        done.wait()
        if let message = failure.withLock({ $0 }) { throw TrackingServerError(message: "the server stopped: \(message)") }
    }
}
