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
}
