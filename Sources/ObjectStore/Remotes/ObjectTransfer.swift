import Foundation
import Synchronization

/// What a transfer did.
public struct TransferSummary: Sendable, Codable, Equatable {
    /// Objects sent or fetched.
    public var transferred = 0
    public var bytes: Int64 = 0
    /// Objects that needed nothing: the other side had them already.
    public var alreadyThere = 0
    public init() {}
    enum CodingKeys: String, CodingKey { case transferred, bytes, alreadyThere = "already_there" }
}

/// Moves objects between the local store and an `ObjectRemote`: only what the other side
/// lacks, in batches the remote takes, on `remote.parallelism` threads, each failed
/// transfer tried again when the failure may pass. Every downloaded object is hashed
/// before it is stored: bytes that do not match their id are thrown away (and fetched
/// again), never stored. A download cut short keeps its bytes in `partial/` and the next
/// attempt, in this process or a later one, goes on from there.
public struct ObjectTransfer: Sendable {
    public let store: ObjectStore
    public let remote: any ObjectRemote
    /// How many times one object is tried before the transfer gives up on it.
    public var attempts = 3

    public init(store: ObjectStore, remote: any ObjectRemote) {
        self.store = store
        self.remote = remote
    }

    /// Sends every object the remote lacks. Objects missing here are refused before anything is sent.
    public func push(_ objects: [RemoteObject], progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> TransferSummary {
        let unique = Self.unique(objects)
        let absent = unique.filter { !store.has($0.id) }
        if !absent.isEmpty {
            let names = absent.prefix(5).map(\.id.hex).joined(separator: ", ")
            throw RemoteError("\(absent.count) object(s) to send are not in this store (\(names)\(absent.count > 5 ? ", ..." : "")); nothing was sent")
        }
        return try run(.upload, unique, progress: progress)
    }

    /// Fetches every object this store lacks, verified before it is stored.
    public func pull(_ objects: [RemoteObject], progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> TransferSummary {
        let unique = Self.unique(objects)
        let wanted = unique.filter { !store.has($0.id) }
        var summary = try run(.download, wanted, progress: progress)
        summary.alreadyThere += unique.count - wanted.count
        return summary
    }

    static func unique(_ objects: [RemoteObject]) -> [RemoteObject] {
        var seen = Set<ContentID>()
        return objects.filter { seen.insert($0.id).inserted }
    }

    private func run(_ direction: TransferDirection, _ objects: [RemoteObject],
                     progress: (@Sendable (StoreProgress) -> Void)?) throws -> TransferSummary {
        var summary = TransferSummary()
        guard !objects.isEmpty else { return summary }
        // Ask the remote in batches, then transfer everything it asked for on the threads.
        var planned: [(RemoteObject, TransferAction)] = []
        var refused: [String] = []
        for start in stride(from: 0, to: objects.count, by: remote.batchLimit) {
            let batch = Array(objects[start..<min(objects.count, start + remote.batchLimit)])
            let answers = try withRetries("ask \(remote.location) about \(batch.count) object(s)") { try remote.batch(direction, batch) }
            for object in batch {
                switch answers[object.id] {
                case .transfer(let action): planned.append((object, action))
                case .present: summary.alreadyThere += 1
                case .failed(let why): refused.append("\(object.id.hex): \(why)")
                case nil: refused.append("\(object.id.hex): \(remote.location) did not answer for it")
                }
            }
        }
        let tasks = planned
        let total = tasks.reduce(Int64(0)) { $0 + $1.0.size }
        let done = Atomic<Int>(0), bytes = Atomic<Int64>(0), next = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        let engine = self
        // Uploads go in small groups (a folder remote flushes once a group); downloads one by one.
        let threads = max(1, min(remote.parallelism, tasks.count))
        let group = direction == .upload ? max(1, min(256, tasks.count / (threads * 4))) : 1
        let groups = stride(from: 0, to: tasks.count, by: group).map { $0..<min(tasks.count, $0 + group) }
        progress?(StoreProgress(filesDone: 0, filesTotal: tasks.count, bytesDone: 0, bytesTotal: total))
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, groups.count))) { _ in
            while true {
                let g = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if g >= groups.count { return }
                let items = groups[g].map { tasks[$0] }
                do {
                    try engine.withRetries("\(direction == .upload ? "send" : "fetch") \(items.count == 1 ? "object \(items[0].0.id.hex)" : "\(items.count) objects")") {
                        if direction == .upload {
                            try engine.remote.upload(items.map { ($0.0, engine.store.path(of: $0.0.id), $0.1) })
                        } else {
                            for (object, action) in items { try engine.receive(object, action: action) }
                        }
                    }
                    let b = bytes.wrappingAdd(items.reduce(0) { $0 + $1.0.size }, ordering: .relaxed).newValue
                    let n = done.wrappingAdd(items.count, ordering: .relaxed).newValue
                    progress?(StoreProgress(filesDone: n, filesTotal: tasks.count, bytesDone: b, bytesTotal: total))
                } catch {
                    failures.withLock { $0.append("\(items.count == 1 ? items[0].0.id.hex + ": " : "")\(error)") }
                }
            }
        }
        summary.transferred = done.load(ordering: .relaxed)
        summary.bytes = bytes.load(ordering: .relaxed)
        let failed = refused + failures.withLock { $0 }
        if !failed.isEmpty {
            let verb = direction == .upload ? "sent to" : "fetched from"
            throw RemoteError("\(failed.count) of \(objects.count) object(s) could not be \(verb) \(remote.location) "
                + "(\(summary.transferred) were, \(summary.alreadyThere) were there already); first: \(failed.sorted()[0])")
        }
        return summary
    }

    /// Tries `body` up to `attempts` times while its failure is transient, waiting a little longer each time.
    func withRetries<T>(_ what: String, _ body: () throws -> T) throws -> T {
        var attempt = 1
        while true {
            do { return try body() } catch let e as RemoteError where e.transient && attempt < attempts {
                usleep(UInt32(100_000 * attempt * attempt))
                attempt += 1
            }
        }
    }

    /// Where a download in progress keeps its bytes, so that it can go on after an interruption.
    func partialPath(_ id: ContentID) -> String { store.root + "/partial/" + id.hex }

    /// Downloads one object into `partial/`, going on from what an earlier attempt left
    /// there; hashes it and stores it only when it matches its id and size.
    func receive(_ object: RemoteObject, action: TransferAction) throws {
        let path = partialPath(object.id)
        try FileManager.default.createDirectory(atPath: store.root + "/partial", withIntermediateDirectories: true)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RemoteError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // One process at a time works on an object's partial file.
        guard flock(fd, LOCK_EX) == 0 else { throw RemoteError("lock \(path): \(String(cString: strerror(errno)))") }
        if store.has(object.id) { unlink(path); return }
        var st = stat()
        fstat(fd, &st)
        var offset = Int64(st.st_size)
        if offset > object.size && object.size > 0 { ftruncate(fd, 0); offset = 0 }
        lseek(fd, off_t(offset), SEEK_SET)
        _ = try remote.download(object, to: fd, path: path, from: offset, action: action)
        lseek(fd, 0, SEEK_SET)
        let (id, size) = try FileHashing.sha256(fd: fd, path: path)
        guard id == object.id, object.size <= 0 || size == object.size else {
            ftruncate(fd, 0)
            throw RemoteError("object \(object.id.hex) arrived corrupted from \(remote.location) (\(size) bytes hashing to \(id.short)); it was not stored",
                              transient: true)
        }
        guard fsync(fd) == 0 else { throw RemoteError("fsync \(path): \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o444)
        let destination = store.path(of: object.id)
        try store.makeParent(of: destination)
        guard rename(path, destination) == 0 else { throw RemoteError("store \(object.id.hex): \(String(cString: strerror(errno)))") }
        store.syncDirectory(of: destination)
    }
}
