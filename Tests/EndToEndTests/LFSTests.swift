import Foundation
import Testing

/// A port nobody listens on right now (bound, read and released), for servers started by a test.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw TestFailure("no free port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A temp HOME, so that `git lfs install` and credential helpers write only there.
final class TempHome: Sendable {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/gitml-home-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (k, v) in [("user.name", "LFS User"), ("user.email", "lfs@example.com"), ("init.defaultBranch", "main")] {
            _ = try exec(["git", "config", "--global", k, v], cwd: path, env: ["HOME": path])
        }
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    var env: [String: String] { pathWithGitML.merging(["HOME": path, "XDG_CONFIG_HOME": path + "/.config", "GIT_TERMINAL_PROMPT": "0"]) { _, b in b } }

    /// Stores `token` as the password for `url` in git's `store` credential helper, as a user would.
    func storeCredential(url: String, token: String) throws {
        _ = try exec(["git", "config", "--global", "credential.helper", "store --file=\(path)/credentials"], cwd: path, env: env)
        let u = URL(string: url)!
        try "\(u.scheme!)://user:\(token)@\(u.host!):\(u.port!)\n".write(toFile: path + "/credentials", atomically: true, encoding: .utf8)
    }
}

/// `git ml serve` in `repo` with a token; its URL.
func serveWithToken(_ repo: TestRepo, token: String) throws -> (Process, String) {
    try TrackingE2ETests().serve(repo, token: token)
}

@Suite("Git LFS: git ml serve as an LFS server for the real git-lfs client; git-ml's lfs remotes against it and against giftless")
struct LFSTests {
    @Test("the real git-lfs client pushes to and pulls from git ml serve, authenticated with the server's token through a credential helper")
    func gitLFSClientAgainstServe() throws {
        let home = try TempHome()
        let server = try TestRepo()
        #expect(try server.ml("init").status == 0)
        let token = "lfs-\(UUID().uuidString.prefix(8))"
        let (process, url) = try serveWithToken(server, token: token)
        defer { process.terminate(); process.waitUntilExit() }
        try home.storeCredential(url: url, token: token)
        let env = home.env
        #expect(try exec(["git", "lfs", "install"], cwd: home.path, env: env).status == 0)

        let remote = try BareRemote()
        let a = try TestRepo()
        func git(_ repo: TestRepo, _ args: String...) throws -> Result {
            let r = try exec(["git"] + args, cwd: repo.root, env: env)
            #expect(r.status == 0, "git \(args.joined(separator: " ")): \(r.stderr)")
            return r
        }
        _ = try git(a, "config", "lfs.url", url + "/lfs")
        _ = try git(a, "lfs", "track", "*.bin")
        let bytes = String(repeating: "model weights ", count: 80_000)  // ~1.1 MB
        try a.write("model.bin", bytes)
        _ = try git(a, "add", "-A")
        _ = try git(a, "commit", "-qm", "an LFS file")
        _ = try git(a, "remote", "add", "origin", remote.path)
        _ = try git(a, "push", "-q", "origin", "main")
        let oid = try sha256(a.path("model.bin"))
        #expect(FileManager.default.fileExists(atPath: server.path(".git/ml/objects/sha256/\(oid.prefix(2))/\(oid.dropFirst(2))")),
                "the pushed LFS object is in git ml serve's object store under its oid")

        let cloneDir = FileManager.default.temporaryDirectory.path + "/gitml-lfsclone-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: cloneDir) }
        let clone = try exec(["git", "-c", "lfs.url=\(url)/lfs", "clone", "-q", remote.path, cloneDir], cwd: home.path, env: env)
        #expect(clone.status == 0, "\(clone.stderr)")
        let same = FileManager.default.contents(atPath: cloneDir + "/model.bin") == Data(bytes.utf8)
        #expect(same, "git-lfs fetched the object back from git ml serve")

