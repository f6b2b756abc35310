import Dispatch
import Foundation
import GitKit
import ObjectStore
import Synchronization

/// What `git ml data add` stored.
public struct DataAddResult: Sendable, Codable {
    public var path: String
    public var pointer: String
    public var type: String
    public var sha256: String
    public var size: Int64
    public var files: Int?
    /// The .gitignore that now lists the data (nil when it already did).
    public var gitignore: String?
}

/// How the data at a pointer compares with the pointer.
public struct DataStatusEntry: Sendable, Codable {
    public enum State: String, Sendable, Codable { case unchanged, modified, missing }
    public var path: String
    public var pointer: String
    public var state: State
    /// For folders: files new, gone or changed against the pointer's manifest.
    public var added: [String]
    public var removed: [String]
    public var modified: [String]
}

/// One version of a data path in the git history of its pointer.
public struct DataVersion: Sendable, Codable {
    public var commit: String
    public var date: Date
    public var subject: String
    /// nil where the commit removed the pointer.
    public var sha256: String?
    public var size: Int64?
    public var files: Int?
}

extension Workspace {
    var dataCachePath: String { stateDirectory + "/cache/data-stat-v1.tsv" }
    var dataStampPath: String { stateDirectory + "/cache/data-stamps-v1.tsv" }

    /// An absolute, normalized path for a path the user typed, refused when it is
    /// outside the work tree or inside `.git`.
    func dataPath(_ given: String) throws -> String {
        let absolute = absolutePath(given)
        let top = URL(fileURLWithPath: workTree).standardizedFileURL.path
        guard absolute.hasPrefix(top + "/") else {
            throw WorkspaceError(.invalidArgument, "\(given) is outside the repository (\(top)); git ml data versions only what lies inside it",
                                 hint: "move or copy the data into the work tree first")
        }
        let rel = String(absolute.dropFirst(top.count + 1))
        if rel == ".git" || rel.hasPrefix(".git/") {
            throw WorkspaceError(.invalidArgument, "\(given) is inside .git")
        }
        return absolute
    }

