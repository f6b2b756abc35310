import CGit2
import Foundation

/// The mode of an entry in a git tree.
public enum FileMode: UInt32, Sendable, Codable {
    case blob = 0o100644
    case executable = 0o100755
    case link = 0o120000
    case tree = 0o040000
    case submodule = 0o160000

    init(raw: git_filemode_t) {
        self = FileMode(rawValue: raw.rawValue) ?? .blob
    }
}

/// One entry of a tree.
public struct TreeEntry: Sendable, Equatable {
    public var name: String
    public var id: ObjectID
    public var mode: FileMode
    public init(name: String, id: ObjectID, mode: FileMode) {
        self.name = name
        self.id = id
        self.mode = mode
    }
}

/// A commit as read back: its tree, parents and message.
public struct CommitInfo: Sendable, Equatable {
    public var id: ObjectID
    public var tree: ObjectID
    public var parents: [ObjectID]
    public var message: String
    public var author: Signature
    public var time: Date
}

extension Repository {
    // MARK: blobs

    /// Stores `data` as a blob.
    public func writeBlob(_ data: Data) throws -> ObjectID {
        var oid = git_oid()
        _ = try data.withUnsafeBytes { buffer in
            try check("write blob", git_blob_create_from_buffer(&oid, handle, buffer.baseAddress, buffer.count))
        }
        return ObjectID(oid)
    }

