import Foundation
import Testing

@Suite("looking at runs, and bad input")
struct CommandTests {
    @Test("outside a repository, in an empty one and in a bare one: one line saying what to do")
    func repositoryErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gitml-norepo-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outside = try exec([gitmlBinary, "run", "--", "true"], cwd: dir, env: ["GIT_CEILING_DIRECTORIES": dir + "/.."])
        #expect(outside.status != 0)
        #expect(outside.stderr.hasPrefix("git-ml: not a git repository"))
        #expect(outside.stderr.split(separator: "\n").count == 1)

        let empty = try TestRepo(commit: false)
        let noCommit = try empty.ml("run", "--", "true")
        #expect(noCommit.status != 0)
        #expect(noCommit.stderr.contains("no commit yet") && noCommit.stderr.contains("git commit"))
        #expect(try empty.runIDs().isEmpty)

        let bare = dir + "/bare.git"
        _ = try exec(["git", "init", "-q", "--bare", bare], cwd: dir)
        let inBare = try exec([gitmlBinary, "runs"], cwd: bare)
        #expect(inBare.status != 0)
        #expect(inBare.stderr.contains("bare repository") && inBare.stderr.contains("clone"))
    }

    @Test("runs lists, filters and prints JSON; show, logs and metrics find a run by prefix, name or latest")
    func listAndShow() throws {
        let repo = try TestRepo()
        _ = try repo.ml(["run", "--name", "alpha", "--experiment", "exp1", "--", "sh", "-c",
                         #"echo hello-alpha; printf '{"key":"acc","value":0.5}\n{"key":"acc","value":0.75}\n' >> "$GITML_METRICS""#])
        _ = try repo.ml("run", "--name", "beta", "--", "false")
        let ids = try repo.runIDs()
        #expect(ids.count == 2)

        let table = try repo.ml("runs")
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("ID"))
        #expect(lines[1].contains("beta") && lines[1].contains("failed"), "newest first")
        #expect(lines[2].contains("alpha") && lines[2].contains("completed") && lines[2].contains("0.75"))

        let json = try JSONSerialization.jsonObject(with: Data(try repo.ml("runs", "--json").stdout.utf8)) as! [[String: Any]]
        #expect(json.map { $0["name"] as? String } == ["beta", "alpha"])
        let failed = try repo.ml("runs", "--status", "failed", "--json").stdout
        #expect(failed.contains("beta") && !failed.contains("alpha"))
        let exp = try repo.ml("runs", "--experiment", "exp1", "--json").stdout
        #expect(exp.contains("alpha") && !exp.contains("beta"))
        #expect(try repo.ml("runs", "--commit", "HEAD", "--limit", "1", "--json").stdout.contains("beta"))
        #expect(try repo.ml("runs", "--status", "nope").status != 0)

        let alpha = ids[0]
        let byPrefix = try repo.ml("show", String(alpha.prefix(20)), "--json")
        #expect(byPrefix.status == 0)
        let shown = try JSONSerialization.jsonObject(with: Data(byPrefix.stdout.utf8)) as! [String: Any]
        #expect(shown["id"] as? String == alpha)
        #expect(try repo.ml("show", "latest").stdout.contains("beta"))
        #expect(try repo.ml("show", "alpha").stdout.contains(alpha))
        #expect(try repo.ml("logs", "alpha").stdout == "hello-alpha\n")
        let metrics = try repo.ml("metrics", alpha)
        #expect(metrics.stdout.contains("acc") && metrics.stdout.contains("0.75"))
        let series = try repo.ml("metrics", alpha, "--key", "acc", "--json").stdout
        #expect((try JSONSerialization.jsonObject(with: Data(series.utf8)) as! [Any]).count == 2)
    }

    @Test("logs --follow prints the output of a live run until it ends")
    func logsFollow() throws {
        let repo = try TestRepo()
        let (p, _) = try repo.startInBackground(["run", "--", "sh", "-c", "echo first; sleep 1; echo second"])
        let followed = try repo.ml("logs", "latest", "--follow")
        p.waitUntilExit()
        #expect(followed.status == 0)
        #expect(followed.stdout == "first\nsecond\n")
    }

    @Test("an --output the command did not write fails the run, which is still recorded")
    func missingOutput() throws {
        let repo = try TestRepo()
        let r = try repo.ml("run", "--output", "model.pkl", "--", "true")
        #expect(r.status == 1)
        let record = try repo.record(try repo.runIDs()[0])
        #expect(record["status"] as? String == "failed")
        #expect((record["status_reason"] as? String)?.contains("model.pkl") == true)
        // A command that failed anyway is recorded with its own exit code and reason.
        let failing = try repo.ml("run", "--output", "model.pkl", "--", "sh", "-c", "exit 4")
        #expect(failing.status == 4)
        #expect(try repo.record(try repo.runIDs()[1])["status_reason"] as? String == "exited with code 4")
    }

    @Test("every command has --help with examples")
    func helpHasExamples() throws {
        let repo = try TestRepo()
        for command in ["init", "run", "runs", "show", "logs", "metrics", "diff", "checkout", "fsck", "recover", "reindex", "hook", "data",
                        "data add", "data status", "data checkout", "data log"] {
            let r = try repo.ml(command.split(separator: " ").map(String.init) + ["--help"])
            #expect(r.status == 0, "\(command)")
            #expect(r.stdout.contains("Examples:") && r.stdout.contains("git ml \(command)"), "\(command) --help: \(r.stdout)")
            #expect(r.stdout.contains("USAGE: git-ml \(command)"), "\(command) --help: \(r.stdout)")
        }
        // The root's help, in every spelling, is git-ml's own (examples, version, subcommands).
        for args in [["--help"], ["-h"], ["help"], []] {
            let r = try repo.ml(args)
            #expect(r.stdout.contains("USAGE: git-ml <subcommand>") && r.stdout.contains("git ml run -- python train.py")
                    && r.stdout.contains("--version") && r.stdout.contains("See 'git-ml help <subcommand>'"),
                    "git-ml \(args.joined(separator: " ")): \(r.stdout)")
        }
        let helpRun = try repo.ml("help", "run")
        #expect(helpRun.stdout.contains("USAGE: git-ml run"), "\(helpRun.stdout)")
        let version = try repo.ml("--version").stdout
        #expect(version.range(of: #"^[0-9]+\.[0-9]+\.[0-9]+\n$"#, options: .regularExpression) != nil, "\(version)")
    }

    @Test("an unknown run id gets an error listing the closest ids")
    func unknownRun() throws {
        let repo = try TestRepo()
        _ = try repo.ml("run", "--name", "gamma", "--", "true")
        let id = try repo.runIDs()[0]
        let wrong = String(id.prefix(24)) + "zz"
        let r = try repo.ml("show", wrong)
        #expect(r.status != 0)
        #expect(r.stderr.contains("no run '\(wrong)'"))
        #expect(r.stderr.contains(id), "closest ids: \(r.stderr)")
    }

    @Test("works from a subfolder and with GIT_DIR / GIT_WORK_TREE, like git")
    func subfolderAndEnvironment() throws {
        let repo = try TestRepo()
        try FileManager.default.createDirectory(atPath: repo.path("src/deep"), withIntermediateDirectories: true)
        let r = try repo.ml(["run", "--", "pwd"], cwd: repo.path("src/deep"))
        #expect(r.status == 0)
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("src/deep"))
        let record = try repo.record(try repo.runIDs()[0])
        #expect(record["working_directory"] as? String == "src/deep")

        let elsewhere = FileManager.default.temporaryDirectory.path
        let env = ["GIT_DIR": repo.path(".git"), "GIT_WORK_TREE": repo.root]
        let listed = try exec([gitmlBinary, "runs", "--json"], cwd: elsewhere, env: env)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains(try repo.runIDs()[0]))
    }

    @Test("diff shows params, metrics, code and output changes between two runs")
    func diffRuns() throws {
        let repo = try TestRepo(files: ["train.sh": "echo v1 > \"$GITML_OUTPUTS/model.txt\"\n"])
        _ = try repo.ml("run", "--name", "one", "--param", "lr=0.1", "--", "sh", "train.sh")
        try repo.write("train.sh", "echo v2 > \"$GITML_OUTPUTS/model.txt\"\necho extra > \"$GITML_OUTPUTS/extra.txt\"\n")
        _ = try repo.ml("run", "--name", "two", "--param", "lr=0.2", "--", "sh", "train.sh")
        let d = try repo.ml("diff", "one", "two", "--patch")
        #expect(d.status == 0, "\(d.stderr)")
        #expect(d.stdout.contains("lr") && d.stdout.contains("0.1") && d.stdout.contains("0.2"))
        #expect(d.stdout.contains("modified") && d.stdout.contains("train.sh"))
        #expect(d.stdout.contains("+echo v2"))
        let json = try JSONSerialization.jsonObject(with: Data(try repo.ml("diff", "one", "two", "--json").stdout.utf8)) as! [String: Any]
        let outputs = json["outputs"] as! [[String: Any]]
        #expect(outputs.map { $0["path"] as? String } == ["extra.txt", "model.txt"])
        #expect(outputs.map { $0["change"] as? String } == ["added", "modified"])
    }

    @Test("fsck passes on a healthy store and names the object with a flipped byte")
    func fsckFindsFlippedByte() throws {
        let repo = try TestRepo()
        _ = try repo.ml("run", "--", "sh", "-c", "printf 'model weights' > \"$GITML_OUTPUTS/w.bin\"")
        let ok = try repo.ml("fsck")
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains(": ok"))
        let objectHex = try sha256FromString("model weights")
        let path = repo.path(".git/ml/objects/sha256/\(objectHex.prefix(2))/\(objectHex.dropFirst(2))")
        #expect(FileManager.default.fileExists(atPath: path))
        chmod(path, 0o644)
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[3] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        let bad = try repo.ml("fsck")
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("damaged: object \(objectHex)"))
    }

    @Test("init is idempotent and keeps the user's own hook, chained")
    func initChainsHooks() throws {
        let repo = try TestRepo()
        try repo.write(".git/hooks/pre-push", "#!/bin/sh\necho user-hook-ran >> \"$(git rev-parse --git-dir)/user-hook.log\"\n")
        chmod(repo.path(".git/hooks/pre-push"), 0o755)
        let first = try repo.ml("init")
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("pre-push.local"))
        #expect(repo.read(".mlops/config.yaml")?.contains("experiment: Default") == true)
        #expect(repo.read(".git/hooks/pre-push.local")?.contains("user-hook-ran") == true)
        #expect(repo.read(".git/hooks/pre-push")?.contains("git-ml hook pre-push") == true)
        try repo.write(".mlops/config.yaml", "experiment: mine\n")
        let second = try repo.ml("init", "--json")
        #expect(second.status == 0)
        let report = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as! [String: Any]
        #expect(report["created_config"] as? Bool == false)
        #expect((report["hooks"] as? [[String: Any]])?.first?["action"] as? String == "unchanged")
        #expect(repo.read(".mlops/config.yaml") == "experiment: mine\n")
    }

    @Test("a bad config names the file and line")
    func badConfig() throws {
        let repo = try TestRepo()
        try repo.write(".mlops/config.yaml", "experiment: x\ncolour: blue\n")
        let r = try repo.ml("run", "--", "true")
        #expect(r.status == 2)
        #expect(r.stderr.contains(".mlops/config.yaml:2: unknown key 'colour'"))
        #expect(try repo.runIDs().isEmpty)
    }

    @Test("the pre-push hook publishes run records (one ledger ref, to a remote given by path) and runs the user's chained hook")
    func prePushPushesRecords() throws {
        let repo = try TestRepo()
        let remote = repo.path("../remote-\(UUID().uuidString.prefix(6)).git")
        defer { try? FileManager.default.removeItem(atPath: remote) }
        _ = try exec(["git", "init", "-q", "--bare", remote], cwd: "/")
        try repo.write(".git/hooks/pre-push", "#!/bin/sh\necho chained >> \"$(git rev-parse --git-dir)/user-hook.log\"\n")
        chmod(repo.path(".git/hooks/pre-push"), 0o755)
        _ = try repo.ml("init")
        _ = try repo.ml("run", "--", "true")
        let id = try repo.runIDs()[0]
        let binDir = URL(fileURLWithPath: gitmlBinary).deletingLastPathComponent().path
        let push = try exec(["git", "push", "-q", remote, "main"], cwd: repo.root,
                            env: ["PATH": binDir + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")])
        #expect(push.status == 0, "\(push.stderr)")
        let remoteRefs = try exec(["git", "for-each-ref", "--format=%(refname)"], cwd: remote).stdout
        #expect(remoteRefs.contains("refs/ml/ledger/test@example.com"))
        #expect(!remoteRefs.contains("refs/ml/runs/"), "runs travel in the ledger, not as refs of their own")
        let ledger = try exec(["git", "show", "refs/ml/ledger/test@example.com:ledger"], cwd: remote).stdout
        #expect(ledger.contains("refs/ml/runs/\(id)"), "\(ledger)")
        #expect(repo.read(".git/user-hook.log") == "chained\n")
    }
}

func sha256FromString(_ s: String) throws -> String {
    let r = try exec(["sh", "-c", "printf '%s' \"$1\" | sha256sum", "sh", s], cwd: "/")
    return String(r.stdout.prefix(64))
}
