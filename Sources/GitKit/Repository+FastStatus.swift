import CGit2
import Dispatch
import Foundation
import Synchronization

// A work-tree status that spreads its stat calls over several threads.
//
// libgit2's status walks the index and stats every tracked file on one thread;
// on a tree of 10,000 files that is ~10,000 lstat calls back to back, and the
// time of `git ml run` in a large repository is mostly that. Here the index is
// read once, the lstat calls are split across threads, and only what the stat
// data cannot settle (a changed size or time, a racily clean entry) is hashed,
// as git does. States this code does not model (conflicts, intent-to-add,
// skip-worktree and assume-unchanged entries, core.symlinks=false, a custom
// GIT_INDEX_FILE) fall back to libgit2's status. A test checks the two agree.

/// An index entry as the stat workers see it: the parsed entry plus a pointer to
/// its path in the parse's arena, which stays valid while the status runs.
struct StatEntry: @unchecked Sendable {
    let path: UnsafePointer<CChar>
    /// Bytes of `path` before its last slash (0 for a file at the top).
    let dirLength: Int
    let index: IndexFile.Entry
}

/// Per-entry verdicts written by the workers, each to its own slots.
final class Verdicts: @unchecked Sendable {
    static let clean: UInt8 = 0, changed: UInt8 = 1, hash: UInt8 = 2
    let slots: UnsafeMutableBufferPointer<UInt8>
    init(count: Int) { slots = .allocate(capacity: max(1, count)); slots.initialize(repeating: 0) }
    deinit { slots.deallocate() }
}

