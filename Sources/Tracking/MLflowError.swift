import Foundation
import Hummingbird

/// An error as MLflow's REST API reports it: an HTTP status and a JSON body
/// `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}`.
public struct MLflowError: Error, HTTPResponseError, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidParameterValue = "INVALID_PARAMETER_VALUE"
        case resourceDoesNotExist = "RESOURCE_DOES_NOT_EXIST"
        case resourceAlreadyExists = "RESOURCE_ALREADY_EXISTS"
        case badRequest = "BAD_REQUEST"
        case internalError = "INTERNAL_ERROR"
        case endpointNotFound = "ENDPOINT_NOT_FOUND"
        case unauthenticated = "UNAUTHENTICATED"
        case permissionDenied = "PERMISSION_DENIED"
    }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var status: HTTPResponse.Status {
        switch code {
        case .resourceDoesNotExist, .endpointNotFound: return .notFound
        case .internalError: return .internalServerError
        case .unauthenticated: return .unauthorized
        case .permissionDenied: return .forbidden
        default: return .badRequest
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONSerialization.data(withJSONObject: ["error_code": code.rawValue, "message": message], options: [.sortedKeys])
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
