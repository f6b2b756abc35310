import Foundation

/// An object remote that is a folder (a shared drive, an NFS mount, or the `ml/objects`
/// folder of a bare repository on the same machine), laid out as a local store is
/// (`sha256/<2 hex>/<62 hex>`), so writes into it are atomic the same way: to a temp file
/// in the folder, flushed and renamed.
public struct DirRemote: ObjectRemote {
    public let store: ObjectStore
    public init(path: String) { store = ObjectStore(root: path) }

    public var location: String { "dir \(store.root)" }
    public var batchLimit: Int { 1000 }
    public var parallelism: Int { max(2, ProcessInfo.processInfo.activeProcessorCount) }

    public func batch(_ direction: TransferDirection, _ objects: [RemoteObject]) throws -> [ContentID: BatchAnswer] {
        var out: [ContentID: BatchAnswer] = [:]
        if direction == .upload {
            // A bare repository's ml/objects is made on the first push.
            do { try FileManager.default.createDirectory(atPath: store.root, withIntermediateDirectories: true) } catch {
                throw RemoteError("\(location) cannot be reached: \(error.localizedDescription)")
            }
        } else if access(store.root, F_OK) != 0 {
            throw RemoteError("\(location) cannot be reached: \(String(cString: strerror(errno)))")
        }
        for object in objects {
            let path = store.path(of: object.id)
            switch direction {
            case .upload: out[object.id] = store.has(object.id) ? .present : .transfer(TransferAction(href: path))
            case .download:
                out[object.id] = store.has(object.id) ? .transfer(TransferAction(href: path)) : .failed("\(location) has no object \(object.id.hex)")
            }
        }
        return out
    }

    /// Links each object into the folder when it is on the same file system (objects never
    /// change, so the two stores can share them, as `git clone --local` shares git's objects);
    /// otherwise copies it into the folder's temp area while hashing it. Then makes them all
    /// durable with one flush of the file system, and renames the copies into place.
    public func upload(_ items: [(object: RemoteObject, path: String, action: TransferAction)]) throws {
        do {
            var staged: [ObjectStore.Staged] = []
            var linked = false
            for item in items {
                let destination = store.path(of: item.object.id)
                try store.makeParent(of: destination)
                if Glibc.link(item.path, destination) == 0 || errno == EEXIST {
                    linked = true
                    continue
                }
                guard [EXDEV, EPERM, EMLINK, ENOTSUP, EOPNOTSUPP].contains(errno) else {
                    throw RemoteError("\(location): link \(destination): \(String(cString: strerror(errno)))", transient: true)
                }
                let s = try store.stage(fileAt: item.path, consume: false)
                guard s.id == item.object.id else {
                    if let source = s.source { unlink(source) }
                    throw RemoteError("\(item.path) no longer holds object \(item.object.id.hex) (it hashes to \(s.id.hex))")
                }
                staged.append(s)
            }
            try store.publish(staged)
            if linked {
                let fd = open(store.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard fd >= 0, flushFileSystem(fd) == 0 else {
                    if fd >= 0 { close(fd) }
                    throw RemoteError("\(location): cannot flush the file system: \(String(cString: strerror(errno)))", transient: true)
                }
                close(fd)
            }
        } catch let e as StoreError {
            throw RemoteError("\(location): \(e.message)", transient: e.code == .io)
        }
    }

    public func upload(_ object: RemoteObject, from path: String, action: TransferAction) throws {
        try upload([(object, path, action)])
    }

    public func download(_ object: RemoteObject, to fd: Int32, path: String, from offset: Int64, action: TransferAction) throws -> Int64 {
        let source = open(action.href, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw RemoteError("\(location): open \(action.href): \(String(cString: strerror(errno)))", transient: errno != ENOENT) }
        defer { close(source) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var position = offset
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress!, $0.count, off_t(position)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw RemoteError("\(location): read \(action.href): \(String(cString: strerror(errno)))", transient: true)
            }
            if n == 0 { break }
            let (written, error) = buffer.withUnsafeBytes { writeFully(fd, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            if error != 0 || written != n { throw RemoteError("write \(path): \(String(cString: strerror(error)))") }
            position += Int64(n)
        }
        return offset
    }
}
