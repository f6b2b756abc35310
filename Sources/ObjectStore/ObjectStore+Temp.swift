import Foundation
import Synchronization

/// Temporary files are written in a folder of the writing process's own under `tmp/`
/// (`p<pid>@<host>-<random>/`), beside a lock file (`p<pid>@<host>-<random>.lock`) that the process holds
/// with flock for as long as it lives. A folder whose lock can be taken belongs to a writer
/// that was killed: the next writer of the store removes it, and `staleTemps` names it (fsck).
extension ObjectStore {
    /// This process's temp folder in this store, made (and the store's leftovers reclaimed)
    /// on first use.
    func sessionTemp() throws -> String {
        try TempSessions.folder(for: tempRoot) { try reclaimStaleTemps() }
    }

    /// Leftovers of killed writers: session folders whose owner is gone, and files of an
    /// older layout (loose temp files, `w<n>` folders) untouched for an hour.
    public func staleTemps() -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: tempRoot) else { return [] }
        let mine = TempSessions.owned()
        for name in names.sorted() {
            let path = tempRoot + "/" + name
            if name.hasSuffix(".lock") {
                let folder = String(path.dropLast(5))
                if mine.contains(folder) { continue }
                // Another machine's session (a store on a shared file system): its lock says
                // nothing reliable here, so it is left to that machine.
                if let host = TempSessions.host(ofSession: String(name.dropLast(5))), host != TempSessions.hostName { continue }
                let fd = open(path, O_RDWR | O_CLOEXEC)
                guard fd >= 0 else { continue }
                defer { close(fd) }
                if flock(fd, LOCK_EX | LOCK_NB) == 0 { flock(fd, LOCK_UN); out.append(path) }
            } else if name.hasPrefix("p"), names.contains(name + ".lock") {
                continue   // judged by its lock file
            } else {
                var st = stat()
                if lstat(path, &st) == 0, Date().timeIntervalSince1970 - Double(st.st_mtim.tv_sec) > 3600 { out.append(path) }
            }
        }
        return out
    }

    /// Removes what `staleTemps` names (a session folder with its lock file, the lock last,
    /// so a folder is never left without the lock that says whose it is). Returns the bytes freed.
    @discardableResult
    public func reclaimStaleTemps() throws -> Int64 {
        var freed: Int64 = 0
        for path in staleTemps() {
            let target = path.hasSuffix(".lock") ? String(path.dropLast(5)) : path
            freed += (try? Self.walk(target).reduce(Int64(0)) { $0 + $1.size }) ?? 0
            try? FileManager.default.removeItem(atPath: target)
            if path.hasSuffix(".lock") { unlink(path) }
        }
        return freed
    }
}

/// The temp folder each store root has in this process, and the locks that say so.
enum TempSessions {
    private static let folders = Mutex<[String: String]>([:])

    static func owned() -> Set<String> { Set(folders.withLock { $0.values }) }

    /// This machine's name as session names carry it (`p<pid>@<host>-<random>`): letters,
    /// digits, dots and dashes only.
    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        let raw = gethostname(&buffer, buffer.count) == 0 ? String(cString: buffer) : "unknown"
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
        let safe = String(raw.map { allowed.contains($0) ? $0 : "_" })
        return safe.isEmpty ? "unknown" : safe
    }()

    /// The host a session name carries, nil for names of older git-ml versions (`p<pid>-<random>`).
    static func host(ofSession name: String) -> String? {
        guard name.hasPrefix("p"), let at = name.firstIndex(of: "@"), let dash = name.lastIndex(of: "-"), at < dash else { return nil }
        return String(name[name.index(after: at)..<dash])
    }

    static func folder(for tempRoot: String, reclaim: () throws -> Void) throws -> String {
        if let folder = folders.withLock({ $0[tempRoot] }) { return folder }
        try FileManager.default.createDirectory(atPath: tempRoot, withIntermediateDirectories: true)
        try? reclaim()
        return try folders.withLock { map in
            if let folder = map[tempRoot] { return folder }
            let name = "p\(getpid())@\(hostName)-\(UInt32.random(in: 0...UInt32.max))"
            // The lock is taken under a name no reclaimer looks at, then renamed into view.
            let locking = tempRoot + "/." + name + ".locking"
            let fd = open(locking, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw StoreError.errno("create", locking) }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0, rename(locking, tempRoot + "/" + name + ".lock") == 0 else {
                let e = errno
                close(fd); unlink(locking)
                throw StoreError.errno("lock", locking, e)
            }
            // Held until the process ends: the descriptor is never closed.
            let folder = tempRoot + "/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            map[tempRoot] = folder
            return folder
        }
    }
}
