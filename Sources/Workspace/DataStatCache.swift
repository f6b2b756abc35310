import Foundation

/// Remembers the SHA-256 of data files by their stat data (size, mtime, inode),
/// so `git ml data status` re-hashes only what changed. A file modified in the
/// last two seconds before it was cached is not cached: its time cannot prove it
/// unchanged later.
struct DataStatCache {
    struct Key: Hashable { var size: Int64; var mtime: Int64; var inode: UInt64 }
    var entries: [String: (Key, String)] = [:]
    var changed = false

    static func load(_ path: String) -> DataStatCache {
        var cache = DataStatCache()
        guard let data = FileManager.default.contents(atPath: path) else { return cache }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 5, let size = Int64(f[1]), let mtime = Int64(f[2]), let inode = UInt64(f[3]), f[4].utf8.count == 64 else { continue }
            cache.entries[String(f[0])] = (Key(size: size, mtime: mtime, inode: inode), String(f[4]))
        }
        return cache
    }

    func lookup(_ path: String, _ key: Key) -> String? {
        guard let (k, sha) = entries[path], k == key else { return nil }
        return sha
    }

    mutating func store(_ path: String, _ key: Key, _ sha: String, now: Int64) {
        guard now - key.mtime > 2_000_000_000 else { return }
        if let (k, s) = entries[path], k == key, s == sha { return }
        entries[path] = (key, sha)
        changed = true
    }

    func save(_ path: String) throws {
        guard changed else { return }
        var out = ""
        for (p, (k, sha)) in entries where !p.contains("\t") && !p.contains("\n") {
            out += "\(p)\t\(k.size)\t\(k.mtime)\t\(k.inode)\t\(sha)\n"
        }
        try FileManager.default.createDirectory(atPath: String(path[..<path.lastIndex(of: "/")!]), withIntermediateDirectories: true)
        try writeFileAtomically(Data(out.utf8), to: path)
    }
}