    /// Stores a file or folder, writes `PATH.mlref` beside it and lists PATH in the
    /// `.gitignore` of its folder. Commit the pointer to version the data.
    public func addData(_ given: String, name: String? = nil, progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> DataAddResult {
        let absolute = try dataPath(given)
        let rel = relative(absolute)
        var st = stat()
        guard lstat(absolute, &st) == 0 else {
            throw WorkspaceError(.invalidArgument, "\(given): no such file or folder")
        }
        if (try? repository.isTracked(rel)) == true {
            throw WorkspaceError(.invalidArgument, "\(rel) is tracked by git; git ml data keeps it out of git instead",
                                 hint: "untrack it first: git rm -r --cached \(rel)")
        }
        guard st.st_mode & S_IFMT == S_IFREG || st.st_mode & S_IFMT == S_IFDIR else {
            throw WorkspaceError(.invalidArgument, "\(given) is not a file or folder")
        }
        let stored = try storeData(at: absolute, progress: progress)
        let pointer = DataPointer(path: String(rel.split(separator: "/").last!), type: stored.type, sha256: stored.sha256,
                                  size: stored.size, files: stored.files, name: name)
        try writeFileAtomically(Data(pointer.yaml().utf8), to: absolute + DataPointer.suffix)
        try registerPointer(rel + DataPointer.suffix)
        let ignore = try ignoreInGit(absolute)
        return DataAddResult(path: rel, pointer: rel + DataPointer.suffix, type: pointer.type, sha256: pointer.sha256,
                             size: pointer.size, files: pointer.files, gitignore: ignore)
    }

    /// Adds `/NAME` to the `.gitignore` beside the data, unless a line already says so.
    func ignoreInGit(_ absolute: String) throws -> String? {
        let parent = String(absolute[..<absolute.lastIndex(of: "/")!])
        let name = String(absolute[absolute.index(after: absolute.lastIndex(of: "/")!)...])
        let file = parent + "/.gitignore"
        let text = FileManager.default.contents(atPath: file).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let lines = Set(text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        if lines.contains("/" + name) || lines.contains(name) || lines.contains("/" + name + "/") { return nil }
        let updated = text + (text.isEmpty || text.hasSuffix("\n") ? "" : "\n") + "/" + name + "\n"
        try writeFileAtomically(Data(updated.utf8), to: file)
        return relative(file)
    }

    var pointerRegistryPath: String { stateDirectory + "/cache/data-pointers" }

    /// Every data pointer in the work tree: (pointer's absolute path, pointer).
    ///
    /// Pointers are found without walking the work tree: those git tracks are in the
    /// index, and those added here but not yet committed are in a local list
    /// (`.git/ml/cache/data-pointers`) that `git ml data add` keeps.
    public func dataPointers() throws -> [(file: String, pointer: DataPointer)] {
        var paths = Set(try git { try repository.indexedPaths(withSuffix: DataPointer.suffix) })
        if let data = FileManager.default.contents(atPath: pointerRegistryPath) {
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") { paths.insert(String(line)) }
        }
        var found: [(String, DataPointer)] = []
        for rel in paths.sorted() {
            let file = workTree + "/" + rel
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            found.append((file, try DataPointer.parse(String(decoding: data, as: UTF8.self), file: rel)))
        }
        return found
    }

    /// Remembers a pointer added here, so status finds it before it is committed.
    func registerPointer(_ rel: String) throws {
        let existing = FileManager.default.contents(atPath: pointerRegistryPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        var lines = Set(existing.split(separator: "\n").map(String.init))
        guard lines.insert(rel).inserted else { return }
        // Forget pointers that are gone, so the list stays short.
        lines = lines.filter { FileManager.default.fileExists(atPath: workTree + "/" + $0) }
        try FileManager.default.createDirectory(atPath: stateDirectory + "/cache", withIntermediateDirectories: true)
        try writeFileAtomically(Data((lines.sorted().joined(separator: "\n") + "\n").utf8), to: pointerRegistryPath)
    }

    /// How the data at each pointer compares with it; only files whose stat data
    /// changed since they were last hashed are hashed again.
    public func dataStatus() throws -> [DataStatusEntry] {
        // The per-file cache is loaded only when a stamp does not prove a path unchanged.
        var loaded: DataStatCache?
        var stamps = DataStampCache.load(dataStampPath)
        defer {
            if let loaded { try? loaded.save(dataCachePath) }
            try? stamps.save(dataStampPath)
        }
        let now = Self.now()
        var out: [DataStatusEntry] = []
        for (file, pointer) in try dataPointers() {
            let absolute = String(file.dropLast(DataPointer.suffix.count))
            let rel = relative(absolute)
            var entry = DataStatusEntry(path: rel, pointer: relative(file), state: .unchanged, added: [], removed: [], modified: [])
            var st = stat()
            guard lstat(absolute, &st) == 0 else {
                entry.state = .missing
                out.append(entry)
                continue
            }
            let isFolder = st.st_mode & S_IFMT == S_IFDIR
            let walked = isFolder ? try ObjectStore.walk(absolute) : []
            let stamp = isFolder ? DataStampCache.stamp(of: walked, now: now) : DataStampCache.stamp(of: st, now: now)
            if let stamp, stamps.lookup(rel, stamp: stamp) == pointer.sha256 {
                out.append(entry)
                continue
            }
            var cache = loaded ?? DataStatCache.load(dataCachePath)
            let digested = try digest(absolute, cache: &cache, walked: isFolder ? walked : nil)
            loaded = cache
            guard let current = digested else {
                entry.state = .missing
                out.append(entry)
                continue
            }
            if let stamp { stamps.store(rel, stamp: stamp, sha256: current.sha256) }
            if current.sha256 != pointer.sha256 {
                entry.state = .modified
                if let now = current.manifest, let id = ContentID(hex: pointer.sha256), let before = try? store.manifest(id) {
                    let a = Dictionary(before.entries.map { ($0.path, $0.sha256?.hex ?? "link:" + ($0.target ?? "")) }, uniquingKeysWith: { x, _ in x })
                    let b = Dictionary(now.entries.map { ($0.path, $0.sha256?.hex ?? "link:" + ($0.target ?? "")) }, uniquingKeysWith: { x, _ in x })
                    for change in a.diff(against: b) {
                        switch change.kind {
                        case "added": entry.added.append(change.path)
                        case "deleted": entry.removed.append(change.path)
                        default: entry.modified.append(change.path)
                        }
                    }
                }
            }
            out.append(entry)
        }
        return out
    }

    /// The id the data at `absolute` would have if added now (nil when absent),
    /// and for a folder its manifest.
    func digest(_ absolute: String, cache: inout DataStatCache, walked: [ObjectStore.FoundEntry]? = nil) throws -> (sha256: String, manifest: Manifest?)? {
        var st = stat()
        guard lstat(absolute, &st) == 0 else { return nil }
        let rel = relative(absolute)
        if st.st_mode & S_IFMT == S_IFREG {
            let key = DataStatCache.Key(size: Int64(st.st_size), mtime: Self.nanos(st.st_mtim), inode: UInt64(st.st_ino))
            if let sha = cache.lookup(rel, key) { return (sha, nil) }
            let sha = try FileHashing.sha256(fileAt: absolute).id.hex
            cache.store(rel, key, sha, now: Self.now())
            return (sha, nil)
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { return nil }
        let files = try walked ?? ObjectStore.walk(absolute)
        var hashes = [String?](repeating: nil, count: files.count)
        var misses: [Int] = []
        for (i, f) in files.enumerated() where !f.isLink {
            if let sha = cache.lookup(rel + "/" + f.relative, .init(size: f.size, mtime: f.mtime, inode: f.inode)) { hashes[i] = sha } else { misses.append(i) }
        }
        if !misses.isEmpty {
            let found = Mutex<[Int: String]>([:])
            let next = Atomic<Int>(0)
            let work = misses
            DispatchQueue.concurrentPerform(iterations: min(ProcessInfo.processInfo.activeProcessorCount, work.count)) { _ in
                while true {
                    let k = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if k >= work.count { return }
                    if let sha = try? FileHashing.sha256(fileAt: files[work[k]].absolute).id.hex { found.withLock { $0[work[k]] = sha } }
                }
            }
            for (i, sha) in found.withLock({ $0 }) {
                hashes[i] = sha
                let f = files[i]
                cache.store(rel + "/" + f.relative, .init(size: f.size, mtime: f.mtime, inode: f.inode), sha, now: Self.now())
            }
        }
        var entries: [Manifest.Entry] = []
        for (i, f) in files.enumerated() {
            if f.isLink {
                let target = try readLink(f.absolute)
                entries.append(.init(path: f.relative, mode: "120000", size: Int64(target.utf8.count), sha256: nil, target: target))
            } else {
                guard let sha = hashes[i], let id = ContentID(hex: sha) else {
                    throw WorkspaceError(.storage, "cannot read \(rel)/\(f.relative)")
                }
                entries.append(.init(path: f.relative, mode: f.isExecutable ? "100755" : "100644", size: f.size, sha256: id, target: nil))
            }
        }
        let manifest = Manifest(entries: entries)
        return (FileHashing.sha256(try manifest.encoded()).hex, manifest)
    }

    /// Makes the data at each pointer (all, or those named) what the pointer says,
    /// from the object store: a file is replaced whole, a folder is built beside
    /// its old self and swapped in, so nothing is ever half written. With a
    /// revision, the pointer is read from that commit. Returns the paths written.
    public func checkoutData(_ given: [String], revision: String? = nil, link: Bool = false) throws -> [String] {
        var targets: [(absolute: String, pointerRel: String)] = []
        if given.isEmpty {
            targets = try dataPointers().map { (String($0.file.dropLast(DataPointer.suffix.count)), relative($0.file)) }
        } else {
            for g in given {
                var absolute = try dataPath(g)
                if absolute.hasSuffix(DataPointer.suffix) { absolute.removeLast(DataPointer.suffix.count) }
                targets.append((absolute, relative(absolute) + DataPointer.suffix))
            }
        }
        var cache = DataStatCache.load(dataCachePath)
        defer { try? cache.save(dataCachePath) }
        var written: [String] = []
        for (absolute, pointerRel) in targets {
            let pointer = try readPointer(pointerRel, revision: revision)
            if try digest(absolute, cache: &cache)?.sha256 == pointer.sha256 { continue }
            guard let id = ContentID(hex: pointer.sha256), store.has(id) else {
                throw WorkspaceError(.storage, "data \(relative(absolute)): object \(pointer.sha256) is not in this repository's store (.git/ml/objects)",
                                     hint: "it was added elsewhere; copy that store's objects here")
            }
            let mode: ObjectStore.CheckoutMode = link ? .link : .copy
            do {
                if pointer.isFolder {
                    for e in try store.manifest(id).entries {
                        if let sha = e.sha256, !store.has(sha) {
                            throw WorkspaceError(.storage, "data \(relative(absolute)): object \(sha.hex) for \(e.path) is not in the store")
                        }
                    }
                    let parent = String(absolute[..<absolute.lastIndex(of: "/")!])
                    let name = String(absolute[absolute.index(after: absolute.lastIndex(of: "/")!)...])
                    let fresh = parent + "/.\(name).gitml-new-\(getpid())", old = parent + "/.\(name).gitml-old-\(getpid())"
                    try? FileManager.default.removeItem(atPath: fresh)
                    try store.checkoutFolder(manifest: id, to: fresh, mode: mode)
                    let hadOld = rename(absolute, old) == 0
                    guard rename(fresh, absolute) == 0 else {
                        if hadOld { rename(old, absolute) }
                        throw WorkspaceError(.storage, "cannot put \(relative(absolute)) in place: \(String(cString: strerror(errno)))")
                    }
                    if hadOld { try? FileManager.default.removeItem(atPath: old) }
                } else {
                    var st = stat()
                    if lstat(absolute, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { try FileManager.default.removeItem(atPath: absolute) }
                    try store.checkout(id, to: absolute, mode: mode)
                }
            } catch let e as StoreError {
                throw WorkspaceError(.storage, "cannot restore \(relative(absolute)): \(e.message)", hint: Self.damageHint(e))
            }
            written.append(relative(absolute))
        }
        return written
    }

    func readPointer(_ pointerRel: String, revision: String?) throws -> DataPointer {
        if let revision {
            let commit: ObjectID
            do { commit = try repository.resolveCommit(revision) } catch {
                throw WorkspaceError(.invalidArgument, "--rev \(revision): no such commit")
            }
            let tree = try git { try repository.readCommit(commit).tree }
            guard let data = try git({ try repository.readFile(in: tree, path: pointerRel) }) else {
                throw WorkspaceError(.invalidArgument, "\(pointerRel) does not exist at \(revision)")
            }
            return try DataPointer.parse(String(decoding: data, as: UTF8.self), file: "\(revision):\(pointerRel)")
        }
        guard let data = FileManager.default.contents(atPath: workTree + "/" + pointerRel) else {
            throw WorkspaceError(.invalidArgument, "no data pointer \(pointerRel)", hint: "add the data first: git ml data add \(pointerRel.dropLast(DataPointer.suffix.count))")
        }
        return try DataPointer.parse(String(decoding: data, as: UTF8.self), file: pointerRel)
    }

    /// The versions of the data at `given`, from the git history of its pointer, newest first.
    public func dataLog(_ given: String) throws -> [DataVersion] {
        var absolute = try dataPath(given)
        if absolute.hasSuffix(DataPointer.suffix) { absolute.removeLast(DataPointer.suffix.count) }
        let pointerRel = relative(absolute) + DataPointer.suffix
        let head = try requireHead()
        return try git { try repository.history(of: pointerRel, from: head) }.map { v in
            var out = DataVersion(commit: v.commit.id.hex, date: v.commit.time,
                                  subject: String(v.commit.message.split(separator: "\n").first ?? ""), sha256: nil, size: nil, files: nil)
            if let blob = v.blob, let p = try? DataPointer.parse(String(decoding: try git { try repository.readBlob(blob) }, as: UTF8.self), file: pointerRel) {
                out.sha256 = p.sha256; out.size = p.size; out.files = p.files
            }
            return out
        }
    }

    static func nanos(_ t: timespec) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec) }
    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }
}
