import Foundation
import Synchronization

/// What storing a folder gave: its manifest's id and totals.
public struct StoredFolder: Sendable, Equatable {
    public var manifest: ContentID
    public var fileCount: Int
    public var size: Int64
}

/// Progress of a long store or check: files and bytes done so far.
public struct StoreProgress: Sendable {
    public var filesDone: Int
    public var filesTotal: Int
    public var bytesDone: Int64
    public var bytesTotal: Int64
}

extension ObjectStore {
    /// One file or link found under a folder, with the stat data a cache keys on.
    public struct FoundEntry: Sendable {
        public var relative: String
        public var absolute: String
        public var isLink: Bool
        public var isExecutable: Bool
        public var size: Int64
        public var mtime: Int64   // nanoseconds since 1970
        public var inode: UInt64
        /// The inode's change time (any write or rename), nanoseconds since 1970.
        public var ctime: Int64 = 0
    }

    /// Lists regular files and symbolic links under `root` (links are not followed):
    /// folders are read on this thread (readdir gives the types), and the files'
    /// stat data is read on every core, as a folder of many files is mostly lstat calls.
    public static func walk(_ root: String) throws -> [FoundEntry] {
        var names: [(relative: String, absolute: String, name: String)] = []
        var folderOf: [Int] = []          // for each name, its folder in `folders`
        var folders: [String] = []
        func visit(_ dir: String, _ prefix: String) throws {
            guard let d = opendir(dir) else { throw StoreError.errno("read folder", dir) }
            defer { closedir(d) }
            var subdirs: [(String, String)] = []
            let folder = folders.count
            folders.append(dir)
            while let e = readdir(d) {
                let name = withUnsafePointer(to: e.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
                if name == "." || name == ".." { continue }
                let abs = dir + "/" + name
                let rel = prefix.isEmpty ? name : prefix + "/" + name
                var type = Int32(e.pointee.d_type)
                if type == Int32(DT_UNKNOWN) {
                    var st = stat()
                    guard lstat(abs, &st) == 0 else { throw StoreError.errno("stat", abs) }
                    type = st.st_mode & S_IFMT == S_IFDIR ? Int32(DT_DIR) : Int32(DT_REG)
                }
                if type == Int32(DT_DIR) { subdirs.append((abs, rel)) } else { names.append((rel, abs, name)); folderOf.append(folder) }
            }
            for (abs, rel) in subdirs { try visit(abs, rel) }
        }
        try visit(root, "")
        let slots = ResultSlots<FoundEntry>(count: names.count)
        let next = Atomic<Int>(0)
        let chunk = 256
        let chunks = (names.count + chunk - 1) / chunk
        let list = names, owners = folderOf, dirs = folders
        DispatchQueue.concurrentPerform(iterations: max(1, min(ProcessInfo.processInfo.activeProcessorCount, chunks))) { _ in
            // Files of one folder are listed together: stat them through the folder's
            // descriptor, so the kernel resolves one name instead of the whole path.
            var dirFD: Int32 = -1, openFolder = -1
            defer { if dirFD >= 0 { close(dirFD) } }
            while true {
                let c = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if c >= chunks { break }
                for i in (c * chunk)..<min(list.count, (c + 1) * chunk) {
                    let (rel, abs, name) = list[i]
                    if owners[i] != openFolder {
                        if dirFD >= 0 { close(dirFD) }
                        dirFD = open(dirs[owners[i]], O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                        openFolder = owners[i]
                    }
                    var st = stat()
                    guard dirFD >= 0, fstatat(dirFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                        slots.set(i, .failure(StoreError.errno("stat", abs))); continue
                    }
                    let kind = st.st_mode & S_IFMT
                    guard kind == S_IFREG || kind == S_IFLNK else {
                        slots.set(i, .failure(StoreError(.unsupportedFile, path: abs, "\(abs) is not a file, folder or link; remove it or move it out of the folder")))
                        continue
                    }
                    slots.set(i, .success(FoundEntry(relative: rel, absolute: abs, isLink: kind == S_IFLNK,
                                                     isExecutable: kind == S_IFREG && st.st_mode & 0o100 != 0, size: Int64(st.st_size),
                                                     mtime: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                                                     inode: UInt64(st.st_ino),
                                                     ctime: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))))
                }
            }
        }
        var out: [FoundEntry] = []
        out.reserveCapacity(list.count)
        for i in 0..<list.count {
            switch slots.get(i) {
            case .success(let e): out.append(e)
            case .failure(let e): throw e
            }
        }
        return out
    }

    /// Stores every file under `folder` (hashed in parallel on `parallelism`
    /// threads) and then its manifest. Symbolic links are recorded as links and
    /// never followed, wherever they point.
    ///
    /// `known` may name the id of a file whose stat data proves it unchanged since
    /// it was hashed (a stat cache); when the store has that object, the file is
    /// neither read nor copied again.
    public func putFolder(at folder: String, consume: Bool = false, parallelism: Int = ProcessInfo.processInfo.activeProcessorCount,
                          known: (@Sendable (FoundEntry) -> ContentID?)? = nil,
                          progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> StoredFolder {
        let found = try Self.walk(folder)
        let totalBytes = found.reduce(Int64(0)) { $0 + $1.size }
        let results = Mutex<[Int: Result<(Manifest.Entry, Staged?), StoreError>]>([:])
        let next = Atomic<Int>(0)
        let doneBytes = Atomic<Int64>(0)
        let doneFiles = Atomic<Int>(0)
        let store = self
        // Four threads a core: copies are written around the page cache
        // (DirectCopy.swift), so each thread spends much of its time waiting for the disk.
        let workers = max(1, min(consume ? parallelism : 4 * parallelism, found.count))
        let slots = Atomic<Int>(0)
        let session = try sessionTemp()
        onThreads(workers) {
            // Each thread writes its copies to a temp folder of its own (their renames
            // into place then run in parallel, see publish).
            let tempFolder = session + "/w\(slots.wrappingAdd(1, ordering: .relaxed).oldValue)"
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= found.count { return }
                let f = found[i]
                let result: Result<(Manifest.Entry, Staged?), StoreError>
                do {
                    if f.isLink {
                        let target = try readLink(f.absolute)
                        result = .success((.init(path: f.relative, mode: "120000", size: Int64(target.utf8.count), sha256: nil, target: target), nil))
                    } else if let id = known?(f), store.has(id) {
                        result = .success((.init(path: f.relative, mode: f.isExecutable ? "100755" : "100644", size: f.size,
                                                 sha256: id, target: nil), nil))
                    } else {
                        let staged = try store.stage(fileAt: f.absolute, consume: consume, tempFolder: tempFolder)
                        result = .success((.init(path: f.relative, mode: f.isExecutable ? "100755" : "100644", size: staged.size,
                                                 sha256: staged.id, target: nil), staged))
                    }
                } catch let e as StoreError {
                    result = .failure(e)
                } catch {
                    result = .failure(StoreError(.io, path: f.absolute, "\(f.absolute): \(error)"))
                }
                results.withLock { $0[i] = result }
                let bytes = doneBytes.wrappingAdd(f.size, ordering: .relaxed).newValue
                let files = doneFiles.wrappingAdd(1, ordering: .relaxed).newValue
                progress?(StoreProgress(filesDone: files, filesTotal: found.count, bytesDone: bytes, bytesTotal: totalBytes))
            }
        }
        var entries: [Manifest.Entry] = []
        var staged: [Staged] = []
        entries.reserveCapacity(found.count)
        let collected = results.withLock { $0 }
        var failure: StoreError?
        for i in 0..<found.count {
            switch collected[i]! {
            case .success(let (e, s)): entries.append(e); if let s { staged.append(s) }
            case .failure(let e): failure = failure ?? e
            }
        }
        if let failure {
            for s in staged where s.source != nil && !consume { unlink(s.source!) }
            throw failure
        }
        // Several files staged to the same id (duplicates in the folder): publish one.
        var seen = Set<ContentID>()
        var unique: [Staged] = [], duplicates: [Staged] = []
        for s in staged {
            if seen.insert(s.id).inserted { unique.append(s) } else { duplicates.append(s) }
        }
        try publish(unique)
        for s in duplicates where s.source?.hasPrefix(tempRoot + "/") == true { unlink(s.source!) }
        for w in 0..<workers { rmdir(session + "/w\(w)") }
        let manifest = Manifest(entries: entries)
        let id = try put(try manifest.encoded())
        return StoredFolder(manifest: id, fileCount: manifest.fileCount, size: manifest.totalSize)
    }
}

/// The target of a symbolic link, as written.
public func readLink(_ path: String) throws -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink(path, &buffer, buffer.count - 1)
    guard n >= 0 else { throw StoreError.errno("read link", path) }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// One result slot per item, each written by exactly one worker thread and read
/// after all have finished (`concurrentPerform` returns only then), so no lock is
/// needed: the reason this is `@unchecked Sendable`.
final class ResultSlots<T>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Result<T, StoreError>?>
    private let count: Int
    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: max(1, count))
        slots.initialize(repeating: nil, count: max(1, count))
    }
    deinit { slots.deinitialize(count: max(1, count)); slots.deallocate() }
    func set(_ i: Int, _ value: Result<T, StoreError>) { slots[i] = value }
    func get(_ i: Int) -> Result<T, StoreError> { slots[i]! }
}

/// Runs `body` on `count` threads of its own and returns when all have finished.
/// For work that waits on the disk: Dispatch's concurrentPerform runs no more
/// threads than cores, so a thread waiting for a write would leave a core idle.
func onThreads(_ count: Int, _ body: @escaping @Sendable () -> Void) {
    if count == 1 { return body() }
    let finished = DispatchSemaphore(value: 0)
    for _ in 0..<count {
        let thread = Thread { body(); finished.signal() }
        thread.stackSize = 1 << 20
        thread.start()
    }
    for _ in 0..<count { finished.wait() }
}
