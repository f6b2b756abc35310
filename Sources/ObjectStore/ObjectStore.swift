import Foundation
import Synchronization

/// The content-addressed store under `.git/ml/objects/`.
///
/// Objects live at `sha256/<first 2 hex>/<other 62 hex>`, are immutable
/// (mode 0444) and are written to `tmp/` in the same file system (a folder per
/// writing process, ObjectStore+Temp.swift), fsynced and renamed into place, so a
/// reader never sees a partial object, also when the writer is killed or the disk
/// fills. Files a run owns are hard-linked in instead (`consume`).
public struct ObjectStore: Sendable {
    /// The `objects` folder (holding `sha256/` and `tmp/`).
    public let root: String
    var objectsRoot: String { root + "/sha256" }
    var tempRoot: String { root + "/tmp" }

    public init(root: String) {
        self.root = root
    }

    /// The path an object with this id has (whether or not it exists).
    public func path(of id: ContentID) -> String {
        let hex = id.hex
        return objectsRoot + "/" + hex.prefix(2) + "/" + hex.dropFirst(2)
    }

    public func has(_ id: ContentID) -> Bool {
        access(path(of: id), F_OK) == 0
    }

    /// The bytes of an object, read whole (for small objects: manifests, records).
    public func get(_ id: ContentID) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path(of: id)) else {
            throw StoreError(.missingObject, path: id.hex, "object \(id.hex) is not in the store (\(path(of: id)))")
        }
        return data
    }

    /// A folder's manifest, verified against its id before it is trusted.
    public func manifest(_ id: ContentID) throws -> Manifest {
        let data = try get(id)
        let got = FileHashing.sha256(data)
        guard got == id else { throw damaged(id, hash: got, size: Int64(data.count), for: "a folder's list of files") }
        return try Manifest.decode(data, id: id.hex)
    }

    // MARK: writing

    /// Stores bytes and returns their id.
    @discardableResult
    public func put(_ data: Data) throws -> ContentID {
        let id = FileHashing.sha256(data)
        if has(id) { return id }
        let temp = try makeTemp()
        do {
            try data.withUnsafeBytes { try writeAll(temp.fd, $0, temp.path) }
            try publish(temp: temp, id: id)
        } catch {
            close(temp.fd); unlink(temp.path)
            throw error
        }
        return id
    }

    /// Stores a file, copying it while it is hashed (one read of the source).
    ///
    /// With `consume: true` the file is instead hashed in place and hard-linked into
    /// the store (made read-only), so nothing is copied; use it only for files git-ml owns
    /// (a run's output folder). The file stays where it is until its owner removes it:
    /// a run's live folder goes only once a record names what was stored, so a process
    /// killed in between leaves the outputs where recovery finds them (a copy when the
    /// store is on another file system). A file that changes while it is read is refused.
    public func put(fileAt path: String, consume: Bool = false) throws -> (id: ContentID, size: Int64) {
        let staged = try stage(fileAt: path, consume: consume)
        try publish([staged])
        return (staged.id, staged.size)
    }

    /// A file hashed and written to the store's temp folder (or, consumed, left
    /// where it is), not yet durable nor visible under its id.
    struct Staged: Sendable {
        var id: ContentID
        var size: Int64
        /// What to rename into place; nil when the store had the object already.
        var source: String?
    }

    /// First half of a put: hash (and copy) without waiting for the disk, so that
    /// a folder of 10,000 files pays for one flush, not 10,000.
    func stage(fileAt path: String, consume: Bool, tempFolder: String? = nil) throws -> Staged {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw StoreError.errno("open", path) }
        defer { close(fd) }
        var before = stat()
        guard fstat(fd, &before) == 0 else { throw StoreError.errno("stat", path) }
        FileHashing.adviseSequential(fd)
        if consume {
            let (id, size) = try FileHashing.sha256(fd: fd, path: path)
            try ensureUnchanged(fd: fd, before: before, path: path)
            CrashPoint.pass("store:file-hashed")
            if has(id) { return Staged(id: id, size: size, source: nil) }
            return Staged(id: id, size: size, source: path)
        }
        let temp = try makeTemp(in: tempFolder)
        do {
            // The copy bypasses the page cache (DirectCopy.swift); a large file is
            // written by a second thread while this one hashes.
            let (id, size): (ContentID, Int64)
            if Int64(before.st_size) >= DirectIO.pipelineThreshold {
                (id, size) = try FileHashing.sha256Copying(fd: fd, path: path, to: temp.fd, outputPath: temp.path)
            } else {
                var writer = StoreWriter(fd: temp.fd, path: temp.path)
                (id, size) = try FileHashing.sha256(fd: fd, path: path) { chunk in try writer.write(chunk) }
            }
            try ensureUnchanged(fd: fd, before: before, path: path)
            CrashPoint.pass("store:file-copied")
            fchmod(temp.fd, 0o444)
            close(temp.fd)
            if has(id) { unlink(temp.path); return Staged(id: id, size: size, source: nil) }
            return Staged(id: id, size: size, source: temp.path)
        } catch {
            close(temp.fd); unlink(temp.path)
            throw error
        }
    }

    /// Second half: makes the staged bytes durable (one fsync for a single file,
    /// one syncfs for many), then renames each into place and syncs the folders,
    /// so an object never appears under its id before its bytes are on disk.
    func publish(_ staged: [Staged]) throws {
        let pending = staged.filter { $0.source != nil }
        guard !pending.isEmpty else { return }
        if pending.count == 1 {
            let fd = open(pending[0].source!, O_RDONLY | O_CLOEXEC)
            guard fd >= 0, fsync(fd) == 0 else {
                let e = errno
                if fd >= 0 { close(fd) }
                throw StoreError.errno("fsync", pending[0].source!, e)
            }
            close(fd)
        } else {
            try FileManager.default.createDirectory(atPath: tempRoot, withIntermediateDirectories: true)
            let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0, flushFileSystem(fd) == 0 else {
                let e = errno
                if fd >= 0 { close(fd) }
                throw StoreError.errno("sync the file system of", root, e)
            }
            close(fd)
        }
        // Many objects (a folder's) are renamed into place by one thread a core, each
        // taking whole temp folders, so that they do not queue on one folder's lock.
        let groups = Array(Dictionary(grouping: pending) { parent(of: $0.source!) }.values)
        let folders = Mutex<Set<String>>([])
        let failure = Mutex<StoreError?>(nil)
        let next = Atomic<Int>(0)
        let store = self
        onThreads(pending.count >= 1024 ? min(groups.count, ProcessInfo.processInfo.activeProcessorCount) : 1) {
            var made = Set<String>()
            while failure.withLock({ $0 == nil }) {
                let g = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if g >= groups.count { break }
                do {
                    for s in groups[g] {
                        let destination = store.path(of: s.id)
                        let folder = store.parent(of: destination)
                        if made.insert(folder).inserted { try store.makeParent(of: destination) }
                        defer { CrashPoint.pass("store:object-published") }
                        if s.source!.hasPrefix(store.tempRoot + "/") {
                            // A copy, made read-only before it was closed.
                            if rename(s.source!, destination) != 0 { throw StoreError.errno("move into the store", s.source!) }
                        } else {
                            // A consumed file: linked, and left in place for its owner to remove.
                            chmod(s.source!, 0o444)
                            if link(s.source!, destination) != 0 && errno != EEXIST {
                                guard errno == EXDEV || errno == EPERM || errno == EMLINK else { throw StoreError.errno("link into the store", s.source!) }
                                // Another file system (or no hard links there): copy it in instead.
                                let copied = try store.stage(fileAt: s.source!, consume: false)
                                try store.publish([copied])
                            }
                        }
                    }
                } catch {
                    failure.withLock { $0 = $0 ?? (error as? StoreError ?? StoreError(.io, path: store.root, "\(error)")) }
                }
            }
            folders.withLock { $0.formUnion(made) }
        }
        if let e = failure.withLock({ $0 }) { throw e }
        for folder in folders.withLock({ $0 }) {
            let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 { fsync(fd); close(fd) }
        }
    }

    func parent(of path: String) -> String {
        String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
    }

    func ensureUnchanged(fd: Int32, before: stat, path: String) throws {
        var after = stat()
        guard fstat(fd, &after) == 0 else { throw StoreError.errno("stat", path) }
        if after.st_size != before.st_size || after.st_mtim.tv_sec != before.st_mtim.tv_sec
            || after.st_mtim.tv_nsec != before.st_mtim.tv_nsec || after.st_ino != before.st_ino {
            throw StoreError(.changedWhileHashing, path: path,
                             "\(path) changed while it was being stored; nothing was recorded for it (store it again once it is written)")
        }
    }

    struct Temp { let fd: Int32; let path: String }

    func makeTemp(in folder: String? = nil) throws -> Temp {
        let folder = try folder ?? sessionTemp()
        var template = Array((folder + "/obj-XXXXXX").utf8CString)
        var fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd < 0 && errno == ENOENT {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            template = Array((folder + "/obj-XXXXXX").utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        }
        guard fd >= 0 else { throw StoreError.errno("create a temporary file in", folder) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let path = String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Temp(fd: fd, path: path)
    }

    /// fsync, close and rename a finished temp file into its object path.
    func publish(temp: Temp, id: ContentID) throws {
        guard fsync(temp.fd) == 0 else { throw StoreError.errno("fsync", temp.path) }
        fchmod(temp.fd, 0o444)
        close(temp.fd)
        let destination = path(of: id)
        try makeParent(of: destination)
        guard rename(temp.path, destination) == 0 else { throw StoreError.errno("rename into", destination) }
        syncDirectory(of: destination)
    }

    func makeParent(of path: String) throws {
        let folder = parent(of: path)
        if access(folder, F_OK) != 0 {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
    }

    func syncDirectory(of path: String) {
        let fd = open(parent(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}

func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ path: String) throws {
    let (_, error) = writeFully(fd, bytes)
    if error != 0 { throw StoreError.errno("write", path, error) }
}

/// Writes all of `bytes` (retrying short writes and EINTR); returns how many were
/// written and the errno that stopped it, 0 when none did.
func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> (written: Int, error: Int32) {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            return (offset, errno)
        }
        offset += n
    }
    return (offset, 0)
}

/// `syncfs(2)`: flushes the one file system `fd` lies on. Glibc declares it only
/// under _GNU_SOURCE, which Swift's Glibc module does not see, so it is looked up
/// once at run time; where it is missing, `sync(2)` flushes every file system.
func flushFileSystem(_ fd: Int32) -> Int32 {
    if let syncfs = syncfsFunction { return syncfs(fd) }
    sync()
    return 0
}

private let syncfsFunction: (@convention(c) (Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
}()
