import Foundation

/// An object as remotes name it: its SHA-256 (the same oid Git LFS uses) and its size.
public struct RemoteObject: Hashable, Sendable, Codable {
    public var id: ContentID
    public var size: Int64
    public init(id: ContentID, size: Int64) {
        self.id = id
        self.size = size
    }
}

public enum TransferDirection: String, Sendable {
    case upload, download
}

/// What a remote says to do for one object of a batch: where to send or fetch it
/// (a URL with its headers, or a path for a folder remote), and for an LFS upload
/// where to confirm it.
public struct TransferAction: Sendable {
    public var href: String
    public var headers: [String: String]
    public var verify: (href: String, headers: [String: String])?
    public init(href: String, headers: [String: String] = [:], verify: (href: String, headers: [String: String])? = nil) {
        self.href = href
        self.headers = headers
        self.verify = verify
    }
}

/// The answer of a remote for one object of a batch.
public enum BatchAnswer: Sendable {
    /// Transfer it with this action.
    case transfer(TransferAction)
    /// Nothing to do: the remote holds it already (upload).
    case present
    /// The remote cannot give or take it (an LFS per-object error, a missing object).
    case failed(String)
}

/// Where objects go to be shared: one protocol, several backends (`dir`, `lfs`), and
/// one engine (`ObjectTransfer`) that batches, parallelizes, verifies and retries
/// over any of them.
public protocol ObjectRemote: Sendable {
    /// How messages name the remote: `dir /mnt/team/ml`, `lfs https://host/repo.git/info/lfs`.
    var location: String { get }
    /// How many objects one `batch` call may name (Git LFS servers take 100).
    var batchLimit: Int { get }
    /// How many transfers run at once (disk remotes gain little from more than the cores).
    var parallelism: Int { get }
    /// What to do for each object. Throws when the remote cannot be reached or refuses the batch.
    func batch(_ direction: TransferDirection, _ objects: [RemoteObject]) throws -> [ContentID: BatchAnswer]
    /// Sends the bytes of the local file at `path` as `object`.
    func upload(_ object: RemoteObject, from path: String, action: TransferAction) throws
    /// Sends several objects at once (a folder remote makes them durable with one flush, not one each).
    func upload(_ items: [(object: RemoteObject, path: String, action: TransferAction)]) throws
    /// Writes the object's bytes from `offset` on to `fd` (a resumed download starts past what
    /// it has). Returns the offset the bytes written started at: `offset`, or 0 when the
    /// remote could only send the whole object again (the caller truncates first).
    func download(_ object: RemoteObject, to fd: Int32, path: String, from offset: Int64, action: TransferAction) throws -> Int64
}

extension ObjectRemote {
    public func upload(_ items: [(object: RemoteObject, path: String, action: TransferAction)]) throws {
        for item in items { try upload(item.object, from: item.path, action: item.action) }
    }
}

/// A failure of a remote: which remote, what was attempted and why; `transient` when
/// trying again may succeed (a dropped connection, a 5xx, a corrupted arrival).
public struct RemoteError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var transient: Bool
    public init(_ message: String, transient: Bool = false) {
        self.message = message
        self.transient = transient
    }
    public var description: String { message }
}
