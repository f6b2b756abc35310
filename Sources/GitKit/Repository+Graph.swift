import CGit2
import Foundation

extension Repository {
    /// True when `ancestor` is reachable from `descendant` (or is the same commit).
    public func isAncestor(_ ancestor: ObjectID, of descendant: ObjectID) throws -> Bool {
        if ancestor == descendant { return true }
        var a = ancestor.raw, d = descendant.raw
        let rc = git_graph_descendant_of(handle, &d, &a)
        if rc < 0 { _ = try check("compare \(ancestor.short) with \(descendant.short)", rc) }
        return rc == 1
    }

    /// Every blob in `tree` (recursively) whose path ends with `suffix`: (path, blob id).
    public func files(in tree: ObjectID, withSuffix suffix: String) throws -> [(path: String, id: ObjectID)] {
        var out: [(String, ObjectID)] = []
        func walk(_ id: ObjectID, _ prefix: String) throws {
            for entry in try readTree(id) {
                let path = prefix + entry.name
                switch entry.mode {
                case .tree: try walk(entry.id, path + "/")
                case .submodule, .link: continue
                default: if entry.name.hasSuffix(suffix) { out.append((path, entry.id)) }
                }
            }
        }
        try walk(tree, "")
        return out
    }
}

extension Repository {
    /// Sets a key in the repository's own config file (`.git/config`).
    public func setConfig(_ key: String, _ value: String) throws {
        var config: OpaquePointer?
        try check("open the config", git_repository_config(&config, handle))
        defer { git_config_free(config) }
        try check("set \(key)", git_config_set_string(config, key, value))
    }

    /// Every config entry whose name matches the regular expression (`^ml\.remote\.`), in file order.
    public func configEntries(matching pattern: String) -> [(name: String, value: String)] {
        var config: OpaquePointer?
        guard git_repository_config_snapshot(&config, handle) == 0 else { return [] }
        defer { git_config_free(config) }
        var iterator: OpaquePointer?
        guard git_config_iterator_glob_new(&iterator, config, pattern) == 0 else { return [] }
        defer { git_config_iterator_free(iterator) }
        var out: [(String, String)] = []
        var entry: UnsafeMutablePointer<git_config_entry>?
        while git_config_next(&entry, iterator) == 0, let e = entry {
            out.append((String(cString: e.pointee.name), e.pointee.value.map { String(cString: $0) } ?? ""))
        }
        return out
    }
}
