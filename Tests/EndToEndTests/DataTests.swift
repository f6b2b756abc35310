import Foundation
import Testing

@Suite("git ml data: versioned data beside the code")
struct DataTests {
    /// sha256 of every file under a folder, by relative path.
    func hashes(_ folder: String) throws -> [String: String] {
        let r = try exec(["sh", "-c", "cd \"$1\" && find . -type f -exec sha256sum {} + | sort", "sh", folder], cwd: "/")
        var out: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            out[String(parts[1]).trimmingCharacters(in: .whitespaces)] = String(parts[0])
        }
        return out
    }

    @Test("a data folder added, changed and checked out comes back byte-identical at each version")
    func versionsRoundTrip() throws {
        let repo = try TestRepo()
        try exec(["sh", "-c", "mkdir -p data/images/sub && for i in 1 2 3; do head -c 20000 /dev/urandom > data/images/$i.bin; done && printf 'deep' > data/images/sub/x.txt && printf 'a,b\\n1,2\\n' > data/train.csv"], cwd: repo.root)
        let v1 = try hashes(repo.path("data/images"))
        let add = try repo.ml("data", "add", "data/images", "data/train.csv", "--json")
        #expect(add.status == 0, "\(add.stderr)")
        let added = try JSONSerialization.jsonObject(with: Data(add.stdout.utf8)) as! [[String: Any]]
        #expect(added.map { $0["pointer"] as? String } == ["data/images.mlref", "data/train.csv.mlref"])
        #expect(added[0]["files"] as? Int == 4)
        #expect(repo.read("data/.gitignore") == "/images\n/train.csv\n")
        #expect(repo.read("data/images.mlref")?.contains("type: uri_folder") == true)
        try repo.git("add", "-A")
        try repo.git("commit", "-q", "-m", "data v1")
        #expect(!(try repo.git("ls-files")).contains("data/images/"), "the data itself stays out of git")
        #expect(try repo.ml("data", "status").stdout.contains("unchanged  data/images"))

        try exec(["sh", "-c", "rm data/images/1.bin && head -c 500 /dev/urandom > data/images/4.bin && printf 'x' >> data/images/2.bin"], cwd: repo.root)
        let status = try JSONSerialization.jsonObject(with: Data(try repo.ml("data", "status", "--json").stdout.utf8)) as! [[String: Any]]
        let images = try #require(status.first { $0["path"] as? String == "data/images" })
        #expect(images["state"] as? String == "modified")
        #expect(images["added"] as? [String] == ["4.bin"])
        #expect(images["removed"] as? [String] == ["1.bin"])
        #expect(images["modified"] as? [String] == ["2.bin"])
        let v2 = try hashes(repo.path("data/images"))
        #expect(try repo.ml("data", "add", "data/images").status == 0)
        try repo.git("commit", "-q", "-am", "data v2")

        let log = try JSONSerialization.jsonObject(with: Data(try repo.ml("data", "log", "data/images", "--json").stdout.utf8)) as! [[String: Any]]
        #expect(log.map { $0["subject"] as? String } == ["data v2", "data v1"])

        #expect(try repo.ml("data", "checkout", "data/images", "--rev", "HEAD~1").status == 0)
        #expect(try hashes(repo.path("data/images")) == v1)
        #expect(try repo.ml("data", "checkout").status == 0)
        #expect(try hashes(repo.path("data/images")) == v2)

        try FileManager.default.removeItem(atPath: repo.path("data/images"))
        #expect(try repo.ml("data", "status").stdout.contains("missing"))
        try repo.git("checkout", "-q", "HEAD~1", "--", "data/images.mlref")
        #expect(try repo.ml("data", "checkout").stdout.contains("restored data/images"))
        #expect(try hashes(repo.path("data/images")) == v1)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: repo.path("data")).filter { $0.contains("gitml") }
        #expect(leftovers.isEmpty, "no temporary folder left behind: \(leftovers)")
    }

    @Test("a clone sees the pointers it got from git, and checks out what its store holds")
    func cloneSeesTrackedPointers() throws {
        let repo = try TestRepo()
        try repo.write("data/train.csv", "a,b\n1,2\n")
        #expect(try repo.ml("data", "add", "data/train.csv").status == 0)
        try repo.git("add", "-A")
        try repo.git("commit", "-q", "-m", "data")
        let clone = repo.path("../clone-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(atPath: clone) }
        _ = try exec(["git", "clone", "-q", repo.root, clone], cwd: "/")
        let status = try exec([gitmlBinary, "data", "status"], cwd: clone)
        #expect(status.stdout.contains("missing    data/train.csv"), "\(status.stdout)\(status.stderr)")
        let checkout = try exec([gitmlBinary, "data", "checkout"], cwd: clone)
        #expect(checkout.status != 0, "the clone's store does not have the bytes")
        #expect(checkout.stderr.contains("not in this repository's store"))
    }

    @Test("checkout --link hands out read-only hard links to the objects")
    func checkoutLinks() throws {
        let repo = try TestRepo()
        try repo.write("frozen/a.txt", "input one")
        #expect(try repo.ml("data", "add", "frozen").status == 0)
        try FileManager.default.removeItem(atPath: repo.path("frozen"))
        #expect(try repo.ml("data", "checkout", "--link").status == 0)
        var file = stat(), object = stat()
        stat(repo.path("frozen/a.txt"), &file)
        let sha = try sha256FromString("input one")
        stat(repo.path(".git/ml/objects/sha256/\(sha.prefix(2))/\(sha.dropFirst(2))"), &object)
        #expect(file.st_ino == object.st_ino)
        #expect(file.st_mode & 0o222 == 0, "read-only")
        #expect(repo.read("frozen/a.txt") == "input one")
    }

    @Test("status trusts the stat cache for files it hashed before")
    func statCacheAvoidsRehashing() throws {
        let repo = try TestRepo()
        try exec(["sh", "-c", "printf 'AAAA' > big.bin && touch -d '2020-01-01 00:00:00' big.bin"], cwd: repo.root)
        #expect(try repo.ml("data", "add", "big.bin").status == 0)
        // Same size, same time, same inode: the cache answers without reading the bytes.
        try exec(["sh", "-c", "printf 'BBBB' | dd of=big.bin conv=notrunc status=none && touch -d '2020-01-01 00:00:00' big.bin"], cwd: repo.root)
        #expect(try repo.ml("data", "status").stdout.contains("unchanged  big.bin"))
        // A changed time makes it hash again and see the change.
        try exec(["touch", "big.bin"], cwd: repo.root)
        #expect(try repo.ml("data", "status").stdout.contains("modified"))

        // Adding a folder again reads only the files whose stat data changed.
        try exec(["sh", "-c", "mkdir -p set && printf 'one' > set/a && printf 'two' > set/b && touch -d '2020-01-01 00:00:00' set/a set/b"], cwd: repo.root)
        #expect(try repo.ml("data", "add", "set").status == 0)
        let first = repo.read("set.mlref")
        try exec(["sh", "-c", "printf 'ONE' | dd of=set/a conv=notrunc status=none && touch -d '2020-01-01 00:00:00' set/a"], cwd: repo.root)
        #expect(try repo.ml("data", "add", "set").status == 0)
        #expect(repo.read("set.mlref") == first, "set/a was not read again: its stat data had not changed")
    }

    @Test("status answers from a folder's stamp while its stat data holds, and sees every change to it")
    func stampsSeeChanges() throws {
        let repo = try TestRepo()
        try exec(["sh", "-c", "mkdir -p set/sub && printf one > set/a && printf two > set/sub/b && printf 'x' > one.bin && touch -d '2020-01-01 00:00:00' set/a set/sub/b one.bin"], cwd: repo.root)
        #expect(try repo.ml("data", "add", "set", "one.bin").status == 0)
        #expect(try repo.ml("data", "status").stdout == "unchanged  one.bin\nunchanged  set\n")
        let stamps = try #require(repo.read(".git/ml/cache/data-stamps-v1.tsv"))
        #expect(stamps.contains("set\td") && stamps.contains("one.bin\tf"), "stamps kept for old files: \(stamps)")
        #expect(try repo.ml("data", "status").stdout == "unchanged  one.bin\nunchanged  set\n", "answered from the stamps")

        func state() throws -> [String: Any] {
            let all = try JSONSerialization.jsonObject(with: Data(try repo.ml("data", "status", "--json").stdout.utf8)) as! [[String: Any]]
            return try #require(all.first { $0["path"] as? String == "set" })
        }
        try exec(["sh", "-c", "printf 'ONE' > set/a && touch -d '2020-01-01 00:00:01' set/a"], cwd: repo.root)
        #expect(try state()["modified"] as? [String] == ["a"])
        try exec(["sh", "-c", "printf one > set/a && touch -d '2020-01-01 00:00:00' set/a"], cwd: repo.root)
        #expect(try state()["state"] as? String == "unchanged", "the same bytes back (a new inode, re-hashed)")
        try exec(["sh", "-c", "printf new > set/sub/c && touch -d '2020-01-01 00:00:00' set/sub/c"], cwd: repo.root)
        #expect(try state()["added"] as? [String] == ["sub/c"])
        try exec(["sh", "-c", "rm set/sub/c set/sub/b"], cwd: repo.root)
        #expect(try state()["removed"] as? [String] == ["sub/b"])
        try exec(["sh", "-c", "printf y > one.bin"], cwd: repo.root)
        #expect(try repo.ml("data", "status").stdout.contains("modified   one.bin"), "a file rewritten in place")
    }

    @Test("bad input: outside the repository, tracked by git, missing, or not in the store")
    func badInput() throws {
        let repo = try TestRepo(files: ["tracked.csv": "1\n"])
        let outside = try repo.ml("data", "add", "../elsewhere.csv")
        #expect(outside.status != 0)
        #expect(outside.stderr.contains("outside the repository"))
        let tracked = try repo.ml("data", "add", "tracked.csv")
        #expect(tracked.status != 0)
        #expect(tracked.stderr.contains("git rm -r --cached tracked.csv"))
        let missing = try repo.ml("data", "add", "nope.csv")
        #expect(missing.status != 0 && missing.stderr.contains("no such file"))
        let inGit = try repo.ml("data", "add", ".git/config")
        #expect(inGit.status != 0 && inGit.stderr.contains(".git"))

        try repo.write("model.bin", "weights")
        #expect(try repo.ml("data", "add", "model.bin").status == 0)
        try exec(["sh", "-c", "chmod -R u+w .git/ml/objects && rm -rf .git/ml/objects/sha256 model.bin"], cwd: repo.root)
        let gone = try repo.ml("data", "checkout")
        #expect(gone.status != 0)
        #expect(gone.stderr.contains("not in this repository's store"))
        #expect(!FileManager.default.fileExists(atPath: repo.path("model.bin")))
    }

    /// Files under `.git/ml/objects/sha256` (the published objects).
    func objects(_ repo: TestRepo) -> [String] {
        let root = repo.path(".git/ml/objects/sha256")
        return (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { $0.count == 65 }
    }

    @Test("a write that fails half way (a full disk) or a process killed mid-write leaves no partial object and no pointer")
    func interruptedWrites() throws {
        let repo = try TestRepo()
        try exec(["sh", "-c", "mkdir -p data && head -c 5000000 /dev/urandom > data/big.bin"], cwd: repo.root)
        // The file size limit makes the store's write fail with EFBIG, as a full disk fails one with ENOSPC.
        let full = try exec(["sh", "-c", "trap '' XFSZ; ulimit -f 1024; exec \"$0\" data add data/big.bin", gitmlBinary], cwd: repo.root)
        #expect(full.status == 1, "\(full.stderr)")
        #expect(full.stderr.contains("cannot store data/big.bin"), "\(full.stderr)")
        #expect(full.stderr.split(separator: "\n").count == 1)
        #expect(objects(repo).isEmpty, "no partial object: \(objects(repo))")
        #expect(!FileManager.default.fileExists(atPath: repo.path("data/big.bin.mlref")))
        #expect(tempFiles(repo.path(".git/ml/objects/tmp")).isEmpty, "the failed write's temp file is removed")

        // Killed (SIGKILL) once the copy is written, before it is published: nothing published either.
        let killed = try repo.ml(["data", "add", "data/big.bin"], env: ["GITML_TEST_CRASH_AT": "store:file-copied"])
        #expect(killed.status != 0)
        #expect(objects(repo).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: repo.path("data/big.bin.mlref")))
        // Its temp file is left; fsck names it (no damage), and the next writer removes it.
        #expect(!tempFiles(repo.path(".git/ml/objects/tmp")).isEmpty, "\(killed.stderr)")
        let fsck = try repo.ml("fsck")
        #expect(fsck.status == 0, "a killed write leaves the store healthy")
        #expect(fsck.stdout.contains("leftover: .git/ml/objects/tmp/p") && fsck.stdout.contains("temporary files of a killed writer"), "\(fsck.stdout)")

        let ok = try repo.ml("data", "add", "data/big.bin")
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(objects(repo).count == 1)
        #expect(tempFiles(repo.path(".git/ml/objects/tmp")).isEmpty, "the killed writer's temp file is reclaimed")
        let clean = try repo.ml("fsck")
        #expect(clean.status == 0 && !clean.stdout.contains("leftover"), "\(clean.stdout)")
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
