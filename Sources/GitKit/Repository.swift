import CGit2
import Foundation

/// libgit2 is initialised once per process, the first time a repository opens.
public enum LibGit2 {
    static let initialized: Bool = {
        git_libgit2_init()
        return true
    }()

    /// How often libgit2 asked mbedTLS to load CA certificates and was told "done"
    /// without any parsing (see LibGit2+Startup.swift). Written only during init.
    nonisolated(unsafe) public internal(set) static var skippedCertificateLoads = 0

    /// Initialises libgit2 now (it otherwise happens on the first open).
    public static func initialize() { _ = initialized }
}

/// An open git repository.
///
/// A `Repository` wraps one libgit2 handle and, like that handle, must be used
/// by one thread at a time: it is deliberately not `Sendable`. Only its value
/// types (`ObjectID`, `CommitInfo`, ...) cross threads.
public final class Repository {
    let handle: OpaquePointer

    init(handle: OpaquePointer) { self.handle = handle }
    deinit { git_repository_free(handle) }

    /// Finds the repository that `path` lies in, as `git` does from a subfolder.
    ///
    /// `GIT_DIR` and `GIT_WORK_TREE` in `environment` take precedence, as they
    /// do for the git program; `GIT_CEILING_DIRECTORIES` bounds the search.
    public static func discover(from path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Repository {
        _ = LibGit2.initialized
        var out: OpaquePointer?
        if let gitDir = environment["GIT_DIR"], !gitDir.isEmpty {
            let absolute = gitDir.hasPrefix("/") ? gitDir : path + "/" + gitDir
            try check("open \(gitDir) (GIT_DIR)", git_repository_open_ext(&out, absolute, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil))
            let repo = Repository(handle: out!)
            if let workTree = environment["GIT_WORK_TREE"], !workTree.isEmpty {
                let absoluteTree = workTree.hasPrefix("/") ? workTree : path + "/" + workTree
                try check("use \(workTree) as work tree (GIT_WORK_TREE)", git_repository_set_workdir(repo.handle, absoluteTree, 0))
            }
            return repo
        }
        let ceiling = environment["GIT_CEILING_DIRECTORIES"]
        try check("find a git repository from \(path)", git_repository_open_ext(&out, path, 0, ceiling))
        return Repository(handle: out!)
    }

    /// The `.git` folder (for a bare repository, the repository itself), without a trailing slash.
    public var gitDirectory: String { Self.trimSlash(String(cString: git_repository_path(handle))) }

    /// The common git folder shared by linked work trees.
    public var commonDirectory: String { Self.trimSlash(String(cString: git_repository_commondir(handle))) }

    /// The work tree's top folder, or nil for a bare repository.
    public var workDirectory: String? {
        guard let p = git_repository_workdir(handle) else { return nil }
        return Self.trimSlash(String(cString: p))
    }

    public var isBare: Bool { git_repository_is_bare(handle) == 1 }

    static func trimSlash(_ s: String) -> String {
        s.count > 1 && s.hasSuffix("/") ? String(s.dropLast()) : s
    }

    /// The commit HEAD points at, or nil when HEAD's branch has no commit yet.
    public func headCommit() throws -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, handle, "HEAD")
        if rc == GIT_ENOTFOUND.rawValue || rc == GIT_EUNBORNBRANCH.rawValue { return nil }
        try check("read HEAD", rc)
        return ObjectID(oid)
    }

    /// The short name of the branch HEAD is on, or nil when detached or unborn.
    public func headBranch() -> String? {
        var ref: OpaquePointer?
        guard git_repository_head(&ref, handle) == 0, let ref else { return nil }
        defer { git_reference_free(ref) }
        guard git_reference_is_branch(ref) == 1, let name = git_reference_shorthand(ref) else { return nil }
        return String(cString: name)
    }

    /// Resolves a revision expression (`HEAD~2`, a branch, an abbreviated id) to a commit.
    public func resolveCommit(_ spec: String) throws -> ObjectID {
        var object: OpaquePointer?
        try check("resolve '\(spec)'", git_revparse_single(&object, handle, spec))
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        try check("'\(spec)' is not a commit", git_object_peel(&commit, object, GIT_OBJECT_COMMIT))
        defer { git_object_free(commit) }
        return ObjectID(git_object_id(commit)!.pointee)
    }

    /// A string from the repository's git configuration (repo, global, system).
    public func configString(_ key: String) -> String? {
        var config: OpaquePointer?
        guard git_repository_config_snapshot(&config, handle) == 0 else { return nil }
        defer { git_config_free(config) }
        var value: UnsafePointer<CChar>?
        guard git_config_get_string(&value, config, key) == 0, let value else { return nil }
        return String(cString: value)
    }

    /// A boolean from git config as git reads one (`true`, `yes`, `on`, `1`, a bare key, ...):
    /// nil when unset; an error naming the value when it is not a boolean.
    public func configBool(_ key: String) throws -> Bool? {
        var config: OpaquePointer?
        guard git_repository_config_snapshot(&config, handle) == 0 else { return nil }
        defer { git_config_free(config) }
        var value: Int32 = 0
        let rc = git_config_get_bool(&value, config, key)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        guard rc == 0 else {
            throw GitError(code: .invalid, operation: "read \(key)",
                           message: "'\(configString(key) ?? "")' is not a boolean (true, false, yes, no, on, off, 1, 0)")
        }
        return value != 0
    }

    /// Who the user is, from `user.name` / `user.email`, or nil when unset.
    public func configuredUser() -> Signature? {
        var sig: UnsafeMutablePointer<git_signature>?
        guard git_signature_default(&sig, handle) == 0, let sig else { return nil }
        defer { git_signature_free(sig) }
        return Signature(name: String(cString: sig.pointee.name), email: String(cString: sig.pointee.email))
    }
}

/// An author or committer identity.
public struct Signature: Sendable, Equatable, Codable {
    public var name: String
    public var email: String
    public init(name: String, email: String) {
        self.name = name
        self.email = email
    }
}
