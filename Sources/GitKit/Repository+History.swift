import CGit2
import Foundation

/// One commit at which a file's content changed.
public struct FileVersion: Sendable, Equatable {
    public var commit: CommitInfo
    /// The file's blob at that commit; nil where the commit deleted it.
    public var blob: ObjectID?
}

extension Repository {
    /// The commits reachable from `start` (newest first) at which the file at
    /// `path` differs from the commit's first parent, as `git log -- PATH` lists them.
    public func history(of path: String, from start: ObjectID, limit: Int = 1000) throws -> [FileVersion] {
        var walk: OpaquePointer?
        try check("walk history", git_revwalk_new(&walk, handle))
        defer { git_revwalk_free(walk) }
        git_revwalk_sorting(walk, GIT_SORT_TIME.rawValue)
        var oid = start.raw
        try check("walk from \(start.short)", git_revwalk_push(walk, &oid))
        var versions: [FileVersion] = []
        var next = git_oid()
        while versions.count < limit, git_revwalk_next(&next, walk) == 0 {
            let info = try readCommit(ObjectID(next))
            let here = try treeEntry(in: info.tree, path: path)?.id
            let before = try info.parents.first.map { try treeEntry(in: try readCommit($0).tree, path: path)?.id } ?? nil
            if here != before { versions.append(FileVersion(commit: info, blob: here)) }
        }
        return versions
    }
}
