import Foundation
import Testing
@testable import ObjectStore

final class TempDir {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func write(_ rel: String, _ data: Data, mode: Int = 0o644) throws {
        let url = URL(fileURLWithPath: path + "/" + rel)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        chmod(url.path, mode_t(mode))
    }
}

func systemSHA256(_ path: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    p.arguments = [path]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(String(decoding: data, as: UTF8.self).prefix(64))
}

@Suite struct ObjectStoreTests {
    @Test func putBytesUsesTheSHA256OfTheBytes() throws {
        let dir = try TempDir()
        let store = ObjectStore(root: dir.path + "/objects")
        let id = try store.put(Data("abc".utf8))
        #expect(id.hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(store.has(id))
        #expect(try store.get(id) == Data("abc".utf8))
        #expect(store.path(of: id).hasSuffix("/sha256/ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        var st = stat()
        stat(store.path(of: id), &st)
        #expect(st.st_mode & 0o777 == 0o444, "objects are read-only")
        #expect(tempFiles(dir.path + "/objects/tmp").isEmpty, "no temp file left")
    }

    @Test func putLargeFileStreamsAndMatchesSha256sum() throws {
        let dir = try TempDir()
        var bytes = Data(count: 5_000_003)
        for i in stride(from: 0, to: bytes.count, by: 997) { bytes[i] = UInt8(i % 251) }
        try dir.write("big.bin", bytes)
        let store = ObjectStore(root: dir.path + "/objects")
        let (id, size) = try store.put(fileAt: dir.path + "/big.bin")
        #expect(size == 5_000_003)
        #expect(id.hex == (try systemSHA256(dir.path + "/big.bin")))
        #expect(FileManager.default.contents(atPath: store.path(of: id)) == bytes)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/big.bin"), "a copy leaves the source")
    }

    /// The store's copy is written around the page cache in aligned pieces, a large
    /// file by a second thread; every size around the boundaries must come back exact,
    /// also where the file system takes no direct writes (tmpfs, when there is one).
    @Test(arguments: [nil, "/dev/shm"])
    func copiesOfEverySizeAreExact(base: String?) throws {
        if let base, !FileManager.default.isWritableFile(atPath: base) { return }
        let dir = try TempDir()
        let storeRoot = base.map { $0 + "/gitml-store-\(UUID().uuidString.prefix(8))" } ?? dir.path + "/objects"
        defer { if base != nil { try? FileManager.default.removeItem(atPath: storeRoot) } }
        let store = ObjectStore(root: storeRoot)
        let mib = 1 << 20
        let sizes = [0, 1, 4095, 4096, 4097, mib, mib + 1, 8 * mib - 1, 8 * mib, 8 * mib + 3 * 4096, 9 * mib + 777, 17 * mib + 1]
        var state = UInt64.random(in: 1...UInt64.max)
        for size in sizes {
            // xorshift64, eight bytes a step: quick enough in a debug build.
            var words = [UInt64](repeating: 0, count: size / 8 + 1)
            for i in words.indices {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                words[i] = state
            }
            let bytes = words.withUnsafeBytes { Data($0.prefix(size)) }
            let name = "f\(size).bin"
            try dir.write("tree/" + name, bytes)
            let (id, stored) = try store.put(fileAt: dir.path + "/tree/" + name)
            #expect(stored == Int64(size))
            #expect(id.hex == (try systemSHA256(dir.path + "/tree/" + name)), "size \(size)")
            #expect(FileManager.default.contents(atPath: store.path(of: id)) == bytes, "size \(size)")
        }
        // The same bytes twice in a folder: one object, and no temp copy left behind.
        try dir.write("tree/dup.bin", FileManager.default.contents(atPath: dir.path + "/tree/f4097.bin")!)
        // A store of its own, so that the folder's files are copied, not found.
        let folderStore = ObjectStore(root: storeRoot + "/folder")
        let folder = try folderStore.putFolder(at: dir.path + "/tree")
        #expect(folder.fileCount == sizes.count + 1)
        #expect(try folderStore.allObjects().count == sizes.count + 1, "one object a distinct file, and the manifest")
        #expect(tempFiles(storeRoot + "/folder/tmp").isEmpty, "no temp file left")
        let back = dir.path + "/back"
        try folderStore.checkoutFolder(manifest: folder.manifest, to: back)
        for size in sizes {
            #expect(FileManager.default.contents(atPath: back + "/f\(size).bin") == FileManager.default.contents(atPath: dir.path + "/tree/f\(size).bin"))
        }
        #expect(try store.verifyAll().isEmpty)
        #expect(tempFiles(storeRoot + "/tmp").isEmpty, "no temp file left")
    }

