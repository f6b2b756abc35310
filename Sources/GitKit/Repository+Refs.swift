import CGit2
import Foundation

/// A reference and the object it points at.
public struct Reference: Sendable, Equatable {
    public var name: String
    public var target: ObjectID
}

extension Repository {
    /// The object a reference points at (symbolic refs followed), or nil when it does not exist.
    public func referenceTarget(_ name: String) throws -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, handle, name)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check("read \(name)", rc)
        return ObjectID(oid)
    }

    /// Every direct reference whose name starts with `prefix` (e.g. `refs/ml/runs/`).
    public func references(withPrefix prefix: String) throws -> [Reference] {
        var iterator: OpaquePointer?
        try check("list \(prefix)*", git_reference_iterator_glob_new(&iterator, handle, prefix + "*"))
        defer { git_reference_iterator_free(iterator) }
        var result: [Reference] = []
        while true {
            var ref: OpaquePointer?
            let rc = git_reference_next(&ref, iterator)
            if rc == GIT_ITEROVER.rawValue { break }
            try check("list \(prefix)*", rc)
            defer { git_reference_free(ref) }
            guard let target = git_reference_target(ref) else { continue }
            result.append(Reference(name: String(cString: git_reference_name(ref)), target: ObjectID(target.pointee)))
        }
        return result
    }

    /// Points `name` at `id` only if it still points at `expected`
    /// (nil: only if it does not exist yet). Throws `.modified`/`.exists`/`.locked`
    /// when another writer got there first, so the caller can re-read and retry.
    public func updateReference(_ name: String, to id: ObjectID, expected: ObjectID?, message: String) throws {
        var oid = id.raw
        var ref: OpaquePointer?
        // An all-zero expected id means "must not exist yet". libgit2 checks the
        // expected value under the ref's lock; `git_reference_create` with force=0
        // checks existence before taking the lock, so two creators could both win.
        var current = expected?.raw ?? git_oid()
        try check(expected == nil ? "create \(name)" : "update \(name)",
                  git_reference_create_matching(&ref, handle, name, &oid, 1, &current, message))
        git_reference_free(ref)
    }

    /// Deletes a reference if it exists.
    public func deleteReference(_ name: String) throws {
        var ref: OpaquePointer?
        let rc = git_reference_lookup(&ref, handle, name)
        if rc == GIT_ENOTFOUND.rawValue { return }
        try check("find \(name)", rc)
        defer { git_reference_free(ref) }
        try check("delete \(name)", git_reference_delete(ref))
    }

    /// Runs `attempt` until it stops failing with contention (a lock held by another
    /// process, or a ref that moved), sleeping a short random while between tries.
    public func retryingOnContention<T>(maxAttempts: Int = 400, _ attempt: () throws -> T) throws -> T {
        var tries = 0
        while true {
            do { return try attempt() } catch let error as GitError where error.isContention && tries < maxAttempts {
                tries += 1
                usleep(UInt32.random(in: 500...(2_000 + UInt32(min(tries, 50)) * 400)))
            }
        }
    }
}
