import Hummingbird

/// Refuses requests without the server's bearer token.
struct BearerToken: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let given = request.headers[.authorization], given == "Bearer " + token else {
            return try MLflowError(.unauthenticated, "This server needs 'Authorization: Bearer <token>' (set MLFLOW_TRACKING_TOKEN)")
                .response(from: request, context: context)
        }
        return try await next(request, context)
    }
}

