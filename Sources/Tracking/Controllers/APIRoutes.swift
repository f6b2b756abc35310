import Foundation
import Hummingbird

/// A group of routes under both MLflow API prefixes (`/api/2.0/mlflow` and `/ajax-api/2.0/mlflow`):
/// each route decodes its request type and answers JSON, or MLflow's error.
struct APIRoutes<Context: RequestContext> {
    let groups: [RouterGroup<Context>]

    init(_ router: Router<Context>) {
        groups = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"].map { router.group(RouterPath($0)) }
    }

    /// Adds `path` for each method: the body (or query) decoded as `T`, the handler's object as JSON.
    func on<T: Decodable & Sendable>(_ path: String, _ methods: [HTTPRequest.Method], _ type: T.Type,
                                     _ handler: @escaping @Sendable (T) async throws -> [String: Any]) {
        for group in groups {
            for method in methods {
                group.on(RouterPath(path), method: method) { request, context in
                    try json(try await handler(try await APIRequest.decode(T.self, request, context: context)))
                }
            }
        }
    }

    /// Adds a route that writes its own response (a history of many points, written as bytes).
    func raw<T: Decodable & Sendable>(_ path: String, _ methods: [HTTPRequest.Method], _ type: T.Type,
                                      _ handler: @escaping @Sendable (T) async throws -> Response) {
        for group in groups {
            for method in methods {
                group.on(RouterPath(path), method: method) { request, context in
                    try await handler(try await APIRequest.decode(T.self, request, context: context))
                }
            }
        }
    }
}

/// A request with no fields.
struct EmptyRequest: Decodable, Sendable {}
