import Foundation
import Synchronization

extension ObjectStore {
    /// Every object id in the store (files whose names are not ids are skipped).
    public func allObjects() throws -> [ContentID] {
        var ids: [ContentID] = []
        let fm = FileManager.default
        guard let prefixes = try? fm.contentsOfDirectory(atPath: objectsRoot) else { return [] }
        for prefix in prefixes where prefix.utf8.count == 2 {
            for rest in (try? fm.contentsOfDirectory(atPath: objectsRoot + "/" + prefix)) ?? [] {
                if let id = ContentID(hex: prefix + rest) { ids.append(id) }
            }
        }
        return ids.sorted()
    }

    /// Re-hashes every object (in parallel) and returns those whose bytes no
    /// longer match their id, or that cannot be read.
    public func verifyAll(parallelism: Int = ProcessInfo.processInfo.activeProcessorCount,
                          progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> [ContentID] {
        let ids = try allObjects()
        let bad = Mutex<[ContentID]>([])
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let store = self
        DispatchQueue.concurrentPerform(iterations: max(1, min(parallelism, ids.count))) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= ids.count { return }
                let ok = (try? FileHashing.sha256(fileAt: store.path(of: ids[i])).id) == ids[i]
                if !ok { bad.withLock { $0.append(ids[i]) } }
                let n = done.wrappingAdd(1, ordering: .relaxed).newValue
                progress?(StoreProgress(filesDone: n, filesTotal: ids.count, bytesDone: 0, bytesTotal: 0))
            }
        }
        return bad.withLock { $0 }.sorted()
    }

    /// Re-hashes the given objects on `parallelism` threads (each object on one thread, so
    /// several objects keep every core busy); returns the failures (missing, damaged,
    /// unreadable) by object.
    public func verify(_ ids: [ContentID], parallelism: Int = ProcessInfo.processInfo.activeProcessorCount,
                       progress: (@Sendable (StoreProgress) -> Void)? = nil) -> [ContentID: StoreError] {
        let unique = Array(Set(ids))
        let sizes = unique.map { id -> Int64 in
            var st = stat()
            return stat(path(of: id), &st) == 0 ? Int64(st.st_size) : 0
        }
        // Largest first, so one big object does not start last and leave a core idle.
        let order = unique.indices.sorted { sizes[$0] > sizes[$1] }
        let total = sizes.reduce(0, +)
        let failures = Mutex<[ContentID: StoreError]>([:])
        let next = Atomic<Int>(0)
        let filesDone = Atomic<Int>(0)
        let bytesDone = Atomic<Int64>(0)
        let store = self
        DispatchQueue.concurrentPerform(iterations: max(1, min(parallelism, unique.count))) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= order.count { return }
                let id = unique[order[i]]
                do { try store.verify(id) } catch let e as StoreError {
                    failures.withLock { $0[id] = e }
                } catch {
                    failures.withLock { $0[id] = StoreError(.io, path: id.hex, "object \(id.hex) cannot be read: \(error)") }
                }
                let files = filesDone.wrappingAdd(1, ordering: .relaxed).newValue
                let bytes = bytesDone.wrappingAdd(sizes[order[i]], ordering: .relaxed).newValue
                progress?(StoreProgress(filesDone: files, filesTotal: unique.count, bytesDone: bytes, bytesTotal: total))
            }
        }
        return failures.withLock { $0 }
    }
}
