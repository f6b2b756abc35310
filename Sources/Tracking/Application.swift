import Foundation
import Hummingbird
import Logging

/// A set of routes that a git-ml server mounts beside others: the tracking API today; the
/// model registry, the object (LFS) server, webhooks and the studio later. `git ml serve`
/// and a run's own server build one application from a list of these.
public protocol RouteGroup: Sendable {
    func addRoutes(to router: Router<BasicRequestContext>)
}

/// The MLflow REST API (`/api/2.0/mlflow/...` and `/ajax-api/2.0/mlflow/...`, and the artifact
/// proxy) answered from a `TrackingBackend`, one controller per resource family.
public struct TrackingAPI<Store: TrackingBackend>: RouteGroup {
    let store: Store

    public init(store: Store) { self.store = store }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in "OK" }
        let api = APIRoutes(router)
        ExperimentsController(store: store).addRoutes(to: api)
        RunsController(store: store).addRoutes(to: api)
        MetricsController(store: store).addRoutes(to: api)
        ArtifactsController(store: store).addRoutes(to: api, router: router)
        LoggedModelsController(store: store).addRoutes(to: api)
    }
}

/// The router of a git-ml server: the groups' routes behind one middleware chain.
///
/// `guard` keeps web pages out of a server on loopback (see `LoopbackGuard`); nil for a
/// server that listens beyond loopback, where the token guards it. With a `token`, every
/// request must carry `Authorization: Bearer <token>` (what the mlflow client sends from
/// MLFLOW_TRACKING_TOKEN); others get 401 UNAUTHENTICATED.
public func buildRouter(groups: [any RouteGroup], token: String? = nil,
                        guard loopback: LoopbackGuard? = LoopbackGuard()) -> Router<BasicRequestContext> {
    let router = Router()
    if let loopback { router.add(middleware: loopback) }
    if let token { router.add(middleware: BearerToken(token: token)) }
    for group in groups { group.addRoutes(to: router) }
    return router
}

/// The tracking API's router alone (a run's own server, tests).
public func buildRouter(store: TrackingStore, token: String? = nil) -> Router<BasicRequestContext> {
    buildRouter(groups: [TrackingAPI(store: store), ModelRegistryAPI(store: store)], token: token)
}

/// A git-ml server as a Hummingbird application on `host:port` (0: a free port, reported to `onRunning`).
public func buildApplication(groups: [any RouteGroup], host: String, port: Int, token: String? = nil,
                             guard loopback: LoopbackGuard? = LoopbackGuard(), logger: Logger? = nil,
                             onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
    Application(router: buildRouter(groups: groups, token: token, guard: loopback), configuration: .init(address: .hostname(host, port: port), serverName: "git-ml"),
                onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
}

/// The tracking API as an application (tests build it on port 0).
public func buildApplication(store: TrackingStore, host: String, port: Int, token: String? = nil, logger: Logger? = nil,
                             onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
    buildApplication(groups: [TrackingAPI(store: store), ModelRegistryAPI(store: store)], host: host, port: port, token: token, logger: logger, onRunning: onRunning)
}
