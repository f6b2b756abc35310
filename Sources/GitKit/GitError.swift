import CGit2
import Foundation

/// An error from libgit2 or from GitKit itself, with the operation that failed.
///
/// libgit2 keeps its last error per thread, so the message is read in the same
/// synchronous call as the failing C function (see `check(_:_:)`).
public struct GitError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        case notFound
        case exists
        case modified      // a compare-and-swap found another value
        case locked        // another process holds the lock file
        case ambiguous
        case bareRepository
        case unbornBranch
        case invalid
        case other(Int32)
    }

    public let code: Code
    public let operation: String
    public let message: String

    public init(code: Code, operation: String, message: String) {
        self.code = code
        self.operation = operation
        self.message = message
    }

    public var description: String { "\(operation): \(message)" }

    /// The error of a failed system call, from `errno`.
    static func system(_ operation: String) -> GitError {
        GitError(code: .other(-1), operation: operation, message: String(cString: strerror(errno)))
    }

    /// True when retrying the same update may succeed (lock held, value moved).
    public var isContention: Bool { code == .modified || code == .locked || code == .exists }
}

/// Runs one libgit2 call and turns a negative result into a `GitError`,
/// reading `git_error_last()` at once, before any other libgit2 call.
@discardableResult
func check(_ operation: @autoclosure () -> String, _ result: Int32) throws -> Int32 {
    guard result < 0 else { return result }
    let message: String
    if let last = git_error_last(), let text = last.pointee.message {
        message = String(cString: text).trimmingTrailingNewlines()
    } else {
        message = "libgit2 error \(result)"
    }
    let code: GitError.Code
    switch result {
    case GIT_ENOTFOUND.rawValue: code = .notFound
    case GIT_EEXISTS.rawValue: code = .exists
    case GIT_EMODIFIED.rawValue: code = .modified
    case GIT_ELOCKED.rawValue: code = .locked
    case GIT_EAMBIGUOUS.rawValue: code = .ambiguous
    case GIT_EBAREREPO.rawValue: code = .bareRepository
    case GIT_EUNBORNBRANCH.rawValue: code = .unbornBranch
    case GIT_EINVALIDSPEC.rawValue, GIT_EINVALID.rawValue: code = .invalid
    default: code = .other(result)
    }
    throw GitError(code: code, operation: operation(), message: message)
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = self
        while s.last == "\n" || s.last == "\r" { s.removeLast() }
        return s
    }
}
