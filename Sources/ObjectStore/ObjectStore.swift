import Foundation
import Synchronization

/// The content-addressed store under `.git/ml/objects/`.
///
/// Objects live at `sha256/<first 2 hex>/<other 62 hex>`, are immutable
/// (mode 0444) and are written to `tmp/` in the same file system, fsynced and
/// renamed into place, so a reader never sees a partial object, also when the
/// writer is killed or the disk fills.
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

    public func manifest(_ id: ContentID) throws -> Manifest {
        try Manifest.decode(try get(id), id: id.hex)
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
    /// With `consume: true` the file is instead hashed in place and renamed into
    /// the store, so nothing is copied; use it only for files git-ml owns (a run's
    /// output folder). A file that changes while it is read is refused.
    public func put(fileAt path: String, consume: Bool = false) throws -> (id: ContentID, size: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw StoreError.errno("open", path) }
        defer { close(fd) }
        var before = stat()
        guard fstat(fd, &before) == 0 else { throw StoreError.errno("stat", path) }
        FileHashing.adviseSequential(fd)

        if consume {
            // Flush the file to disk on another thread while it is hashed here.
            let syncDone = DispatchSemaphore(value: 0)
            let syncResult = Mutex<Int32>(0)
            let dupFd = dup(fd)
            DispatchQueue.global().async {
                let rc = fsync(dupFd)
                syncResult.withLock { $0 = rc == 0 ? 0 : errno }
                close(dupFd)
                syncDone.signal()
            }
            let hashed = try FileHashing.sha256(fd: fd, path: path)
            syncDone.wait()
            let syncErr = syncResult.withLock { $0 }
            guard syncErr == 0 else { throw StoreError.errno("fsync", path, syncErr) }
            try ensureUnchanged(fd: fd, before: before, path: path)
            let (id, size) = hashed
            let destination = self.path(of: id)
            if has(id) {
                unlink(path)
            } else {
                try makeParent(of: destination)
                fchmod(fd, 0o444)
                if rename(path, destination) != 0 {
                    if errno == EXDEV { return try put(fileAt: path, consume: false) }
                    throw StoreError.errno("move into the store", path)
                }
                syncDirectory(of: destination)
            }
            return (id, size)
        }

        let temp = try makeTemp()
        do {
            let (id, size) = try FileHashing.sha256(fd: fd, path: path) { chunk in
                try writeAll(temp.fd, chunk, temp.path)
            }
            try ensureUnchanged(fd: fd, before: before, path: path)
            if has(id) {
                close(temp.fd); unlink(temp.path)
            } else {
                try publish(temp: temp, id: id)
            }
            return (id, size)
        } catch {
            close(temp.fd); unlink(temp.path)
            throw error
        }
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

    func makeTemp() throws -> Temp {
        try FileManager.default.createDirectory(atPath: tempRoot, withIntermediateDirectories: true)
        var template = Array((tempRoot + "/obj-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw StoreError.errno("create a temporary file in", tempRoot) }
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
        let parent = String(path[..<path.lastIndex(of: "/")!])
        if access(parent, F_OK) != 0 {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
    }

    func syncDirectory(of path: String) {
        let parent = String(path[..<path.lastIndex(of: "/")!])
        let fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}

func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ path: String) throws {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            throw StoreError.errno("write", path)
        }
        offset += n
    }
}
