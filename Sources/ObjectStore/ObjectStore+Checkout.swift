import Foundation
import Synchronization

extension ObjectStore {
    /// How a stored file is put back in a folder.
    public enum CheckoutMode: Sendable {
        /// An independent copy the user may edit (reflink when the file system can).
        case copy
        /// A hard link to the read-only object when on the same file system (else
        /// a copy): for files handed out read-only, never for files a user edits.
        case link
    }

    /// Writes object `id` at `destination`, atomically: the file appears whole or not at all.
    ///
    /// Every byte is verified on the way: a copy is hashed as it is written and a link's
    /// object is hashed before it is linked, so an object damaged in the store fails here
    /// (`corruptObject`, naming it) and leaves nothing at `destination`.
    public func checkout(_ id: ContentID, to destination: String, executable: Bool = false, mode: CheckoutMode = .copy) throws {
        let folder = parent(of: destination)
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        try checkoutInto(existingFolder: id, to: destination, executable: executable, mode: mode)
    }

    /// `checkout` into a folder that exists already (a folder checkout makes them all first).
    func checkoutInto(existingFolder id: ContentID, to destination: String, executable: Bool, mode: CheckoutMode) throws {
        let source = path(of: id)
        guard has(id) else { throw StoreError(.missingObject, path: id.hex, "object \(id.hex) for \(destination) is not in the store") }
        if mode == .link && !executable {
            try verify(id, for: destination)
            unlink(destination)
            if link(source, destination) == 0 { return }
        }
        let temp = destination + ".gitml-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw StoreError.errno("open", source) }
        defer { close(input) }
        let output = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, executable ? 0o755 : 0o644)
        guard output >= 0 else { throw StoreError.errno("create", temp) }
        // Closed exactly once: with parallel checkouts, a second close could shut another thread's file.
        var outputOpen = true
        do {
            let (got, size) = try copyVerifying(from: input, to: output, source: source, destination: temp)
            guard got == id else { throw damaged(id, hash: got, size: size, for: destination) }
            fchmod(output, executable ? 0o755 : 0o644)
            close(output)
            outputOpen = false
            guard rename(temp, destination) == 0 else { throw StoreError.errno("rename", destination) }
        } catch {
            if outputOpen { close(output) }
            unlink(temp)
            throw error
        }
    }

    /// Hashes a stored object and fails when its bytes no longer hash to its id.
    public func verify(_ id: ContentID, for use: String? = nil) throws {
        let source = path(of: id)
        let fd = open(source, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw StoreError(.missingObject, path: id.hex, "object \(id.hex)\(use.map { " for \($0)" } ?? "") is not in the store") }
            throw StoreError.errno("open", source)
        }
        defer { close(fd) }
        let (got, size) = try FileHashing.sha256(fd: fd, path: source)
        guard got == id else { throw damaged(id, hash: got, size: size, for: use) }
    }

    func damaged(_ id: ContentID, hash: ContentID, size: Int64, for use: String?) -> StoreError {
        StoreError(.corruptObject, path: id.hex,
                   "object \(id.hex)\(use.map { " for \($0)" } ?? "") is damaged in the store: its \(size) bytes hash to \(hash.hex.prefix(12))..., not to its id")
    }

    /// Writes every entry of a stored folder under `directory`, files on as many threads as
    /// there are cores (each verified as `checkout` verifies). The first failure is thrown.
    public func checkoutFolder(manifest id: ContentID, to directory: String, mode: CheckoutMode = .copy) throws {
        let m = try manifest(id)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var files: [Manifest.Entry] = []
        for entry in m.entries {
            let target = directory + "/" + entry.path
            if entry.isLink {
                try FileManager.default.createDirectory(atPath: parent(of: target), withIntermediateDirectories: true)
                unlink(target)
                guard symlink(entry.target ?? "", target) == 0 else { throw StoreError.errno("create link", target) }
            } else if entry.sha256 != nil {
                files.append(entry)
            }
        }
        // Folders first, on this thread: the workers then only write files.
        var folders = Set<String>()
        for e in files { folders.insert(parent(of: directory + "/" + e.path)) }
        for folder in folders.sorted() { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let store = self, all = files
        let next = Atomic<Int>(0)
        let failure = Mutex<StoreError?>(nil)
        // Two threads a core: a direct write waits for the disk while the core's other thread hashes.
        onThreads(max(1, min(2 * ProcessInfo.processInfo.activeProcessorCount, all.count))) {
            while failure.withLock({ $0 == nil }) {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= all.count { return }
                let e = all[i]
                do {
                    try store.checkoutInto(existingFolder: e.sha256!, to: directory + "/" + e.path, executable: e.isExecutable, mode: mode)
                } catch {
                    let failed = error as? StoreError ?? StoreError(.io, path: e.path, "\(e.path): \(error)")
                    failure.withLock { if $0 == nil { $0 = failed } }
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Copies while hashing; returns the hash and size of what was read. A reflink (btrfs,
    /// xfs) shares the blocks, and the source is then hashed alone. Otherwise the copy is
    /// written as the store writes its own (DirectCopy.swift): around the page cache, and for
    /// a large file by a second thread while this one hashes, so a restore runs at hashing speed.
    func copyVerifying(from input: Int32, to output: Int32, source: String, destination: String) throws -> (ContentID, Int64) {
        #if os(Linux)
        let FICLONE: UInt = 0x4004_9409
        if ioctl(output, FICLONE, input) == 0 { return try FileHashing.sha256(fd: input, path: source) }
        #endif
        FileHashing.adviseSequential(input)
        var info = stat()
        if fstat(input, &info) == 0, Int64(info.st_size) >= DirectIO.pipelineThreshold {
            return try FileHashing.sha256Copying(fd: input, path: source, to: output, outputPath: destination)
        }
        var writer = StoreWriter(fd: output, path: destination)
        return try FileHashing.sha256(fd: input, path: source) { chunk in try writer.write(chunk) }
    }
}