extension Repository {
    /// Paths whose work-tree state differs from HEAD, like `changedPaths()`, with
    /// the stat calls split over `threads` threads.
    public func changedPathsParallel(threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> [String] {
        try parallelStatus(threads: threads) ?? changedPaths()
    }

    /// The parallel status, or nil for a state it leaves to libgit2.
    func parallelStatus(threads: Int) throws -> [String]? {
        guard let workdir = workDirectory else { return nil }
        let environment = ProcessInfo.processInfo.environment
        if environment["GIT_INDEX_FILE"] != nil { return nil }
        let settings = configBools(["core.filemode", "core.trustctime", "core.symlinks"])
        let fileMode = settings[0] ?? true, trustCtime = settings[1] ?? true
        if settings[2] == false { return nil }
        guard var index = IndexFile.parse(path: gitDirectory + "/index") else { return nil }
        if index.entries.contains(where: { $0.stage != 0 || $0.assumeValid || $0.skipWorktree || $0.intentToAdd }) { return nil }
        let paths = index.paths
        return try paths.withUnsafeBufferPointer { arena in
            try parallelStatus(index: &index, arena: arena.baseAddress!, workdir: workdir, threads: threads,
                               fileMode: fileMode, trustCtime: trustCtime)
        }
    }

    private func parallelStatus(index: inout IndexFile, arena: UnsafePointer<CChar>, workdir: String, threads: Int,
                                fileMode: Bool, trustCtime: Bool) throws -> [String] {
        let indexTime = index.mtime
        // The entries as the workers see them; count files per folder and collect every tracked folder.
        var entries: [StatEntry] = []
        entries.reserveCapacity(index.entries.count)
        var filesPerDir: [String: Int] = [:]
        var trackedDirs: Set<String> = [""]
        var submodules = Set<String>()
        var lastDir: (UnsafePointer<CChar>, Int)? = nil
        var lastKey = ""
        for e in index.entries {
            let path = arena + e.pathOffset
            if e.mode == 0o160000 {
                submodules.insert(String(cString: path))
                continue
            }
            let slash = strrchr(path, 0x2F).map { UnsafePointer($0) - path } ?? 0
            entries.append(StatEntry(path: path, dirLength: slash, index: e))
            if let (p, n) = lastDir, n == slash, memcmp(p, path, slash) == 0 {
                filesPerDir[lastKey, default: 0] += 1
                continue
            }
            lastDir = (path, slash)
            lastKey = String(decoding: UnsafeRawBufferPointer(start: path, count: slash), as: UTF8.self)
            filesPerDir[lastKey, default: 0] += 1
            var ancestor = lastKey
            while !ancestor.isEmpty, trackedDirs.insert(ancestor).inserted {
                ancestor = ancestor.lastIndex(of: "/").map { String(ancestor[..<$0]) } ?? ""
            }
        }

        // In parallel: lstat every entry, and list every tracked folder.
        let verdicts = Verdicts(count: entries.count)
        let listing = Mutex<(mismatched: [String], untrackedDirs: [String])>(([], []))
        let next = Atomic<Int>(0)
        let chunk = 256
        let chunks = (entries.count + chunk - 1) / chunk
        let root = Array(workdir.utf8CString.dropLast())
        let frozenEntries = entries, frozenDirs = trackedDirs, frozenCounts = filesPerDir, frozenSubmodules = submodules
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, chunks + 1))) { _ in
            // Entries come sorted by path, so a worker stats a run of files in the same
            // folder through one folder descriptor: the kernel walks one name, not the whole path.
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) * 2)
            var st = stat()
            var dirFD: Int32 = -1
            var dirOf: (UnsafePointer<CChar>, Int)? = nil
            defer { if dirFD >= 0 { close(dirFD) } }
            while true {
                // Job 0 lists the folders (a few ms of getdents) while the other thread
                // starts on the stat calls; jobs 1... are chunks of entries.
                let job = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if job > chunks { return }
                if job == 0 {
                    let found = Self.listTrackedFolders(workdir: workdir, trackedDirs: frozenDirs, filesPerDir: frozenCounts,
                                                        submodules: frozenSubmodules)
                    listing.withLock { $0 = found }
                    continue
                }
                for i in ((job - 1) * chunk)..<min(frozenEntries.count, job * chunk) {
                    let e = frozenEntries[i]
                    let slash = e.dirLength
                    if dirOf == nil || dirOf!.1 != slash || memcmp(dirOf!.0, e.path, slash) != 0 {
                        if dirFD >= 0 { close(dirFD) }
                        guard root.count + 1 + slash < buffer.count else { dirFD = -1; verdicts.slots[i] = Verdicts.hash; continue }
                        buffer.withUnsafeMutableBufferPointer { b in
                            for (k, c) in root.enumerated() { b[k] = c }
                            b[root.count] = 0x2F
                            memcpy(b.baseAddress! + root.count + 1, e.path, slash)
                            b[root.count + 1 + slash] = 0
                        }
                        dirFD = open(buffer, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                        dirOf = (e.path, slash)
                    }
                    let name = slash == 0 ? e.path : e.path + slash + 1
                    guard dirFD >= 0, fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                        verdicts.slots[i] = Verdicts.changed
                        continue
                    }
                    verdicts.slots[i] = Self.verdict(e, st, indexTime: indexTime, fileMode: fileMode, trustCtime: trustCtime)
                }
            }
        }

        var changed = Set<String>()
        var dirsToCheck = Set(listing.withLock { $0.mismatched })
        for i in 0..<entries.count where verdicts.slots[i] != Verdicts.clean {
            let path = String(cString: entries[i].path)
            if verdicts.slots[i] == Verdicts.hash, try !contentDiffers(entries[i], path: path, workdir: workdir) { continue }
            changed.insert(path)
            dirsToCheck.insert(path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "")
        }
        // Folders whose file count does not settle it: name by name.
        for dir in dirsToCheck {
            var tracked = Set<String>()
            for e in entries {
                let path = String(cString: e.path)
                let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? ""
                if parent == dir { tracked.insert(path) }
            }
            for name in Self.fileNames(in: dir.isEmpty ? workdir : workdir + "/" + dir, skipGit: dir.isEmpty) {
                let rel = dir.isEmpty ? name : dir + "/" + name
                if !tracked.contains(rel), !submodules.contains(rel), try !isIgnored(rel) { changed.insert(rel) }
            }
        }
        for dir in listing.withLock({ $0.untrackedDirs }) {
            try collectUntracked(dir, workdir: workdir, into: &changed)
        }
        // Staged changes: the index's cached tree against HEAD's; without a valid
        // cached tree, libgit2 computes the index's tree.
        var indexTree = index.rootTree ?? git_oid()
        if index.rootTree == nil {
            var libgit2Index: OpaquePointer?
            try check("open the index", git_repository_index(&libgit2Index, handle))
            defer { git_index_free(libgit2Index) }
            try check("read the index", git_index_read(libgit2Index, 0))
            try check("write the index's tree", git_index_write_tree(&indexTree, libgit2Index))
        }
        if let head = try headCommit() {
            let headTree = try readCommit(head).tree
            if ObjectID(indexTree) != headTree {
                for c in try diff(from: headTree, to: ObjectID(indexTree)).changes { changed.insert(c.path) }
            }
        }
        return changed.sorted()
    }

    /// What the stat data says about one entry.
    static func verdict(_ entry: StatEntry, _ st: stat, indexTime: (Int32, UInt32), fileMode: Bool, trustCtime: Bool) -> UInt8 {
        let e = entry.index
        let kind = st.st_mode & S_IFMT
        let isLink = e.mode == 0o120000
        if isLink ? kind != S_IFLNK : kind != S_IFREG { return Verdicts.changed }
        if !isLink, fileMode, (e.mode == 0o100755) != ((st.st_mode & 0o100) != 0) { return Verdicts.changed }
        let mtime = (Int32(truncatingIfNeeded: st.st_mtim.tv_sec), UInt32(truncatingIfNeeded: st.st_mtim.tv_nsec))
        let ctime = (Int32(truncatingIfNeeded: st.st_ctim.tv_sec), UInt32(truncatingIfNeeded: st.st_ctim.tv_nsec))
        if UInt32(truncatingIfNeeded: st.st_size) != e.size || mtime != e.mtime || UInt32(truncatingIfNeeded: st.st_ino) != e.ino
            || (trustCtime && ctime != e.ctime) {
            return Verdicts.hash
        }
        // Racily clean: written in the same tick as the index, so the times prove nothing.
        if e.mtime.0 > indexTime.0 || (e.mtime.0 == indexTime.0 && e.mtime.1 >= indexTime.1) { return Verdicts.hash }
        return Verdicts.clean
    }

    /// Hashes the work-tree file as git would store it and compares it with the index.
    func contentDiffers(_ entry: StatEntry, path: String, workdir: String) throws -> Bool {
        let e = entry.index
        var oid = git_oid()
        if e.mode == 0o120000 {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(workdir + "/" + path, &buffer, buffer.count)
            guard n >= 0 else { return true }
            try check("hash \(path)", git_odb_hash(&oid, buffer, n, GIT_OBJECT_BLOB))
        } else {
            guard git_repository_hashfile(&oid, handle, path, GIT_OBJECT_BLOB, nil) == 0 else { return true }
        }
        var indexed = e.id
        return git_oid_equal(&oid, &indexed) == 0
    }

    func isIgnored(_ path: String) throws -> Bool {
        var ignored: Int32 = 0
        try check("check ignore rules for \(path)", git_ignore_path_is_ignored(&ignored, handle, path))
        return ignored == 1
    }

    /// Adds every file under an untracked folder that is not ignored (nested repositories are left out).
    func collectUntracked(_ dir: String, workdir: String, into changed: inout Set<String>) throws {
        let absolute = workdir + "/" + dir
        if access(absolute + "/.git", F_OK) == 0 { return }
        if try isIgnored(dir + "/") { return }
        guard let d = opendir(absolute) else { return }
        var subdirs: [String] = []
        while let e = readdir(d) {
            let name = Self.name(of: e)
            if name == "." || name == ".." { continue }
            let rel = dir + "/" + name
            let type = Self.type(of: e, at: absolute + "/" + name)
            if type == Int(DT_DIR) {
                subdirs.append(rel)
            } else if type == Int(DT_REG) || type == Int(DT_LNK) {
                if try !isIgnored(rel) { changed.insert(rel) }
            }
        }
        closedir(d)
        for sub in subdirs { try collectUntracked(sub, workdir: workdir, into: &changed) }
    }

    /// Lists the tracked folders: those whose count of files differs from the
    /// index's, and the folders in them that the index does not know.
    static func listTrackedFolders(workdir: String, trackedDirs: Set<String>, filesPerDir: [String: Int],
                                   submodules: Set<String>) -> (mismatched: [String], untrackedDirs: [String]) {
        var mismatched: [String] = [], untracked: [String] = []
        for dir in trackedDirs {
            let absolute = dir.isEmpty ? workdir : workdir + "/" + dir
            guard let d = opendir(absolute) else { mismatched.append(dir); continue }
            var files = 0
            while let e = readdir(d) {
                let type = type(of: e, at: nil, parent: absolute)
                if type == Int(DT_REG) || type == Int(DT_LNK) { files += 1; continue }
                guard type == Int(DT_DIR) else { continue }
                let n = name(of: e)
                if n == "." || n == ".." || (dir.isEmpty && n == ".git") { continue }
                let rel = dir.isEmpty ? n : dir + "/" + n
                if !trackedDirs.contains(rel) && !submodules.contains(rel) { untracked.append(rel) }
            }
            closedir(d)
            if files != filesPerDir[dir, default: 0] { mismatched.append(dir) }
        }
        return (mismatched, untracked)
    }

    static func fileNames(in absolute: String, skipGit: Bool) -> [String] {
        guard let d = opendir(absolute) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let t = type(of: e, at: nil, parent: absolute)
            if t == Int(DT_REG) || t == Int(DT_LNK) { names.append(name(of: e)) }
        }
        return names
    }

    static func name(of e: UnsafeMutablePointer<dirent>) -> String {
        withUnsafePointer(to: e.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    /// The entry's type from readdir, or from lstat when the file system does not say.
    static func type(of e: UnsafeMutablePointer<dirent>, at path: String?, parent: String? = nil) -> Int {
        let t = Int(e.pointee.d_type)
        if t != Int(DT_UNKNOWN) { return t }
        var st = stat()
        let full = path ?? (parent! + "/" + name(of: e))
        guard lstat(full, &st) == 0 else { return Int(DT_UNKNOWN) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return Int(DT_DIR)
        case S_IFREG: return Int(DT_REG)
        case S_IFLNK: return Int(DT_LNK)
        default: return Int(DT_UNKNOWN)
        }
    }

    /// Booleans from git config (nil where unset), read from one snapshot.
    func configBools(_ keys: [String]) -> [Bool?] {
        var config: OpaquePointer?
        guard git_repository_config_snapshot(&config, handle) == 0 else { return keys.map { _ in nil } }
        defer { git_config_free(config) }
        return keys.map { key in
            var value: Int32 = 0
            return git_config_get_bool(&value, config, key) == 0 ? value != 0 : nil
        }
    }
}

extension Repository {
    /// True when the index holds `path` or anything under it.
    public func isTracked(_ path: String) throws -> Bool {
        var index: OpaquePointer?
        try check("open the index", git_repository_index(&index, handle))
        defer { git_index_free(index) }
        if git_index_get_bypath(index, path, 0) != nil { return true }
        var position = 0
        return git_index_find_prefix(&position, index, path + "/") == 0
    }
}
