import Foundation
import Hummingbird

/// Keeps web pages away from a server that listens on loopback. Any page the user opens can
/// send requests to 127.0.0.1: a cross-site POST (a "simple" request, sent without asking:
/// `text/plain`, a form, or no type) or, through DNS rebinding, any request under a foreign
/// host name. So, as MLflow 3 and Jupyter do:
/// - the `Host` must be a loopback name (`localhost`, `127.x.x.x`, `::1`) or one the user
///   allowed (`GITML_SERVE_HOSTS`); a request without one (not a browser's) passes;
/// - a request that changes state (anything but GET and HEAD) is refused when its `Origin`
///   is not a loopback one, and a POST when its body is of a type a page can send without asking.
/// Refusals are MLflow's PERMISSION_DENIED (403), naming what was refused.
public struct LoopbackGuard: RouterMiddleware {
    public typealias Context = BasicRequestContext
    let allowedHosts: Set<String>

    public init(allowedHosts: [String] = []) {
        self.allowedHosts = Set(allowedHosts.map { $0.lowercased() })
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let host = request.head.authority, !isAllowed(Self.hostName(host)) {
            return try refuse("host '\(host)' is not a loopback name; add it to GITML_SERVE_HOSTS to allow it", request, context)
        }
        if request.method != .get && request.method != .head {
            if let origin = request.headers[.origin], !isAllowedOrigin(origin) {
                return try refuse("requests from origin '\(origin)' may not change this repository", request, context)
            }
            // Only POST is a method a page may send without asking (PUT, PATCH and DELETE need
            // the server's leave, which it never gives), so only a POST's body type is checked:
            // an artifact upload (PUT) keeps whatever type the client gives its file.
            if request.method == .post {
                let type = request.headers[.contentType].map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased() }
                let simple = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
                if let type, simple.contains(type) {
                    return try refuse("a POST body of type \(type) is not accepted; send application/json", request, context)
                }
                if type == nil, request.headers[.origin] != nil {
                    return try refuse("a browser's POST needs Content-Type: application/json", request, context)
                }
            }
        }
        return try await next(request, context)
    }

    func refuse(_ message: String, _ request: Request, _ context: Context) throws -> Response {
        try MLflowError(.permissionDenied, message).response(from: request, context: context)
    }

    func isAllowed(_ name: String) -> Bool {
        Self.isLoopback(name) || allowedHosts.contains(name)
    }

    func isAllowedOrigin(_ origin: String) -> Bool {
        // scheme://host[:port]; "null" (a sandboxed page, a file) is foreign.
        guard let schemeEnd = origin.range(of: "://") else { return false }
        return isAllowed(Self.hostName(String(origin[schemeEnd.upperBound...])))
    }

    /// `127.0.0.1:5000` -> `127.0.0.1`, `[::1]:5000` -> `::1`, `LocalHost` -> `localhost`.
    static func hostName(_ authority: String) -> String {
        var s = Substring(authority.lowercased())
        if s.hasPrefix("[") {
            s = s.dropFirst()
            if let close = s.firstIndex(of: "]") { s = s[..<close] }
            return String(s)
        }
        if let colon = s.lastIndex(of: ":"), s.firstIndex(of: ":") == colon { s = s[..<colon] }
        if s.hasSuffix(".") { s = s.dropLast() }
        return String(s)
    }

    static func isLoopback(_ name: String) -> Bool {
        if name == "localhost" || name == "::1" { return true }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
