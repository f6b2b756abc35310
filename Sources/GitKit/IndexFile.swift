import CGit2
import Foundation

/// A read-only parse of git's index file (`.git/index`, versions 2 to 4), for the
/// parallel status: its entries' stat data, ids and paths, and whether the cached
/// tree of the whole index is valid (then its id is the tree of what is staged).
///
/// libgit2 takes ~8 ms to load a 10,000-entry index (it allocates every entry and
/// builds lookup maps); this reads the same file in about one. Anything it does not
/// model (a split or sparse index, another object format, a malformed file) makes
/// `parse` return nil and the caller use libgit2.
struct IndexFile {
    struct Entry {
        /// Offset of the NUL-terminated path in `paths`.
        var pathOffset: Int
        var mode: UInt32
        var size: UInt32
        var mtime: (Int32, UInt32)
        var ctime: (Int32, UInt32)
        var ino: UInt32
        var id: git_oid
        var stage: Int
        var assumeValid: Bool
        var skipWorktree: Bool
        var intentToAdd: Bool
    }

    var entries: [Entry] = []
    /// Every path, each followed by a NUL.
    var paths: [CChar] = []
    /// The cached tree of the whole index, when the TREE extension has a valid root.
    var rootTree: git_oid?
    /// The index file's modification time (for the racy-git check).
    var mtime: (Int32, UInt32) = (0, 0)

    static func parse(path: String) -> IndexFile? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 32 else { return nil }
        let size = Int(st.st_size)
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else { return nil }
        defer { munmap(map, size) }
        var index = IndexFile()
        index.mtime = (Int32(truncatingIfNeeded: st.st_mtim.tv_sec), UInt32(truncatingIfNeeded: st.st_mtim.tv_nsec))
        let ok = index.read(UnsafeRawBufferPointer(start: map, count: size))
        return ok ? index : nil
    }

    private mutating func read(_ b: UnsafeRawBufferPointer) -> Bool {
        func u32(_ o: Int) -> UInt32 { UInt32(bigEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        func u16(_ o: Int) -> UInt16 { UInt16(bigEndian: b.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
        let end = b.count - 20  // the trailing checksum
        guard u32(0) == 0x4449_5243 /* DIRC */ else { return false }
        let version = u32(4)
        guard (2...4).contains(version) else { return false }
        let count = Int(u32(8))
        entries.reserveCapacity(count)
        paths.reserveCapacity(count * 24)
        var o = 12
        var previous: [CChar] = []
        for _ in 0..<count {
            guard o + 62 <= end else { return false }
            let flags = u16(o + 60)
            var extended: UInt16 = 0
            var p = o + 62
            if flags & 0x4000 != 0 {
                guard version >= 3, p + 2 <= end else { return false }
                extended = u16(p)
                p += 2
            }
            let pathOffset = paths.count
            if version == 4 {
                // Prefix compression: drop N bytes from the previous path, then a NUL-terminated suffix.
                var strip = 0, byte: UInt8 = 0x80, first = true
                repeat {
                    guard p < end else { return false }
                    byte = b[p]; p += 1
                    if !first { strip += 1 }
                    strip = (strip << 7) | Int(byte & 0x7F)
                    first = false
                } while byte & 0x80 != 0
                guard strip <= previous.count else { return false }
                var q = p
                while q < end, b[q] != 0 { q += 1 }
                guard q < end else { return false }
                previous.removeLast(strip)
                for k in p..<q { previous.append(CChar(bitPattern: b[k])) }
                paths.append(contentsOf: previous)
                p = q + 1
            } else {
                var q = p
                while q < end, b[q] != 0 { q += 1 }
                guard q < end else { return false }
                for k in p..<q { paths.append(CChar(bitPattern: b[k])) }
                // 1 to 8 NULs pad the entry to a multiple of 8 bytes, counted from its start.
                p = o + (((p - o) + (q - p) + 8) & ~7)
            }
            var id = git_oid()
            withUnsafeMutableBytes(of: &id) { dst in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[(o + 40)..<(o + 60)]))
            }
            entries.append(Entry(pathOffset: pathOffset, mode: u32(o + 24), size: u32(o + 36),
                                 mtime: (Int32(bitPattern: u32(o + 8)), u32(o + 12)), ctime: (Int32(bitPattern: u32(o)), u32(o + 4)),
                                 ino: u32(o + 20), id: id, stage: Int((flags >> 12) & 3), assumeValid: flags & 0x8000 != 0,
                                 skipWorktree: extended & 0x4000 != 0, intentToAdd: extended & 0x2000 != 0))
            paths.append(0)
            o = p
        }
        // Extensions: TREE gives the cached tree; a split ("link") or sparse ("sdir") index is not modelled.
        while o + 8 <= end {
            let signature = u32(o), length = Int(u32(o + 4))
            let data = o + 8
            guard data + length <= end else { return false }
            switch signature {
            case 0x6C69_6E6B /* link */, 0x7364_6972 /* sdir */:
                return false
            case 0x5452_4545 /* TREE */:
                // Root: an empty path, NUL, "<entry count> <subtrees>\n", then the id when the count is not -1.
                var q = data
                guard q < data + length, b[q] == 0 else { break }
                q += 1
                var text = ""
                while q < data + length, b[q] != 0x0A { text.append(Character(UnicodeScalar(b[q]))); q += 1 }
                q += 1
                if let count = Int(text.split(separator: " ").first ?? ""), count >= 0, q + 20 <= data + length {
                    var root = git_oid()
                    withUnsafeMutableBytes(of: &root) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[q..<(q + 20)])) }
                    rootTree = root
                }
            default:
                break
            }
            o = data + length
        }
        return o == end
    }
}

extension Repository {
    /// The paths in the index that end with `suffix` (e.g. every `.mlref` pointer),
    /// read from the index file directly, or through libgit2 when it cannot be.
    public func indexedPaths(withSuffix suffix: String) throws -> [String] {
        if let index = IndexFile.parse(path: gitDirectory + "/index") {
            return index.paths.withUnsafeBufferPointer { arena in
                index.entries.compactMap { e -> String? in
                    let path = String(cString: arena.baseAddress! + e.pathOffset)
                    return path.hasSuffix(suffix) ? path : nil
                }
            }
        }
        var index: OpaquePointer?
        try check("open the index", git_repository_index(&index, handle))
        defer { git_index_free(index) }
        return (0..<git_index_entrycount(index)).compactMap { i in
            guard let e = git_index_get_byindex(index, i) else { return nil }
            let path = String(cString: e.pointee.path)
            return path.hasSuffix(suffix) ? path : nil
        }
    }
}
