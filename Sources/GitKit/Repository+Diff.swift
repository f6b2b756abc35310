import CGit2
import Foundation

/// One file that differs between two trees.
public struct FileChange: Sendable, Equatable {
    public enum Kind: String, Sendable { case added, deleted, modified, renamed, typechange }
    public var path: String
    public var kind: Kind
    public var additions: Int
    public var deletions: Int
    public var isBinary: Bool
}

extension Repository {
    /// The files that differ between two trees, with line counts, and the
    /// unified patch when `patch` is true.
    public func diff(from old: ObjectID, to new: ObjectID, patch: Bool = false) throws -> (changes: [FileChange], patch: String?) {
        try withTree(old) { a in
            try withTree(new) { b in
                var diff: OpaquePointer?
                try check("diff trees", git_diff_tree_to_tree(&diff, handle, a, b, nil))
                defer { git_diff_free(diff) }
                var changes: [FileChange] = []
                for i in 0..<git_diff_num_deltas(diff) {
                    guard let delta = git_diff_get_delta(diff, i)?.pointee else { continue }
                    let kind: FileChange.Kind
                    switch delta.status {
                    case GIT_DELTA_ADDED: kind = .added
                    case GIT_DELTA_DELETED: kind = .deleted
                    case GIT_DELTA_RENAMED: kind = .renamed
                    case GIT_DELTA_TYPECHANGE: kind = .typechange
                    default: kind = .modified
                    }
                    var p: OpaquePointer?
                    var adds = 0, dels = 0
                    if git_patch_from_diff(&p, diff, i) == 0, let p {
                        var context = 0
                        git_patch_line_stats(&context, &adds, &dels, p)
                        git_patch_free(p)
                    }
                    let path = String(cString: (delta.new_file.path ?? delta.old_file.path)!)
                    changes.append(FileChange(path: path, kind: kind, additions: adds, deletions: dels,
                                              isBinary: (delta.flags & GIT_DIFF_FLAG_BINARY.rawValue) != 0))
                }
                var text: String?
                if patch {
                    var buf = git_buf()
                    try check("format patch", git_diff_to_buf(&buf, diff, GIT_DIFF_FORMAT_PATCH))
                    defer { git_buf_dispose(&buf) }
                    text = buf.ptr.map { String(cString: $0) } ?? ""
                }
                return (changes, text)
            }
        }
    }
}
