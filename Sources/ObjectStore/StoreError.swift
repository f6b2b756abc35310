import Foundation

/// A failure of the object store: what failed, on which path or object, and why.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        case io                 // a system call failed (errno in the message)
        case missingObject      // the store has no object with this id
        case corruptObject      // the bytes no longer hash to their id
        case changedWhileHashing
        case badManifest
        case unsupportedFile    // a socket, fifo or device in a folder
    }
    public let code: Code
    public let path: String
    public let message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    static func errno(_ operation: String, _ path: String, _ err: Int32 = Foundation.errno) -> StoreError {
        StoreError(.io, path: path, "\(operation) \(path): \(String(cString: strerror(err)))")
    }

    public var description: String { message }
}
