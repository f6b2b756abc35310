import CGit2
import Foundation

/// What the work tree held at one moment, as git objects.
public struct WorkTreeSnapshot: Sendable, Equatable {
    /// The commit HEAD points at.
    public var head: ObjectID
    /// The tree of `head`.
    public var headTree: ObjectID
    /// The tree of the work tree: `headTree` when clean, else a new tree with
    /// every tracked change and every untracked, not ignored file.
    public var tree: ObjectID
    /// Paths that differ from `head` (empty when clean).
    public var changedPaths: [String]
    /// Untracked files the caller asked to leave out, which the snapshot does not hold.
    public var leftOut: [String] = []
    public var isDirty: Bool { !changedPaths.isEmpty }
}

extension Repository {
    /// Snapshots the work tree into git objects without touching the index, the
    /// stash or any file of the work tree. Ignored files are left out, as `git add -A` would,
    /// and so are untracked files (not in the index) that `leaveOut` names.
    public func snapshotWorkTree(leavingOut leaveOut: (String) -> Bool = { _ in false }) throws -> WorkTreeSnapshot {
        guard let head = try headCommit() else {
            throw GitError(code: .unbornBranch, operation: "read HEAD", message: "the repository has no commit yet")
        }
        guard let workdir = workDirectory else {
            throw GitError(code: .bareRepository, operation: "snapshot the work tree", message: "the repository is bare")
        }
        let headTree = try readCommit(head).tree
        let changed = try changedPathsParallel()
        if changed.isEmpty {
            return WorkTreeSnapshot(head: head, headTree: headTree, tree: headTree, changedPaths: [])
        }
        var updates: [(action: git_tree_update_t, id: ObjectID?, mode: FileMode, path: String)] = []
        var leftOut: [String] = []
        for path in changed {
            var info = stat()
            if lstat(workdir + "/" + path, &info) == 0 {
                // Tracked means in the index, as for git: a file taken out of it (`git rm --cached`)
                // is untracked even while the last commit still holds it, and the snapshot drops it.
                if leaveOut(path), try !isInIndex(path) {
                    leftOut.append(path)
                    if try treeEntry(in: headTree, path: path) != nil { updates.append((GIT_TREE_UPDATE_REMOVE, nil, .blob, path)) }
                    continue
                }
                let kind = info.st_mode & S_IFMT
                let mode: FileMode
                if kind == S_IFLNK { mode = .link }
                else if kind == S_IFREG { mode = (info.st_mode & 0o100) != 0 ? .executable : .blob }
                else { continue }
                updates.append((GIT_TREE_UPDATE_UPSERT, try writeBlob(workTreePath: path), mode, path))
            } else if try treeEntry(in: headTree, path: path) != nil {
                updates.append((GIT_TREE_UPDATE_REMOVE, nil, .blob, path))
            }
        }
        if updates.isEmpty {
            return WorkTreeSnapshot(head: head, headTree: headTree, tree: headTree, changedPaths: [], leftOut: leftOut)
        }
        let paths = updates.map { strdup($0.path) }
        defer { paths.forEach { free($0) } }
        var raw = updates.enumerated().map { i, u in
            git_tree_update(action: u.action, id: u.id?.raw ?? git_oid(), filemode: git_filemode_t(rawValue: u.mode.rawValue),
                            path: UnsafePointer(paths[i]))
        }
        var out = git_oid()
        _ = try withTree(headTree) { base in
            try check("write the work-tree snapshot", git_tree_create_updated(&out, handle, base, raw.count, &raw))
        }
        let tree = ObjectID(out)
        let dropped = Set(leftOut)
        let kept = changed.filter { !dropped.contains($0) }
        return WorkTreeSnapshot(head: head, headTree: headTree, tree: tree, changedPaths: tree == headTree ? [] : kept, leftOut: leftOut)
    }

    /// Whether the index has an entry for `path` (staged, whether or not committed).
    public func isInIndex(_ path: String) throws -> Bool {
        var index: OpaquePointer?
        try check("read the index", git_repository_index(&index, handle))
        defer { git_index_free(index) }
        return git_index_get_bypath(index, path, 0) != nil
    }

    /// Paths whose work-tree state differs from HEAD: staged or not, plus
    /// untracked files that are not ignored. Submodules are left out.
    public func changedPaths() throws -> [String] {
        var options = git_status_options()
        try check("prepare status", git_status_options_init(&options, UInt32(GIT_STATUS_OPTIONS_VERSION)))
        options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR
        options.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED.rawValue | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS.rawValue
            | GIT_STATUS_OPT_EXCLUDE_SUBMODULES.rawValue
        var list: OpaquePointer?
        try check("read the work tree's status", git_status_list_new(&list, handle, &options))
        defer { git_status_list_free(list) }
        var paths = Set<String>()
        for i in 0..<git_status_list_entrycount(list) {
            guard let entry = git_status_byindex(list, i)?.pointee else { continue }
            for delta in [entry.head_to_index, entry.index_to_workdir] {
                guard let d = delta?.pointee else { continue }
                if let p = d.new_file.path { paths.insert(String(cString: p)) }
                if let p = d.old_file.path { paths.insert(String(cString: p)) }
            }
        }
        // A folder entry (a nested repository) has no content a snapshot could keep.
        return paths.filter { !$0.hasSuffix("/") }.sorted()
    }

}