        // Without the token the server refuses, and says how to authenticate.
        let batch = try exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Content-Type: application/vnd.git-lfs+json",
                              "-d", #"{"operation":"download","objects":[{"oid":"\#(oid)","size":1}]}"#, url + "/lfs/objects/batch"], cwd: home.path)
        #expect(batch.stdout == "401")
    }

    /// The object remote backends, each behind the same protocol; every one passes `contract`.
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case dir, lfsServe = "lfs against git ml serve", lfsGiftless = "lfs against giftless"
        var testDescription: String { rawValue }
    }

    /// A backend up and running: its `git ml remote add` arguments, the environment its clients need,
    /// where it keeps an object's bytes (to damage them), and how to stop it.
    struct RunningBackend {
        var type: String
        var location: String
        var env: [String: String]
        var objectPath: (String) -> String
        var stop: () -> Void
    }

    func start(_ backend: Backend, home: TempHome) throws -> RunningBackend {
        switch backend {
        case .dir:
            let folder = home.path + "/shared-objects"
            return RunningBackend(type: "dir", location: folder, env: home.env,
                                  objectPath: { "\(folder)/sha256/\($0.prefix(2))/\($0.dropFirst(2))" }, stop: {})
        case .lfsServe:
            let server = try TestRepo()
            #expect(try server.ml("init").status == 0)
            let token = "t-\(UUID().uuidString.prefix(8))"
            let (process, url) = try serveWithToken(server, token: token)
            try home.storeCredential(url: url, token: token)
            return RunningBackend(type: "lfs", location: url + "/lfs", env: home.env,
                                  objectPath: { server.path(".git/ml/objects/sha256/\($0.prefix(2))/\($0.dropFirst(2))") },
                                  stop: { process.terminate(); process.waitUntilExit(); _ = server })
        case .lfsGiftless:
            let python = TrackingE2ETests.python
            let gunicorn = (python as NSString).deletingLastPathComponent + "/gunicorn"
            try #require(FileManager.default.isExecutableFile(atPath: gunicorn), "make test installs giftless and gunicorn into .venv-test")
            let storage = home.path + "/storage"
            try """
                AUTH_PROVIDERS:
                  - giftless.auth.allow_anon:read_write
                TRANSFER_ADAPTERS:
                  basic:
                    factory: giftless.transfer.basic_streaming:factory
                    options:
                      storage_class: giftless.storage.local_storage:LocalStorage
                      storage_options:
                        path: \(storage)
                PRE_AUTHORIZED_ACTION_PROVIDER:
                  options:
                    private_key: 0123456789abcdef0123456789abcdef-git-ml-test

                """.write(toFile: home.path + "/giftless.yaml", atomically: true, encoding: .utf8)
            let port = try freePort()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: gunicorn)
            p.arguments = ["-b", "127.0.0.1:\(port)", "-w", "2", "giftless.wsgi_entrypoint:app"]
            p.environment = ProcessInfo.processInfo.environment.merging(["GIFTLESS_CONFIG_FILE": home.path + "/giftless.yaml"]) { _, b in b }
            p.currentDirectoryURL = URL(fileURLWithPath: home.path)
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            // SIGKILL, workers first: gunicorn started from the test runner does not stop on SIGTERM.
            let stop = {
                _ = try? exec(["pkill", "-KILL", "-P", "\(p.processIdentifier)"], cwd: "/")
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
            }
            let up = waitUntil(20) {
                (try? exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"], cwd: "/").stdout).map { $0 != "000" } ?? false
            }
            if !up { stop() }
            try #require(up, "giftless did not start on port \(port)")
            return RunningBackend(type: "lfs", location: "http://127.0.0.1:\(port)/team/churn.git/info/lfs", env: home.env,
                                  objectPath: { "\(storage)/team/churn/\($0)" }, stop: stop)
        }
    }

    @Test("every object remote backend passes one contract: clones exchange runs, a model and data; nothing resent; a corrupted arrival is refused and fetched again once good; an interrupted download completes",
          arguments: Backend.allCases)
    func contract(_ backend: Backend) throws {
        let home = try TempHome()
        let running = try start(backend, home: home)
        defer { running.stop() }
        try exchange(running)
    }

    /// Clone A pushes a run, a model and a data folder through the backend; clone B pulls them and audits
    /// the model; clone C meets a damaged object; clone D resumes an interrupted download.
    func exchange(_ backend: RunningBackend) throws {
        let env = backend.env
        let remote = try BareRemote()
        func cloneWithRemote(_ email: String) throws -> TestRepo {
            let repo = try TestRepo.clone(of: remote.path, email: email)
            let add = try repo.ml(["remote", "add", "origin", backend.type, backend.location], env: env)
            #expect(add.status == 0, "\(add.stderr)")
            return repo
        }
        let a = try cloneWithRemote("alice@example.com")
        for i in 0..<12 { try a.write("data/set/\(i).csv", String(repeating: "\(i),\(i * i)\n", count: 200)) }
        #expect(try a.ml("data", "add", "data/set").status == 0)
        try a.git("add", "-A"); try a.git("commit", "-qm", "data")
        let weightsText = String(repeating: "w0123456789", count: 9_000)
        let run = try a.trainRun(weightsText)
        #expect(try a.ml("model", "register", "churn", "--run", run, "--path", "outputs/model").status == 0)
        let push = try exec(["git", "push", "-q", "origin", "main"], cwd: a.root, env: env)
        #expect(push.status == 0, "\(push.stderr)")
        let data = try sha256(a.path("data/set/3.csv"))
        let weights = try sha256Hex(of: weightsText)
        #expect(FileManager.default.fileExists(atPath: backend.objectPath(data)), "the data file is on the backend under its SHA-256")
        #expect(FileManager.default.fileExists(atPath: backend.objectPath(weights)), "the model's file is on the backend under its SHA-256")
        // A second push has nothing to send.
        let again = try a.ml(["push", "--json"], env: env)
        #expect(again.status == 0 && again.stdout.contains("\"transferred\" : 0") && again.stdout.contains("\"records\" : 0"), "\(again.stdout) \(again.stderr)")

        let b = try cloneWithRemote("bob@example.com")
        let pull = try b.ml(["pull"], env: env)
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try b.runIDs() == [run])
        #expect(try b.ml("model", "download", "churn:1", "got").status == 0)
        let same = b.read("got/weights.bin") == weightsText
        #expect(same, "the model's bytes arrived")
        #expect(try b.ml("data", "checkout").status == 0)
        #expect(b.read("data/set/3.csv") == a.read("data/set/3.csv"))
        let audit = try b.ml("audit", "churn:1", "--verify")
        #expect(audit.status == 0, "\(audit.stdout) \(audit.stderr)")

        // The backend's copy is damaged: refused, named, never stored; once it is good again the next pull gets it.
        let stored = backend.objectPath(weights)
        let good = try Data(contentsOf: URL(fileURLWithPath: stored))
        var bad = good
        bad[10] ^= 0x20
        try replace(stored, with: bad)
        let c = try cloneWithRemote("carol@example.com")
        let damaged = try c.ml(["pull"], env: env)
        #expect(damaged.status != 0)
        #expect(damaged.stderr.contains(weights) && damaged.stderr.contains("corrupted"), "\(damaged.stderr)")
        #expect(!FileManager.default.fileExists(atPath: c.path(".git/ml/objects/sha256/\(weights.prefix(2))/\(weights.dropFirst(2))")))
        try replace(stored, with: good)
        let healed = try c.ml(["pull"], env: env)
        #expect(healed.status == 0, "\(healed.stderr)")
        #expect(try c.ml("model", "download", "churn:1", "got").status == 0)
        let healedSame = c.read("got/weights.bin") == weightsText
        #expect(healedSame, "the object a failed pull left pending arrived with the next pull")

        // An interrupted download left its first half; the pull completes it into the right object.
        let d = try cloneWithRemote("dave@example.com")
        try FileManager.default.createDirectory(atPath: d.path(".git/ml/objects/partial"), withIntermediateDirectories: true)
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: d.path(".git/ml/objects/partial/\(weights)")))
        let resumed = try d.ml(["pull"], env: env)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try d.ml("model", "download", "churn:1", "got").status == 0)
        let resumedSame = d.read("got/weights.bin") == weightsText
        #expect(resumedSame)
        #expect(!FileManager.default.fileExists(atPath: d.path(".git/ml/objects/partial/\(weights)")))
    }
}