    @Test func consumeLinksTheFileIntoTheStoreAndLeavesItForItsOwner() throws {
        let dir = try TempDir()
        try dir.write("out.bin", Data("weights".utf8))
        try dir.write("outs/a.bin", Data("same".utf8))
        try dir.write("outs/b.bin", Data("same".utf8))
        let store = ObjectStore(root: dir.path + "/objects")
        let (id, _) = try store.put(fileAt: dir.path + "/out.bin", consume: true)
        // Nothing copied (one inode), nothing removed until the owner says so.
        var a = stat(), b = stat()
        #expect(stat(dir.path + "/out.bin", &a) == 0 && stat(store.path(of: id), &b) == 0 && a.st_ino == b.st_ino)
        #expect(try store.get(id) == Data("weights".utf8))
        let folder = try store.putFolder(at: dir.path + "/outs", consume: true)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/outs/a.bin") && FileManager.default.fileExists(atPath: dir.path + "/outs/b.bin"))
        #expect(try store.manifest(folder.manifest).entries.count == 2)
        // Stored again (a second run with the same bytes): nothing changes, nothing is lost.
        _ = try store.put(fileAt: dir.path + "/out.bin", consume: true)
        #expect(try store.verifyAll().isEmpty)
    }

    @Test func folderManifestIsSortedRecordsLinksAndRoundTrips() throws {
        let dir = try TempDir()
        try dir.write("src/z.txt", Data("z".utf8))
        try dir.write("src/a/b.txt", Data("b".utf8))
        try dir.write("src/run.sh", Data("#!/bin/sh\n".utf8), mode: 0o755)
        try dir.write("outside.txt", Data("secret".utf8))
        symlink("../outside.txt", dir.path + "/src/link")
        let store = ObjectStore(root: dir.path + "/objects")
        let stored = try store.putFolder(at: dir.path + "/src", parallelism: 2)
        #expect(stored.fileCount == 4)
        let m = try store.manifest(stored.manifest)
        #expect(m.entries.map(\.path) == ["a/b.txt", "link", "run.sh", "z.txt"])
        #expect(m.entries[1].isLink && m.entries[1].target == "../outside.txt" && m.entries[1].sha256 == nil)
        #expect(m.entries[2].isExecutable)
        #expect(!store.has(FileHashing.sha256(Data("secret".utf8))), "a link is never followed")
        // Same folder, same id.
        #expect(try store.putFolder(at: dir.path + "/src").manifest == stored.manifest)

        try store.checkoutFolder(manifest: stored.manifest, to: dir.path + "/back")
        #expect(FileManager.default.contents(atPath: dir.path + "/back/a/b.txt") == Data("b".utf8))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir.path + "/back/link") == "../outside.txt")
        #expect(FileManager.default.isExecutableFile(atPath: dir.path + "/back/run.sh"))
        // A copy is independent of the store: editing it leaves the object intact.
        try Data("edited".utf8).write(to: URL(fileURLWithPath: dir.path + "/back/z.txt"))
        #expect(try store.verifyAll().isEmpty)
    }

    @Test func linkCheckoutSharesTheObject() throws {
        let dir = try TempDir()
        let store = ObjectStore(root: dir.path + "/objects")
        let id = try store.put(Data("read-only input".utf8))
        try store.checkout(id, to: dir.path + "/in/data.txt", mode: .link)
        var a = stat(), b = stat()
        stat(dir.path + "/in/data.txt", &a)
        stat(store.path(of: id), &b)
        #expect(a.st_ino == b.st_ino)
    }

    @Test func verifyFindsAFlippedByte() throws {
        let dir = try TempDir()
        let store = ObjectStore(root: dir.path + "/objects")
        let good = try store.put(Data("good".utf8))
        let bad = try store.put(Data("will be damaged".utf8))
        let path = store.path(of: bad)
        chmod(path, 0o644)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[0] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(try store.verifyAll() == [bad])
        #expect(store.has(good))
    }

    @Test func missingObjectIsAClearError() throws {
        let dir = try TempDir()
        let store = ObjectStore(root: dir.path + "/objects")
        let id = FileHashing.sha256(Data("never stored".utf8))
        do {
            _ = try store.get(id)
            Issue.record("expected an error")
        } catch let e as StoreError {
            #expect(e.code == .missingObject)
            #expect(e.message.contains(id.hex))
        }
    }
}

@Suite struct ManifestEncodingTests {
    @Test func handWrittenJSONIsByteForByteJSONEncoders() throws {
        let names = ["plain.txt", "dir/sub/file.bin", "quote\"d", "back\\slash", "tab\tand\nnewline", "ünïcödé/日本.csv",
                     "ctrl\u{01}\u{1f}", "slash/../x", "emoji 🎉", "bell\u{07}", "cr\r", "ff\u{0c}bs\u{08}"]
        var entries: [Manifest.Entry] = names.enumerated().map { i, n in
            .init(path: n, mode: i % 3 == 0 ? "100755" : "100644", size: Int64(i * 1000), sha256: FileHashing.sha256(Data(n.utf8)), target: nil)
        }
        entries.append(.init(path: "link", mode: "120000", size: 9, sha256: nil, target: "../a \"b\"/c"))
        let manifest = Manifest(entries: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(try manifest.encoded() == encoder.encode(manifest))
        #expect(try Manifest.decode(manifest.encoded(), id: "x") == manifest)
        #expect(try Manifest(entries: []).encoded() == encoder.encode(Manifest(entries: [])))
    }
}

/// Files under a store's tmp/ other than the lock files that say whose each temp folder is.
func tempFiles(_ tmp: String) -> [String] {
    let walker = FileManager.default.enumerator(atPath: tmp)
    var out: [String] = []
    while let path = walker?.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: tmp + "/" + path, isDirectory: &isDir), !isDir.boolValue, !path.hasSuffix(".lock") { out.append(path) }
    }
    return out
}
