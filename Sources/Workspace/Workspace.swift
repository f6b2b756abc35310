import Foundation
import GitKit
import ObjectStore

/// The version written into every record.
public let gitmlVersion = "0.1.0"

/// A git repository seen as an ML workspace: the one entry point for the
/// layers above (commands, engine, servers).
///
/// Not `Sendable`: it owns a libgit2 handle that one thread uses at a time.
///
/// It keeps its git repository and object store to itself: the layers above read and
/// write records, objects and refs through its API (the ledger of `RecordKind`s, runs,
/// environments, data), never through libgit2 or the store directly.
public final class Workspace {
    let repository: Repository
    /// The top of the work tree.
    public let workTree: String
    /// `.git/ml`, the local state (objects, live runs, caches).
    public let stateDirectory: String
    let store: ObjectStore
    /// The repository's object store (`.git/ml/objects`), for servers that hand out its objects.
    public var objectStore: ObjectStore { store }
    public let environment: [String: String]
    /// The folder the user is in (inside the work tree).
    public let currentDirectory: String
    /// Set when a search had to rebuild the query index (corrupt, another version); the CLI shows it.
    public internal(set) var indexWarning: String?
    private var userCache: Signature??

    public static let notesRef = "refs/notes/ml"

    init(repository: Repository, workTree: String, currentDirectory: String, environment: [String: String]) {
        self.repository = repository
        self.workTree = workTree
        self.stateDirectory = repository.commonDirectory + "/ml"
        self.store = ObjectStore(root: stateDirectory + "/objects")
        self.environment = environment
        self.currentDirectory = currentDirectory
    }

    /// Opens the workspace of the repository that `directory` lies in (as git
    /// finds it from any subfolder, honouring GIT_DIR and GIT_WORK_TREE).
    public static func open(at directory: String = FileManager.default.currentDirectoryPath,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Workspace {
        let repo: Repository
        do {
            repo = try Repository.discover(from: directory, environment: environment)
        } catch let e as GitError where e.code == .notFound {
            throw WorkspaceError(.notARepository, "not a git repository (or any parent folder): \(directory)",
                                 hint: "run git ml inside a git repository, or create one with `git init`")
        }
        guard !repo.isBare, let workTree = repo.workDirectory else {
            throw WorkspaceError(.bareRepository, "\(repo.gitDirectory) is a bare repository; git ml needs a work tree",
                                 hint: "clone it (`git clone \(repo.gitDirectory) work`) and run git ml in the clone")
        }
        return Workspace(repository: repo, workTree: workTree, currentDirectory: directory, environment: environment)
    }

    /// Another handle on the same workspace, for another thread (libgit2's handles are one
    /// thread's at a time): a sweep's trials run side by side, each with its own.
    public func reopened() throws -> Workspace {
        try Workspace.open(at: currentDirectory, environment: environment)
    }

    /// The commit HEAD points at; an error a user can act on when there is none.
    public func requireHead() throws -> ObjectID {
        guard let head = try git({ try repository.headCommit() }) else {
            throw WorkspaceError(.noCommit, "the repository has no commit yet; git ml ties every run to a commit",
                                 hint: "make a first commit: git add -A && git commit -m 'first commit'")
        }
        return head
    }

    /// `.mlops/config.yaml`, or the defaults when the file is absent.
    public func config() throws -> WorkspaceConfig {
        let path = workTree + "/.mlops/config.yaml"
        guard let data = FileManager.default.contents(atPath: path) else { return WorkspaceConfig() }
        return try WorkspaceConfig.parse(String(decoding: data, as: UTF8.self), file: relative(path))
    }

    /// Who runs: `user.name <user.email>` from git config, else the login name.
    public var userName: String {
        if let sig = configuredUser { return "\(sig.name) <\(sig.email)>" }
        return environment["USER"] ?? environment["LOGNAME"] ?? "unknown"
    }

    /// The identity records are committed with.
    var signature: Signature {
        configuredUser ?? Signature(name: environment["USER"] ?? "git-ml", email: "git-ml@\(Host.name)")
    }

    /// `user.name` / `user.email`, read once (git config is parsed on every read).
    private var configuredUser: Signature? {
        if let cached = userCache { return cached }
        userCache = .some(repository.configuredUser())
        return userCache!
    }

    /// `path` relative to the work tree's top when inside it, else unchanged.
    public func relative(_ path: String) -> String {
        if path == workTree { return "" }
        if path.hasPrefix(workTree + "/") { return String(path.dropFirst(workTree.count + 1)) }
        return path
    }

    /// A path the user typed (relative to the folder they are in, or absolute), made absolute and normalized.
    public func absolutePath(_ given: String) -> String {
        URL(fileURLWithPath: given.hasPrefix("/") ? given : currentDirectory + "/" + given).standardizedFileURL.path
    }

    /// Runs a GitKit call and turns its error into a storage error naming what failed.
    func git<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as GitError {
            throw WorkspaceError(.storage, "git: \(e.description)")
        }
    }
}

/// The machine's host name.
public enum Host {
    public static let name: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}

/// Writes `data` to `path` atomically (temp file in the same folder, fsync, rename).
/// Writes a file whole or not at all (a temp file renamed into place). `durable: false` skips
/// the fsync: for files that help after a crash of git-ml but that a power cut may lose, since
/// their readers fall back without them.
public func writeFileAtomically(_ data: Data, to path: String, mode: mode_t = 0o644, durable: Bool = true) throws {
    let temp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw WorkspaceError(.storage, "cannot write \(path): \(String(cString: strerror(errno)))") }
    var ok = data.withUnsafeBytes { buffer -> Bool in
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 { if errno == EINTR { continue }; return false }
            offset += n
        }
        return true
    }
    ok = ok && (!durable || fsync(fd) == 0)
    close(fd)
    guard ok, rename(temp, path) == 0 else {
        let message = String(cString: strerror(errno))
        unlink(temp)
        throw WorkspaceError(.storage, "cannot write \(path): \(message)")
    }
}

/// `open(2)`, named apart from `Workspace.open` so extensions can call it.
func openFile(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    open(path, flags, mode)
}
