import Foundation
import ObjectStore

/// Remembers the SHA-256 of data files by their stat data (size, mtime, inode),
/// so `git ml data status` re-hashes only what changed. A file modified in the
/// last two seconds before it was cached is not cached: its time cannot prove it
/// unchanged later.
struct DataStatCache: Sendable {
    struct Key: Hashable, Sendable { var size: Int64; var mtime: Int64; var inode: UInt64 }
    var entries: [String: (Key, String)] = [:]
    var changed = false

    static func load(_ path: String) -> DataStatCache {
        var cache = DataStatCache()
        guard let data = FileManager.default.contents(atPath: path) else { return cache }
        // Parsed byte by byte: a cache of 100,000 files must load in milliseconds.
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            var i = 0
            let n = b.count
            func field() -> Range<Int> {
                let start = i
                while i < n, b[i] != 0x09, b[i] != 0x0A { i += 1 }
                return start..<i
            }
            func number(_ r: Range<Int>) -> UInt64? {
                guard !r.isEmpty else { return nil }
                var v: UInt64 = 0
                for k in r { let d = b[k] &- 48; guard d < 10 else { return nil }; v = v &* 10 &+ UInt64(d) }
                return v
            }
            while i < n {
                var fields: [Range<Int>] = []
                fields.reserveCapacity(5)
                while true {
                    fields.append(field())
                    if i >= n || b[i] == 0x0A { i += 1; break }
                    i += 1
                }
                guard fields.count == 5, fields[4].count == 64, let size = number(fields[1]), let mtime = number(fields[2]),
                      let inode = number(fields[3]) else { continue }
                let p = String(decoding: UnsafeBufferPointer(rebasing: b[fields[0]]), as: UTF8.self)
                let sha = String(decoding: UnsafeBufferPointer(rebasing: b[fields[4]]), as: UTF8.self)
                cache.entries[p] = (Key(size: Int64(size), mtime: Int64(mtime), inode: inode), sha)
            }
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

/// The id each data path had when its stat data last proved it: for a folder,
/// a digest of every entry's path, size, mtime, inode and ctime (its "stamp");
/// for a file, the same four. The ctime, which no tool can set back, catches a
/// file rewritten in place with its old mtime restored. One line per data path, so `git ml data
/// status` on an unchanged tree reads this small file and the folders' stat
/// data, and neither re-hashes nor loads the per-file cache. Stamps whose files
/// were modified in the last two seconds are not kept (their times cannot
/// prove them unchanged later).
struct DataStampCache: Sendable {
    var entries: [String: (stamp: String, sha256: String)] = [:]
    var changed = false

    static func load(_ path: String) -> DataStampCache {
        var cache = DataStampCache()
        guard let data = FileManager.default.contents(atPath: path) else { return cache }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 3, f[2].count == 64 else { continue }
            cache.entries[String(f[0])] = (String(f[1]), String(f[2]))
        }
        return cache
    }

    func lookup(_ path: String, stamp: String) -> String? {
        guard let e = entries[path], e.stamp == stamp else { return nil }
        return e.sha256
    }

    mutating func store(_ path: String, stamp: String, sha256: String) {
        if let e = entries[path], e.stamp == stamp, e.sha256 == sha256 { return }
        entries[path] = (stamp, sha256)
        changed = true
    }

    func save(_ path: String) throws {
        guard changed else { return }
        var out = ""
        for (p, e) in entries.sorted(by: { $0.key < $1.key }) where !p.contains("\t") && !p.contains("\n") {
            out += "\(p)\t\(e.stamp)\t\(e.sha256)\n"
        }
        try FileManager.default.createDirectory(atPath: String(path[..<path.lastIndex(of: "/")!]), withIntermediateDirectories: true)
        try writeFileAtomically(Data(out.utf8), to: path)
    }

    /// A folder's stamp from its walk, or nil when a file is too fresh to trust.
    static func stamp(of files: [ObjectStore.FoundEntry], now: Int64) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(files.count * 64)
        func append(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        for f in files {
            if now - f.mtime <= 2_000_000_000 { return nil }
            bytes.append(contentsOf: f.relative.utf8)
            bytes.append(0)
            append(UInt64(bitPattern: f.size)); append(UInt64(bitPattern: f.mtime)); append(f.inode); append(UInt64(bitPattern: f.ctime))
            bytes.append((f.isLink ? 1 : 0) | (f.isExecutable ? 2 : 0))
        }
        return "d" + FileHashing.sha256(Data(bytes)).hex
    }

    /// A file's stamp from its stat data, or nil when it is too fresh to trust.
    static func stamp(of st: stat, now: Int64) -> String? {
        let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        guard now - mtime > 2_000_000_000 else { return nil }
        let ctime = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        return "f\(st.st_size)-\(mtime)-\(st.st_ino)-\(ctime)"
    }
}
