import Foundation
import HTTPTypes
import Hummingbird

/// Refuses requests without the server's bearer token.
struct BearerToken: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let given = request.headers[.authorization], given == "Bearer " + token || Self.basicPassword(given) == token else {
            if request.uri.path.hasPrefix("/lfs/") {
                // Git LFS clients answer a 401 with git's credential helpers: any user name, the token as password.
                var response = Response(status: .unauthorized, headers: [.contentType: "application/vnd.git-lfs+json"],
                                        body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"message":"credentials needed: any user name and the server's token as the password"}"#)))
                response.headers[HTTPField.Name("LFS-Authenticate")!] = #"Basic realm="git-ml""#
                return response
            }
            return try MLflowError(.unauthenticated, "This server needs 'Authorization: Bearer <token>' (set MLFLOW_TRACKING_TOKEN)")
                .response(from: request, context: context)
        }
        return try await next(request, context)
    }

    /// The password of `Basic <base64 user:password>`, which Git LFS clients send.
    static func basicPassword(_ header: String) -> String? {
        guard header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        return String(text[text.index(after: colon)...])
    }
}

