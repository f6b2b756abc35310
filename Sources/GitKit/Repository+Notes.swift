import CGit2
import Foundation

extension Repository {
    /// The note attached to `commit` under `notesRef`, or nil.
    public func note(on commit: ObjectID, notesRef: String) throws -> String? {
        var note: OpaquePointer?
        var oid = commit.raw
        let rc = git_note_read(&note, handle, notesRef, &oid)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check("read note on \(commit.short)", rc)
        defer { git_note_free(note) }
        return String(cString: git_note_message(note))
    }

    /// Rewrites the note on `commit` as `transform(old)`, publishing it with a
    /// compare-and-swap on `notesRef` and retrying when another writer moved it,
    /// so concurrent writers never lose each other's notes.
    public func updateNote(on commit: ObjectID, notesRef: String, author: Signature,
                           _ transform: (String?) -> String) throws {
        var sig: UnsafeMutablePointer<git_signature>?
        try check("make signature", git_signature_now(&sig, author.name, author.email))
        defer { git_signature_free(sig) }
        try retryingOnContention {
            let current = try referenceTarget(notesRef)
            var parent: OpaquePointer?
            if let current {
                var oid = current.raw
                try check("read \(notesRef)", git_commit_lookup(&parent, handle, &oid))
            }
            defer { git_commit_free(parent) }
            var old: String?
            if let parent {
                var note: OpaquePointer?
                var target = commit.raw
                let rc = git_note_commit_read(&note, handle, parent, &target)
                if rc != GIT_ENOTFOUND.rawValue {
                    try check("read note on \(commit.short)", rc)
                    old = String(cString: git_note_message(note))
                    git_note_free(note)
                }
            }
            let text = transform(old)
            var newCommit = git_oid()
            var blob = git_oid()
            var target = commit.raw
            try check("write note on \(commit.short)",
                      git_note_commit_create(&newCommit, &blob, handle, parent, sig, sig, &target, text, 1))
            try updateReference(notesRef, to: ObjectID(newCommit), expected: current, message: "git-ml: note on \(commit.short)")
        }
    }
}