    /// Stores a file's bytes as they are as a blob, streaming it (a large log never sits in memory).
    ///
    /// No filters: `git_blob_create_from_disk` would apply the work tree's attributes to a
    /// file under the work tree (`.git/ml/...` is), and finding them reads the whole index.
    /// A small file is written from memory, which skips the write when the blob exists.
    /// The bytes stored are the file's first `st_size` at the time it is opened: a log that
    /// is still growing (a checkpoint of a live run) gives a consistent prefix; a file that
    /// shrinks while it is read is an error.
    public func writeBlob(fileAt path: String) throws -> ObjectID {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GitError.system("store \(path) as a blob") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw GitError.system("store \(path) as a blob") }
        let size = Int(info.st_size)
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, min(size, chunk)), alignment: 16)
        defer { buffer.deallocate() }
        /// Fills the buffer with the next `count` bytes of the file.
        func fill(_ count: Int) throws {
            var got = 0
            while got < count {
                let n = read(fd, buffer + got, count - got)
                if n < 0, errno == EINTR { continue }
                if n < 0 { throw GitError.system("read \(path)") }
                if n == 0 { throw GitError(code: .other(-1), operation: "read \(path)", message: "the file shrank while it was read") }
                got += n
            }
        }
        var oid = git_oid()
        if size <= chunk {
            try fill(size)
            try check("store \(path) as a blob", git_blob_create_from_buffer(&oid, handle, buffer, size))
            return ObjectID(oid)
        }
        var odb: OpaquePointer?
        try check("open the object database", git_repository_odb(&odb, handle))
        defer { git_odb_free(odb) }
        var stream: UnsafeMutablePointer<git_odb_stream>?
        try check("store \(path) as a blob", git_odb_open_wstream(&stream, odb, git_object_size_t(size), GIT_OBJECT_BLOB))
        defer { git_odb_stream_free(stream) }
        for offset in stride(from: 0, to: size, by: chunk) {
            let n = min(chunk, size - offset)
            try fill(n)
            try check("store \(path) as a blob", git_odb_stream_write(stream, buffer.assumingMemoryBound(to: CChar.self), n))
        }
        try check("store \(path) as a blob", git_odb_stream_finalize_write(&oid, stream))
        return ObjectID(oid)
    }

    /// Stores a work-tree file as `git add` would (filters applied, links as links).
    public func writeBlob(workTreePath relative: String) throws -> ObjectID {
        var oid = git_oid()
        try check("store \(relative) as a blob", git_blob_create_from_workdir(&oid, handle, relative))
        return ObjectID(oid)
    }

    public func readBlob(_ id: ObjectID) throws -> Data {
        try withBlob(id) { blob in
            let size = Int(git_blob_rawsize(blob))
            guard size > 0, let raw = git_blob_rawcontent(blob) else { return Data() }
            return Data(bytes: raw, count: size)
        }
    }

    /// Writes a blob's bytes to a file handle-free path without holding a copy beyond libgit2's.
    public func writeBlob(_ id: ObjectID, toFile path: String, mode: mode_t) throws {
        try withBlob(id) { blob in
            let size = Int(git_blob_rawsize(blob))
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
            guard fd >= 0 else {
                throw GitError.system("write \(path)")
            }
            defer { close(fd) }
            var offset = 0
            if size > 0, let raw = git_blob_rawcontent(blob) {
                while offset < size {
                    let n = Foundation.write(fd, raw + offset, size - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw GitError.system("write \(path)")
                    }
                    offset += n
                }
            }
            fchmod(fd, mode)
        }
    }

    func withBlob<T>(_ id: ObjectID, _ body: (OpaquePointer) throws -> T) throws -> T {
        var oid = id.raw
        var blob: OpaquePointer?
        try check("read blob \(id.short)", git_blob_lookup(&blob, handle, &oid))
        defer { git_blob_free(blob) }
        return try body(blob!)
    }

    // MARK: trees

    /// Writes one tree level from its entries (names must be unique).
    public func writeTree(_ entries: [TreeEntry]) throws -> ObjectID {
        var builder: OpaquePointer?
        try check("start a tree", git_treebuilder_new(&builder, handle, nil))
        defer { git_treebuilder_free(builder) }
        for entry in entries {
            var oid = entry.id.raw
            try check("add \(entry.name) to a tree",
                      git_treebuilder_insert(nil, builder, entry.name, &oid, git_filemode_t(rawValue: entry.mode.rawValue)))
        }
        var out = git_oid()
        try check("write tree", git_treebuilder_write(&out, builder))
        return ObjectID(out)
    }

    /// Writes a tree from slash-separated paths, creating the folders between.
    public func writeTree(paths: [String: (id: ObjectID, mode: FileMode)]) throws -> ObjectID {
        final class Node { var files: [String: (ObjectID, FileMode)] = [:]; var dirs: [String: Node] = [:] }
        let root = Node()
        for (path, value) in paths {
            var parts = path.split(separator: "/").map(String.init)
            let leaf = parts.removeLast()
            var node = root
            for part in parts {
                if let next = node.dirs[part] { node = next } else { let n = Node(); node.dirs[part] = n; node = n }
            }
            node.files[leaf] = (value.id, value.mode)
        }
        func write(_ node: Node) throws -> ObjectID {
            var entries = node.files.map { TreeEntry(name: $0.key, id: $0.value.0, mode: $0.value.1) }
            for (name, child) in node.dirs { entries.append(TreeEntry(name: name, id: try write(child), mode: .tree)) }
            return try writeTree(entries)
        }
        return try write(root)
    }

    public func readTree(_ id: ObjectID) throws -> [TreeEntry] {
        try withTree(id) { tree in
            (0..<git_tree_entrycount(tree)).map { i in
                let e = git_tree_entry_byindex(tree, i)!
                return TreeEntry(name: String(cString: git_tree_entry_name(e)), id: ObjectID(git_tree_entry_id(e)!.pointee),
                                 mode: FileMode(raw: git_tree_entry_filemode(e)))
            }
        }
    }

    /// The entry at a slash-separated path inside a tree, or nil.
    public func treeEntry(in tree: ObjectID, path: String) throws -> TreeEntry? {
        try withTree(tree) { t in
            var entry: OpaquePointer?
            let rc = git_tree_entry_bypath(&entry, t, path)
            if rc == GIT_ENOTFOUND.rawValue { return nil }
            try check("look up \(path)", rc)
            defer { git_tree_entry_free(entry) }
            return TreeEntry(name: String(cString: git_tree_entry_name(entry)), id: ObjectID(git_tree_entry_id(entry)!.pointee),
                             mode: FileMode(raw: git_tree_entry_filemode(entry)))
        }
    }

    /// The bytes of the blob at `path` inside `tree`, or nil when there is none.
    public func readFile(in tree: ObjectID, path: String) throws -> Data? {
        guard let entry = try treeEntry(in: tree, path: path), entry.mode != .tree, entry.mode != .submodule else { return nil }
        return try readBlob(entry.id)
    }

    func withTree<T>(_ id: ObjectID, _ body: (OpaquePointer) throws -> T) throws -> T {
        var oid = id.raw
        var tree: OpaquePointer?
        try check("read tree \(id.short)", git_tree_lookup(&tree, handle, &oid))
        defer { git_tree_free(tree) }
        return try body(tree!)
    }

    /// Writes the files of `tree` into `directory` (created if needed), byte for
    /// byte as stored: executables keep their bit, symbolic links stay links.
    public func materialize(tree: ObjectID, into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for entry in try readTree(tree) {
            let target = directory + "/" + entry.name
            switch entry.mode {
            case .tree:
                try materialize(tree: entry.id, into: target)
            case .submodule:
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            case .link:
                let destination = String(decoding: try readBlob(entry.id), as: UTF8.self)
                unlink(target)
                guard symlink(destination, target) == 0 else {
                    throw GitError.system("link \(target)")
                }
            case .blob, .executable:
                try writeBlob(entry.id, toFile: target, mode: entry.mode == .executable ? 0o755 : 0o644)
            }
        }
    }

    // MARK: commits

    /// Creates a commit without moving any ref; the caller publishes it with
    /// `updateReference(_:to:expected:)`.
    /// Writes a commit. With `signer`, the commit's bytes are handed to it and the armored
    /// signature it returns is stored in the commit's `gpgsig` header, as `git commit -S` does.
    public func createCommit(tree: ObjectID, parents: [ObjectID], message: String,
                             author: Signature, time: Date = Date(),
                             signer: ((Data) throws -> String)? = nil) throws -> ObjectID {
        var sig: UnsafeMutablePointer<git_signature>?
        try check("make signature", git_signature_new(&sig, author.name, author.email, git_time_t(time.timeIntervalSince1970), 0))
        defer { git_signature_free(sig) }
        var treeOid = tree.raw
        var treeObj: OpaquePointer?
        try check("read tree \(tree.short)", git_tree_lookup(&treeObj, handle, &treeOid))
        defer { git_tree_free(treeObj) }
        var parentObjs: [OpaquePointer?] = []
        defer { parentObjs.forEach { git_commit_free($0) } }
        for p in parents {
            var oid = p.raw
            var c: OpaquePointer?
            try check("read commit \(p.short)", git_commit_lookup(&c, handle, &oid))
            parentObjs.append(c)
        }
        var out = git_oid()
        guard let signer else {
            _ = try parentObjs.withUnsafeMutableBufferPointer { buffer in
                try check("create commit", git_commit_create(&out, handle, nil, sig, sig, "UTF-8", message, treeObj,
                                                              buffer.count, buffer.baseAddress))
            }
            return ObjectID(out)
        }
        var buf = git_buf()
        defer { git_buf_dispose(&buf) }
        _ = try parentObjs.withUnsafeMutableBufferPointer { buffer in
            try check("create commit", git_commit_create_buffer(&buf, handle, sig, sig, "UTF-8", message, treeObj,
                                                                 buffer.count, buffer.baseAddress))
        }
        let bytes = Data(bytes: buf.ptr, count: buf.size)
        let signature = try signer(bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        try check("create signed commit", git_commit_create_with_signature(&out, handle, text, signature, "gpgsig"))
        return ObjectID(out)
    }

    /// The signature in a commit's `gpgsig` header and the bytes it signs; nil when unsigned.
    public func commitSignature(_ id: ObjectID) throws -> (signature: String, signed: Data)? {
        var oid = id.raw
        var sig = git_buf(), data = git_buf()
        defer { git_buf_dispose(&sig); git_buf_dispose(&data) }
        let rc = git_commit_extract_signature(&sig, &data, handle, &oid, nil)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check("read the signature of commit \(id.short)", rc)
        return (String(decoding: Data(bytes: sig.ptr, count: sig.size), as: UTF8.self), Data(bytes: data.ptr, count: data.size))
    }

    public func readCommit(_ id: ObjectID) throws -> CommitInfo {
        var oid = id.raw
        var commit: OpaquePointer?
        try check("read commit \(id.short)", git_commit_lookup(&commit, handle, &oid))
        defer { git_commit_free(commit) }
        let parents = (0..<git_commit_parentcount(commit)).map { ObjectID(git_commit_parent_id(commit, $0)!.pointee) }
        let author = git_commit_author(commit)!.pointee
        return CommitInfo(
            id: id,
            tree: ObjectID(git_commit_tree_id(commit)!.pointee),
            parents: parents,
            message: String(cString: git_commit_message(commit)),
            author: Signature(name: String(cString: author.name), email: String(cString: author.email)),
            time: Date(timeIntervalSince1970: TimeInterval(git_commit_time(commit))))
    }

    /// True when an object with this id is in the object database.
    public func contains(_ id: ObjectID) -> Bool {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, handle) == 0 else { return false }
        defer { git_odb_free(odb) }
        var oid = id.raw
        return git_odb_exists(odb, &oid) == 1
    }
}
