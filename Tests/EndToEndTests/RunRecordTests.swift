import Foundation
import Testing

@Suite("git ml run records a run against its commit")
struct RunRecordTests {
    @Test("the run commit's first parent is HEAD and run.json names the commit and status")
    func recordTiesToHead() throws {
        let repo = try TestRepo()
        let head = try repo.git("rev-parse", "HEAD")
        let r = try repo.ml("run", "--name", "first", "--param", "lr=0.1", "--tag", "team=vision", "--", "echo", "hello")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "hello\n")
        let ids = try repo.runIDs()
        #expect(ids.count == 1)
        let id = ids[0]
        #expect(try repo.git("rev-parse", "refs/ml/runs/\(id)^1") == head)
        let record = try repo.record(id)
        #expect(record["status"] as? String == "completed")
        #expect(record["exit_code"] as? Int == 0)
        #expect(record["name"] as? String == "first")
        #expect(record["command"] as? [String] == ["echo", "hello"])
        let code = try #require(record["code"] as? [String: Any])
        #expect(code["commit"] as? String == head)
        #expect(code["dirty"] as? Bool == false)
        #expect((record["params"] as? [String: String])?["lr"] == "0.1")
        #expect((record["tags"] as? [String: String])?["team"] == "vision")
        let resources = try #require(record["resources"] as? [String: Any])
        #expect((resources["wall_seconds"] as? Double ?? -1) >= 0)
        #expect((resources["peak_memory_bytes"] as? Int ?? 0) > 0)
        // The log is in the run's tree, and the note on HEAD lists the run.
        #expect(try repo.git("show", "refs/ml/runs/\(id):logs/output.log") == "hello")
        #expect(try repo.git("notes", "--ref=ml", "show", "HEAD").contains("git-ml run \(id) completed name=first"))
    }

    @Test("a dirty edit is in the snapshot and comes back byte-identical with checkout --code")
    func dirtySnapshotRoundTrip() throws {
        let repo = try TestRepo(files: ["train.py": "print('v1')\n", "keep.txt": "kept\n", "gone.txt": "bye\n", ".gitignore": "*.log\n"])
        try repo.write("train.py", "print('v2: uncommitted')\n")
        try repo.write("new/untracked.py", "x = 1\n")
        try repo.write("ignored.log", "noise\n")
        try FileManager.default.removeItem(atPath: repo.path("gone.txt"))
        try repo.git("add", "keep.txt")
        let indexBefore = FileManager.default.contents(atPath: repo.path(".git/index"))
        let r = try repo.ml("run", "--", "true")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.contents(atPath: repo.path(".git/index")) == indexBefore, "the index must not change")
        #expect(try repo.git("status", "--porcelain").contains("train.py"), "the work tree must not change")
        let id = try repo.runIDs()[0]
        let code = try #require(try repo.record(id)["code"] as? [String: Any])
        #expect(code["dirty"] as? Bool == true)
        #expect(Set(code["changed_paths"] as? [String] ?? []) == ["train.py", "new/untracked.py", "gone.txt"])

        let out = repo.path("../restored-\(id)")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let c = try repo.ml("checkout", id, "--code", out)
        #expect(c.status == 0, "\(c.stderr)")
        #expect(FileManager.default.contents(atPath: out + "/train.py") == FileManager.default.contents(atPath: repo.path("train.py")))
        #expect(FileManager.default.contents(atPath: out + "/new/untracked.py") == Data("x = 1\n".utf8))
        #expect(!FileManager.default.fileExists(atPath: out + "/gone.txt"))
        #expect(!FileManager.default.fileExists(atPath: out + "/ignored.log"))
    }

    @Test("untracked files named like secrets stay out of the snapshot, named in a warning and the record; a setting keeps them")
    func secretsStayOutOfSnapshots() throws {
        let repo = try TestRepo(files: ["train.py": "print(1)\n"])
        for (name, text) in [(".env", "TOKEN=abc\n"), ("keys/server.pem", "pem\n"), ("conf/credentials.json", "{}\n"),
                             ("id_ed25519", "key\n"), ("notes.txt", "notes\n"), ("staged.key", "shared on purpose\n")] {
            try repo.write(name, text)
        }
        try repo.git("add", "staged.key")
        let r = try repo.ml("run", "--", "true")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("git-ml: warning: left out of the code snapshot (untracked, named like secrets): .env, conf/credentials.json, id_ed25519, keys/server.pem; add them to .gitignore, or set snapshot_secrets: true"), "\(r.stderr)")
        let id = try #require(runID(from: r.stderr))
        let code = try #require(try repo.record(id)["code"] as? [String: Any])
        #expect(Set(code["changed_paths"] as? [String] ?? []) == ["notes.txt", "staged.key"])
        #expect(code["left_out"] as? [String] == [".env", "conf/credentials.json", "id_ed25519", "keys/server.pem"])
        let out = repo.path("../code-\(id)")
        defer { try? FileManager.default.removeItem(atPath: out) }
        #expect(try repo.ml("checkout", id, "--code", out).status == 0)
        #expect(FileManager.default.fileExists(atPath: out + "/notes.txt") && FileManager.default.fileExists(atPath: out + "/staged.key"))
        for name in [".env", "keys/server.pem", "conf/credentials.json", "id_ed25519"] {
            #expect(!FileManager.default.fileExists(atPath: out + "/" + name), "\(name) is in the snapshot")
        }
        // Only secrets untracked: the run is clean, with the warning.
        try repo.git("add", "notes.txt"); try repo.git("commit", "-q", "-m", "notes")
        let clean = try repo.ml("run", "--", "true")
        let cleanID = try #require(runID(from: clean.stderr))
        #expect((try repo.record(cleanID)["code"] as? [String: Any])?["dirty"] as? Bool == false, "\(clean.stderr)")

        // A secret committed once and then taken out of the index (`git rm --cached`) is untracked:
        // it stays out of the snapshot, though the last commit still holds it.
        try repo.git("add", "-f", ".env"); try repo.git("commit", "-q", "-m", "oops")
        try repo.write(".env", "TOKEN=rotated\n")
        try repo.git("rm", "-q", "--cached", ".env")
        let removed = try repo.ml("run", "--", "true")
        let removedID = try #require(runID(from: removed.stderr))
        let removedCode = try #require(try repo.record(removedID)["code"] as? [String: Any])
        #expect((removedCode["left_out"] as? [String] ?? []).contains(".env"), "\(removed.stderr)")
        let removedOut = repo.path("../code-\(removedID)")
        defer { try? FileManager.default.removeItem(atPath: removedOut) }
        #expect(try repo.ml("checkout", removedID, "--code", removedOut).status == 0)
        #expect(!FileManager.default.fileExists(atPath: removedOut + "/.env"), "the untracked .env is in the snapshot")
        try repo.git("commit", "-q", "-m", "drop .env")

        try repo.write(".mlops/config.yaml", "snapshot_secrets: true\n")
        let kept = try repo.ml("run", "--", "true")
        #expect(!kept.stderr.contains("left out"), "\(kept.stderr)")
        let keptID = try #require(runID(from: kept.stderr))
        let keptCode = try #require(try repo.record(keptID)["code"] as? [String: Any])
        #expect((keptCode["changed_paths"] as? [String] ?? []).contains(".env") && keptCode["left_out"] == nil)
    }

    @Test("outputs come back byte-identical with checkout --outputs; links are recorded, not followed")
    func outputsRoundTrip() throws {
        let repo = try TestRepo()
        try repo.write("secret.txt", "outside\n")
        let script = """
        set -e
        head -c 3000000 /dev/urandom > "$GITML_OUTPUTS/weights.bin"
        mkdir -p "$GITML_OUTPUTS/sub" && printf 'cfg' > "$GITML_OUTPUTS/sub/config.json"
        printf '#!/bin/sh\\necho hi\\n' > "$GITML_OUTPUTS/predict.sh" && chmod +x "$GITML_OUTPUTS/predict.sh"
        ln -s ../../../secret.txt "$GITML_OUTPUTS/escape"
        mkdir -p report && printf 'acc 0.9' > report/summary.txt
        printf 'pkl' > model.pkl
        cp "$GITML_OUTPUTS/weights.bin" /tmp/gitml-weights-$GITML_RUN_ID
        """
        let r = try repo.ml(["run", "--output", "model.pkl", "--output", "report", "--", "sh", "-c", script])
        #expect(r.status == 0, "\(r.stderr)")
        let id = try repo.runIDs()[0]
        let copy = "/tmp/gitml-weights-\(id)"
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let outputs = try #require(try repo.record(id)["outputs"] as? [[String: Any]])
        #expect(outputs.map { $0["name"] as? String } == ["outputs", "model.pkl", "report"])
        #expect(outputs[0]["files"] as? Int == 4)

        let out = repo.path("../outputs-\(id)")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let c = try repo.ml("checkout", id, "--outputs", out)
        #expect(c.status == 0, "\(c.stderr)")
        #expect(try sha256(out + "/weights.bin") == sha256(copy))
        #expect(FileManager.default.contents(atPath: out + "/sub/config.json") == Data("cfg".utf8))
        #expect(FileManager.default.isExecutableFile(atPath: out + "/predict.sh"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + "/escape") == "../../../secret.txt")
        #expect(FileManager.default.contents(atPath: out + "/model.pkl") == Data("pkl".utf8))
        #expect(FileManager.default.contents(atPath: out + "/report/summary.txt") == Data("acc 0.9".utf8))
        // The link target was never stored: no object holds "outside\n".
        let objects = try exec(["sh", "-c", "cat .git/ml/objects/sha256/*/* | grep -c outside || true"], cwd: repo.root)
        #expect(objects.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test("the command's exit code is git-ml's; a missing command gives a failed record with 127")
    func exitCodes() throws {
        let repo = try TestRepo()
        let failing = try repo.ml("run", "--", "sh", "-c", "echo oops >&2; exit 3")
        #expect(failing.status == 3)
        #expect(failing.stderr.contains("oops"))
        let typo = try repo.ml("run", "--nmae", "x", "--", "true")
        #expect(typo.status != 0)
        #expect(typo.stderr.contains("unknown option '--nmae'"))
        let missing = try repo.ml("run", "--", "no-such-command-gitml")
        #expect(missing.status == 127)
        let ids = try repo.runIDs()
        #expect(ids.count == 2)
        let first = try repo.record(ids[0]), second = try repo.record(ids[1])
        #expect(first["status"] as? String == "failed")
        #expect(first["exit_code"] as? Int == 3)
        #expect(second["status"] as? String == "failed")
        #expect(second["exit_code"] as? Int == 127)
        #expect((second["status_reason"] as? String)?.contains("command not found") == true)
    }

    @Test("SIGINT stops the command and still writes a canceled record")
    func sigintCancels() throws {
        let repo = try TestRepo()
        let (p, out) = try repo.startInBackground(["run", "--", "sh", "-c", "echo started; sleep 30"])
        _ = out.fileHandleForReading.availableData  // the command's first line: it is running
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        let record = try repo.record(try repo.runIDs()[0])
        #expect(record["status"] as? String == "canceled")
        #expect((record["status_reason"] as? String)?.contains("SIGINT") == true)
        #expect(record["end_time"] != nil)
    }

    @Test("SIGTERM is forwarded too: the command ends and the run is recorded as canceled with 143")
    func sigtermCancels() throws {
        let repo = try TestRepo()
        let (p, out) = try repo.startInBackground(["run", "--", "sh", "-c", "trap 'echo got-term; exit 143' TERM; echo started; sleep 30 & wait"])
        _ = out.fileHandleForReading.availableData
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 143)
        let id = try repo.runIDs()[0]
        let record = try repo.record(id)
        #expect(record["status"] as? String == "canceled")
        #expect((record["status_reason"] as? String)?.contains("SIGTERM") == true)
        #expect(try repo.git("show", "refs/ml/runs/\(id):logs/output.log").contains("got-term"), "the command saw the signal and its output was kept")
    }

    @Test("a run whose git-ml process is killed shows as lost")
    func killedRunIsLost() throws {
        let repo = try TestRepo()
        let (p, _) = try repo.startInBackground(["run", "--", "sleep", "29.123"])
        let id = try repo.runIDs()[0]
        #expect(try repo.ml("runs", "--json").stdout.contains("\"running\""))
        kill(p.processIdentifier, SIGKILL)
        // The orphaned command holds inherited descriptors that Foundation watches; end it first.
        _ = try exec(["pkill", "-f", "sleep 29.123"], cwd: "/")
        p.waitUntilExit()
        let listed = try repo.ml("runs", "--status", "lost", "--json")
        #expect(listed.stdout.contains(id), "\(listed.stdout)")
        #expect(try repo.ml("show", id).stdout.contains("lost"))
    }

    @Test("a running run's record is brought up to date in git every few seconds, so a crash loses only those")
    func checkpoints() throws {
        let repo = try TestRepo()
        let script = #"for i in 1 2 3; do echo epoch $i; printf '{"key":"loss","value":0.%s,"step":%s}\n' $i $i >> "$GITML_METRICS"; done; sleep 28.456"#
        let (p, _) = try repo.startInBackground(["run", "--param", "lr=0.1", "--", "sh", "-c", script], env: ["GITML_CHECKPOINT_SECONDS": "1"])
        let id = try repo.runIDs()[0]
        // Within a few seconds the record in git holds the metrics and the log so far.
        let caughtUp = try waitUntil(20) {
            let rec = try repo.record(id)
            return (rec["metrics"] as? [String: [String: Any]])?["loss"]?["steps"] as? Int == 3
        }
        #expect(caughtUp, "the running record was checkpointed")
        let rec = try repo.record(id)
        #expect(rec["status"] as? String == "running")
        #expect(try repo.git("show", "refs/ml/runs/\(id):logs/output.log").contains("epoch 3"))
        // The machine "crashes": what was checkpointed survives.
        kill(p.processIdentifier, SIGKILL)
        _ = try exec(["pkill", "-f", "sleep 28.456"], cwd: "/")
        p.waitUntilExit()
        let shown = try repo.ml("show", id, "--json")
        let after = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as! [String: Any]
        #expect((after["metrics"] as? [String: [String: Any]])?["loss"]?["last"] as? Double == 0.3)
        #expect(try repo.ml("runs", "--status", "lost").stdout.contains(id))
    }

    @Test("eight runs at once give eight records and an intact note")
    func concurrentRuns() throws {
        let repo = try TestRepo()
        let group = DispatchGroup()
        let statuses = LockedData()
        for i in 0..<8 {
            group.enter()
            DispatchQueue.global().async {
                let r = try? repo.ml("run", "--name", "c\(i)", "--", "sh", "-c", "echo run \(i)")
                if r?.status != 0 { statuses.set(Data("run \(i) failed: \(r?.stderr ?? "")".utf8)) }
                group.leave()
            }
        }
        group.wait()
        #expect(statuses.get().isEmpty, "\(String(decoding: statuses.get(), as: UTF8.self))")
        let ids = try repo.runIDs()
        #expect(ids.count == 8)
        let note = try repo.git("notes", "--ref=ml", "show", "HEAD")
        for id in ids { #expect(note.contains("git-ml run \(id) completed")) }
        #expect(note.split(separator: "\n").count == 8)
    }

    @Test("malformed metric lines are skipped and counted; the run is kept")
    func malformedMetrics() throws {
        let repo = try TestRepo()
        let script = #"""
        printf '{"key":"loss","value":0.5,"step":0}\n' >> "$GITML_METRICS"
        printf 'not json\n' >> "$GITML_METRICS"
        printf '{"key":"loss","value":NaN}\n' >> "$GITML_METRICS"
        printf '{"value":1}\n' >> "$GITML_METRICS"
        printf '{"key":"loss","value":0.25,"step":1}\n' >> "$GITML_METRICS"
        """#
        let r = try repo.ml(["run", "--", "sh", "-c", script])
        #expect(r.status == 0, "\(r.stderr)")
        let record = try repo.record(try repo.runIDs()[0])
        #expect(record["metrics_skipped"] as? Int == 3)
        let loss = try #require((record["metrics"] as? [String: Any])?["loss"] as? [String: Any])
        #expect(loss["last"] as? Double == 0.25)
        #expect(loss["steps"] as? Int == 2)
    }

    @Test("the Python helper logs metrics and params, shown live and recorded")
    func pythonHelper() throws {
        let repo = try TestRepo(files: ["train.py": """
        import os, gitml
        gitml.log_param("optimizer", "sgd")
        for step in range(3):
            gitml.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 4}, step=step)
        with open(os.path.join(gitml.outputs_dir(), "model.txt"), "w") as f:
            f.write("trained")
        print("run id", gitml.run_id())
        """])
        let r = try repo.ml("run", "--", "python3", "train.py")
        #expect(r.status == 0, "\(r.stderr)")
        let id = try repo.runIDs()[0]
        #expect(r.stdout.contains("run id \(id)"))
        #expect(r.stderr.contains("step 2"), "live metrics: \(r.stderr)")
        let record = try repo.record(id)
        #expect((record["params"] as? [String: String])?["optimizer"] == "sgd")
        let metrics = try #require(record["metrics"] as? [String: [String: Any]])
        #expect(metrics["loss"]?["min"] as? Double == 1.0 / 3)
        #expect(metrics["acc"]?["last"] as? Double == 0.5)
        let series = try repo.git("show", "refs/ml/runs/\(id):metrics.jsonl")
        #expect(series.split(separator: "\n").count == 6)
    }

    @Test("logs are stored byte for byte, whatever the repository's attributes say")
    func logsIgnoreAttributes() throws {
        // `eol=crlf` makes git turn CRLF into LF when it stores a work-tree file; a log is not one.
        let repo = try TestRepo(files: ["README.md": "# test\n", ".gitattributes": "* text eol=crlf\n"])
        let r = try repo.ml("run", "--", "printf", "epoch 1\\r\\nepoch 2\\r\\n")
        #expect(r.status == 0, "\(r.stderr)")
        let id = try repo.runIDs()[0]
        let stored = try exec(["git", "cat-file", "blob", "refs/ml/runs/\(id):logs/output.log"], cwd: repo.root)
        #expect(Array(stored.stdout.utf8) == Array("epoch 1\r\nepoch 2\r\n".utf8))
    }

    @Test("a large log streams to the terminal and the record without being held in memory")
    func largeLogIsStreamed() throws {
        let repo = try TestRepo()
        // 200 MB of output; git-ml's own peak memory must stay far below that.
        let r = try exec(["/usr/bin/time", "-f", "maxrss=%M", gitmlBinary, "run", "--", "sh", "-c",
                          "yes 'a line of training output that repeats' | head -c 200000000"], cwd: repo.root)
        #expect(r.status == 0)
        #expect(r.stdout.utf8.count == 200_000_000)
        let rss = try #require(r.stderr.components(separatedBy: "maxrss=").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(rss < 80_000, "git-ml peak RSS \(rss) KB")
        let id = try repo.runIDs()[0]
        let size = try repo.git("cat-file", "-s", "refs/ml/runs/\(id):logs/output.log")
        #expect(size == "200000000")
    }
}
