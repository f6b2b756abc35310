import Foundation

/// A failure a user can act on: what went wrong, where, and what to do.
///
/// The CLI prints `message` as one line (plus `hint` when there is one) and
/// exits with `exitCode`.
public struct WorkspaceError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        case notARepository, bareRepository, noCommit
        case unknownRun, ambiguousRun
        case invalidArgument
        case badConfig
        case storage          // an object, ref or record could not be read or written
        case damaged          // fsck found damage
    }
    public let code: Code
    public let message: String
    public let hint: String?

    public init(_ code: Code, _ message: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
    }

    public var description: String { hint.map { "\(message)\n\($0)" } ?? message }
    public var exitCode: Int32 { code == .invalidArgument || code == .badConfig ? 2 : 1 }
}
