import Foundation

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
    public func checkout(_ id: ContentID, to destination: String, executable: Bool = false, mode: CheckoutMode = .copy) throws {
        let source = path(of: id)
        guard has(id) else { throw StoreError(.missingObject, path: id.hex, "object \(id.hex) for \(destination) is not in the store") }
        let folder = parent(of: destination)
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        if mode == .link && !executable {
            unlink(destination)
            if link(source, destination) == 0 { return }
        }
        let temp = destination + ".gitml-tmp-\(getpid())"
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw StoreError.errno("open", source) }
        defer { close(input) }
        let output = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, executable ? 0o755 : 0o644)
        guard output >= 0 else { throw StoreError.errno("create", temp) }
        do {
            try copyContents(from: input, to: output, source: source, destination: temp)
            fchmod(output, executable ? 0o755 : 0o644)
            close(output)
            guard rename(temp, destination) == 0 else { throw StoreError.errno("rename", destination) }
        } catch {
            close(output); unlink(temp)
            throw error
        }
    }

    /// Writes every entry of a stored folder under `directory`.
    public func checkoutFolder(manifest id: ContentID, to directory: String, mode: CheckoutMode = .copy) throws {
        let m = try manifest(id)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for entry in m.entries {
            let target = directory + "/" + entry.path
            if entry.isLink {
                try FileManager.default.createDirectory(atPath: parent(of: target), withIntermediateDirectories: true)
                unlink(target)
                guard symlink(entry.target ?? "", target) == 0 else { throw StoreError.errno("create link", target) }
            } else if let sha = entry.sha256 {
                try checkout(sha, to: target, executable: entry.isExecutable, mode: mode)
            }
        }
    }

    func copyContents(from input: Int32, to output: Int32, source: String, destination: String) throws {
        #if os(Linux)
        // Share the blocks when the file system can (btrfs, xfs): instant and no space used.
        let FICLONE: UInt = 0x4004_9409
        if ioctl(output, FICLONE, input) == 0 { return }
        #endif
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n = read(input, buffer.baseAddress, size)
            if n < 0 { if errno == EINTR { continue }; throw StoreError.errno("read", source) }
            if n == 0 { break }
            try writeAll(output, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), destination)
        }
    }
}
