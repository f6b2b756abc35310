import Foundation
import Testing

/// A bare repository in a temp folder, the "git host" of a sharing test.
final class BareRemote: Sendable {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/gitml-remote-\(UUID().uuidString.prefix(8)).git"
        let r = try exec(["git", "init", "-q", "--bare", "-b", "main", path], cwd: "/")
        guard r.status == 0 else { throw TestFailure("git init --bare: \(r.stderr)") }
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Every ref the remote holds.
    func refs() throws -> [String] {
        let r = try exec(["git", "for-each-ref", "--format=%(refname)"], cwd: path)
        return r.stdout.split(separator: "\n").map(String.init)
    }
}

/// PATH with the git-ml under test first, so that `git ml` and the hooks find it.
let pathWithGitML: [String: String] = {
    let dir = (gitmlBinary as NSString).deletingLastPathComponent
    return ["PATH": dir + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
}()

extension TestRepo {
    /// A clone of `remote` (a fresh repository fetching its main branch), with git-ml set up.
    static func clone(of remote: String, email: String) throws -> TestRepo {
        let repo = try TestRepo(commit: false, files: [:])
        try repo.git("config", "user.email", email)
        try repo.git("remote", "add", "origin", remote)
        try repo.git("fetch", "-q", "origin")
        if (try? repo.git("rev-parse", "--verify", "-q", "origin/main")) != nil {
            try repo.git("checkout", "-q", "-b", "main", "--track", "origin/main")
        }
        #expect(try repo.ml("init").status == 0)
        return repo
    }

    /// Runs git with git-ml on PATH (hooks included).
    func gitWithHooks(_ args: String...) throws -> Result {
        try exec(["git"] + args, cwd: root, env: pathWithGitML)
    }

    /// A run whose output `model` holds `text`; returns its id.
    func trainRun(_ text: String) throws -> String {
        try write("train.sh", "mkdir -p \"$GITML_OUTPUTS/model\" && printf '%s' \"$1\" > \"$GITML_OUTPUTS/model/weights.bin\"\n")
        if try git("status", "--porcelain").contains("train.sh") {
            try git("add", "train.sh"); try git("commit", "-qm", "train script")
        }
        let r = try ml("run", "--", "sh", "train.sh", text)
        guard r.status == 0, let id = runID(from: r.stderr) else { throw TestFailure("run: \(r.stderr)") }
        return id
    }
}

@Suite("sharing: push and pull of records and objects between clones of one remote")
struct SharingTests {
    @Test("two clones of one bare remote exchange runs, a registered model and a data folder through its ml/objects (dir)")
    func twoClonesThroughDir() throws {
        let remote = try BareRemote()
        let a = try TestRepo.clone(of: remote.path, email: "alice@example.com")
        for i in 0..<20 { try a.write("data/images/\(i).txt", String(repeating: "pixel \(i)\n", count: 50)) }
        #expect(try a.ml("data", "add", "data/images").status == 0)
        try a.git("add", "-A"); try a.git("commit", "-qm", "data")
        let runA = try a.trainRun("weights of alice")
        #expect(try a.ml("model", "register", "churn", "--run", runA, "--path", "outputs/model").status == 0)
        #expect(try a.ml("model", "alias", "set", "churn", "champion", "1").status == 0)

        // A plain git push: the hook sends the objects, then the records, then git sends the branch.
        let push = try a.gitWithHooks("push", "-q", "origin", "main")
        #expect(push.status == 0, "\(push.stderr)")
        let refs = try remote.refs()
        #expect(refs.contains("refs/heads/main"))
        #expect(refs.contains("refs/ml/ledger/alice@example.com"))
        #expect(refs.filter { $0.hasPrefix("refs/ml/") }.count == 1, "one ref per writer on the remote, not one per record: \(refs)")
        #expect(FileManager.default.fileExists(atPath: remote.path + "/ml/objects/sha256"))

        // Nothing new: nothing sent, the ledger stays where it is.
        let ledger = try exec(["git", "rev-parse", "refs/ml/ledger/alice@example.com"], cwd: remote.path).stdout
        let again = try a.ml("push", "--json")
        #expect(again.status == 0, "\(again.stderr)")
        let againJSON = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as! [String: Any]
        #expect(againJSON["records"] as? Int == 0)
        #expect((againJSON["objects"] as? [String: Any])?["transferred"] as? Int == 0)
        #expect(try exec(["git", "rev-parse", "refs/ml/ledger/alice@example.com"], cwd: remote.path).stdout == ledger)

        // The second clone pulls records and objects: runs, the model, the alias and the data are all there.
        let b = try TestRepo.clone(of: remote.path, email: "bob@example.com")
        let pull = try b.ml("pull", "--json")
        #expect(pull.status == 0, "\(pull.stderr)")
        let pulled = try JSONSerialization.jsonObject(with: Data(pull.stdout.utf8)) as! [String: Any]
        #expect(pulled["runs"] as? [String] == [runA])
        #expect(try b.runIDs() == [runA])
        let show = try b.ml("model", "show", "churn@champion", "--json")
        #expect(show.status == 0 && show.stdout.contains("\"version\" : \"1\""), "\(show.stdout) \(show.stderr)")
        #expect(try b.ml("model", "download", "churn:1", "got").status == 0)
        #expect(b.read("got/weights.bin") == "weights of alice")
        #expect(try b.ml("data", "checkout").status == 0)
        #expect(b.read("data/images/7.txt") == String(repeating: "pixel 7\n", count: 50))
        let audit = try b.ml("audit", "churn:1", "--verify")
        #expect(audit.status == 0, "\(audit.stdout) \(audit.stderr)")
        #expect(try b.git("log", "--notes=ml", "-1", "--format=%N", "HEAD").contains("git-ml run \(runA) completed"), "the arriving run gets its line in refs/notes/ml")

        // Bob's run goes back the same way and Alice gets it; each writer has one ledger ref.
        let runB = try b.trainRun("weights of bob")
        let bPush = try b.ml("push")
        #expect(bPush.status == 0, "\(bPush.stderr)")
        #expect(try a.ml("pull").status == 0)
        #expect(Set(try a.runIDs()) == [runA, runB])
        #expect(try a.ml("model", "download", "churn:1", "again").status == 0)
        #expect(try remote.refs().filter { $0.hasPrefix("refs/ml/") }.sorted() == ["refs/ml/ledger/alice@example.com", "refs/ml/ledger/bob@example.com"])
    }

    @Test("two machines push runs to one remote at once under one writer name: both sets arrive, nothing is overwritten")
    func concurrentPushes() throws {
        let remote = try BareRemote()
        let seed = try TestRepo.clone(of: remote.path, email: "seed@example.com")
        try seed.write("README.md", "# shared\n"); try seed.git("add", "-A"); try seed.git("commit", "-qm", "first")
        #expect(try seed.gitWithHooks("push", "-q", "origin", "main").status == 0)
        let a = try TestRepo.clone(of: remote.path, email: "ci@example.com")
        let b = try TestRepo.clone(of: remote.path, email: "ci@example.com")
        var runs: [String] = []
        for i in 0..<3 { runs.append(try a.trainRun("a\(i)")); runs.append(try b.trainRun("b\(i)")) }
        let group = DispatchGroup()
        let results = LockedResults()
        for repo in [a, b] {
            group.enter()
            DispatchQueue.global().async {
                results.add((try? repo.ml("push")) ?? Result(status: -1, stdout: "", stderr: "did not start"))
                group.leave()
            }
        }
        group.wait()
        for r in results.all { #expect(r.status == 0, "\(r.stderr)") }
        let c = try TestRepo.clone(of: remote.path, email: "reader@example.com")
        #expect(try c.ml("pull").status == 0)
        #expect(Set(try c.runIDs()) == Set(runs))
        #expect(try remote.refs().filter { $0.hasPrefix("refs/ml/") } == ["refs/ml/ledger/ci@example.com"])
    }

    @Test("an object remote set with git ml remote add; a corrupted arrival is refused and never stored; an interrupted download goes on from its bytes")
    func dirRemoteCorruptionAndResume() throws {
        let remote = try BareRemote()
        let shared = FileManager.default.temporaryDirectory.path + "/gitml-shared-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let a = try TestRepo.clone(of: remote.path, email: "alice@example.com")
        let add = try a.ml("remote", "add", "origin", "dir", shared)
        #expect(add.status == 0, "\(add.stderr)")
        let list = try a.ml("remote", "list", "--json")
        #expect(list.stdout.contains("\"location\" : \"\(shared)\"") && list.stdout.contains("git config"), "\(list.stdout)")
        let big = String(repeating: "0123456789abcdef", count: 4096)  // 64 KiB
        let run = try a.trainRun(big)
        let push = try a.ml("push")
        #expect(push.status == 0, "\(push.stderr)")
        let weights = try #require(try sha256Hex(of: big))
        let remoteObject = shared + "/sha256/\(weights.prefix(2))/\(weights.dropFirst(2))"
        #expect(FileManager.default.fileExists(atPath: remoteObject))

        let b = try TestRepo.clone(of: remote.path, email: "bob@example.com")
        #expect(try b.ml("remote", "add", "origin", "dir", shared).status == 0)
        // The remote's copy is damaged: the pull refuses it, names it, and stores nothing under its id.
        let good = try Data(contentsOf: URL(fileURLWithPath: remoteObject))
        var bad = good
        bad[100] ^= 0xff
        try replace(remoteObject, with: bad)
        let damaged = try b.ml("pull")
        #expect(damaged.status != 0)
        #expect(damaged.stderr.contains(weights) && damaged.stderr.contains("corrupted"), "\(damaged.stderr)")
        #expect(!FileManager.default.fileExists(atPath: b.path(".git/ml/objects/sha256/\(weights.prefix(2))/\(weights.dropFirst(2))")))
        #expect(try b.runIDs() == [run], "the records arrived even though an object did not")

        // An interrupted download left its first half here; the remote's first half is now garbage,
        // so only a download that goes on from the bytes it has can store the right object.
        let partial = b.path(".git/ml/objects/partial/\(weights)")
        try FileManager.default.createDirectory(atPath: b.path(".git/ml/objects/partial"), withIntermediateDirectories: true)
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: partial))
        var halfGarbage = good
        for i in 0..<(good.count / 2) { halfGarbage[i] = 0x58 }
        try replace(remoteObject, with: halfGarbage)
        let resumed = try b.ml("pull")
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try b.ml("model", "register", "w", "--run", run, "--path", "outputs/model").status == 0)
        #expect(try b.ml("model", "download", "w:1", "got").status == 0)
        let restored = b.read("got/weights.bin") == big
        #expect(restored, "the resumed object is the one pushed")
        #expect(!FileManager.default.fileExists(atPath: partial))
    }

    @Test("a push whose objects are missing here is refused before anything is sent; an unreachable remote is named")
    func refusals() throws {
        let remote = try BareRemote()
        let a = try TestRepo.clone(of: remote.path, email: "alice@example.com")
        let run = try a.trainRun("weights")
        let record = try a.record(run)
        let outputs = try #require(record["outputs"] as? [[String: Any]])
        let manifest = try #require(outputs.first?["sha256"] as? String)
        let entry = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a.path(".git/ml/objects/sha256/\(manifest.prefix(2))/\(manifest.dropFirst(2))")))) as! [String: Any]
        let file = try #require(((entry["entries"] ?? entry["files"]) as? [[String: Any]])?.first?["sha256"] as? String)
        try FileManager.default.removeItem(atPath: a.path(".git/ml/objects/sha256/\(file.prefix(2))/\(file.dropFirst(2))"))
        let push = try a.ml("push")
        #expect(push.status != 0)
        #expect(push.stderr.contains(file) && push.stderr.contains("nothing was pushed"), "\(push.stderr)")
        #expect(try remote.refs().filter { $0.hasPrefix("refs/ml/") }.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: remote.path + "/ml/objects/sha256"))

        let b = try TestRepo.clone(of: remote.path, email: "bob@example.com")
        _ = try b.trainRun("weights of bob")
        #expect(try b.ml("remote", "add", "origin", "lfs", "http://127.0.0.1:9/lfs").status == 0)
        let unreachable = try b.ml("push")
        #expect(unreachable.status != 0)
        #expect(unreachable.stderr.contains("lfs http://127.0.0.1:9/lfs") && unreachable.stderr.contains("no record was published"), "\(unreachable.stderr)")
    }
}

final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Result] = []
    func add(_ r: Result) { lock.lock(); items.append(r); lock.unlock() }
    var all: [Result] { lock.lock(); defer { lock.unlock() }; return items }
}

/// The SHA-256 of a string's UTF-8 bytes, as hex.
func sha256Hex(of text: String) throws -> String {
    let file = FileManager.default.temporaryDirectory.path + "/gitml-hash-\(UUID().uuidString.prefix(8))"
    defer { try? FileManager.default.removeItem(atPath: file) }
    try text.write(toFile: file, atomically: true, encoding: .utf8)
    return try sha256(file)
}

/// Overwrites a read-only store file, as damage on a disk would.
func replace(_ path: String, with data: Data) throws {
    chmod(path, 0o644)
    try data.write(to: URL(fileURLWithPath: path))
    chmod(path, 0o444)
}
