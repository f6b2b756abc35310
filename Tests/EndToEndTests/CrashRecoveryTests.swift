import Foundation
import Testing

/// git-ml killed while it finishes a run, or stopped by a full disk: nothing it stored is
/// left unnamed, and what the run logged is recovered into a final record.
@Suite("crash windows and full disks: every stored output named, lost runs recovered")
struct CrashRecoveryTests {
    /// Five outputs with bytes known to the test, three metric points and a log line.
    static let script = """
    for i in 1 2 3 4 5; do mkdir -p "$GITML_OUTPUTS/d$((i % 2))"; yes "file $i" | head -c $((i * 7000)) > "$GITML_OUTPUTS/d$((i % 2))/f$i.bin"; done
    for s in 0 1 2; do echo "{\\"key\\":\\"loss\\",\\"value\\":0.$s,\\"step\\":$s}" >> "$GITML_METRICS"; done
    echo trained
    """
    static func expected(_ i: Int) -> Data { Data(String(repeating: "file \(i)\n", count: i * 7000 / 7 + 1).utf8.prefix(i * 7000)) }
    static func path(_ i: Int) -> String { "d\(i % 2)/f\(i).bin" }

    /// Object ids in the store.
    func objects(_ repo: TestRepo) -> Set<String> {
        let root = repo.path(".git/ml/objects/sha256")
        var out = Set<String>()
        for prefix in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            for rest in (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + prefix)) ?? [] { out.insert(prefix + rest) }
        }
        return out
    }

    /// Ids a record names: its outputs and the files of its stored folders.
    func named(_ repo: TestRepo, _ record: [String: Any]) -> Set<String> {
        var out = Set<String>()
        for o in record["outputs"] as? [[String: Any]] ?? [] {
            guard let sha = o["sha256"] as? String else { continue }
            out.insert(sha)
            if let text = try? String(contentsOfFile: repo.path(".git/ml/objects/sha256/\(sha.prefix(2))/\(sha.dropFirst(2))"), encoding: .utf8), o["type"] as? String == "uri_folder" {
                for token in text.split(whereSeparator: { !$0.isHexDigit }) where token.count == 64 { out.insert(String(token)) }
            }
        }
        return out
    }

    func rawRecord(_ repo: TestRepo, _ id: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(try repo.git("cat-file", "-p", "refs/ml/runs/\(id):run.json").utf8)) as! [String: Any]
    }

    @Test("git-ml killed at each step of finishing a run: the outputs are named by a record or still in the live folder; recovery records them as lost")
    func killedWhileFinishing() throws {
        let points = ["finish:start", "store:file-hashed:1", "store:file-hashed:4", "store:object-published:1",
                      "store:object-published:3", "store:object-published:5", "finish:outputs-stored", "finish:record-written"]
        for point in points {
            let repo = try TestRepo()
            let r = try repo.ml(["run", "--", "/bin/sh", "-c", Self.script], env: ["GITML_TEST_CRASH_AT": point])
            #expect(r.status != 0, "\(point): git-ml was not killed")
            let id = try #require(runID(from: r.stderr), "\(point)")
            let live = repo.path(".git/ml/runs/\(id)")

            // What the kill left, read with git alone (a git-ml command would recover it).
            let before = try rawRecord(repo, id)
            if before["status"] as? String == "running" {
                for i in 1...5 {
                    #expect(FileManager.default.contents(atPath: live + "/outputs/" + Self.path(i)) == Self.expected(i),
                            "\(point): output \(i) is neither recorded nor in the live folder")
                }
                let fsck = try repo.ml("fsck")
                #expect(fsck.stdout.contains("leftover: .git/ml/runs/\(id)") && fsck.stdout.contains("git ml recover"), "\(point): \(fsck.stdout)")
            } else {
                #expect(before["status"] as? String == "completed", "\(point)")
                #expect(objects(repo).isSubset(of: named(repo, before)), "\(point): a stored object no record names")
            }

            let recover = try repo.ml("recover")
            #expect(recover.status == 0, "\(point): \(recover.stderr)")
            let after = try rawRecord(repo, id)
            let status = after["status"] as? String
            #expect(status == "lost" || status == "completed", "\(point): \(status ?? "-")")
            if status == "lost" {
                #expect((after["status_reason"] as? String ?? "").contains("recovered by git ml recover"), "\(point)")
                #expect(((after["metrics"] as? [String: Any])?["loss"] as? [String: Any])?["steps"] as? Int == 3, "\(point): the logged points")
                #expect(try repo.git("cat-file", "-p", "refs/ml/runs/\(id):logs/output.log").contains("trained"), "\(point): the log")
            }
            #expect(!FileManager.default.fileExists(atPath: live), "\(point): the live folder is removed once recorded")
            #expect(objects(repo) == named(repo, after), "\(point): every stored object is named by the record")
            let out = repo.path("restored")
            #expect(try repo.ml("checkout", id, "--outputs", out).status == 0, "\(point)")
            for i in 1...5 {
                #expect(FileManager.default.contents(atPath: out + "/" + Self.path(i)) == Self.expected(i), "\(point): output \(i) restored")
            }
            let fsck = try repo.ml("fsck")
            #expect(fsck.status == 0 && !fsck.stdout.contains("leftover"), "\(point): \(fsck.stdout)")
        }
    }

    @Test("a command that meets a lost run recovers it: git ml runs and show write the final record and free the live folder")
    func commandsRecoverWhatTheyMeet() throws {
        let repo = try TestRepo()
        let r = try repo.ml(["run", "--", "/bin/sh", "-c", Self.script], env: ["GITML_TEST_CRASH_AT": "finish:start"])
        let id = try #require(runID(from: r.stderr))
        #expect(FileManager.default.fileExists(atPath: repo.path(".git/ml/runs/\(id)")))
        let runs = try repo.ml("runs")
        #expect(runs.stdout.contains("lost"), "\(runs.stdout)")
        #expect(try rawRecord(repo, id)["status"] as? String == "lost")
        #expect(!FileManager.default.fileExists(atPath: repo.path(".git/ml/runs/\(id)")))
        let show = try repo.ml("show", id)
        #expect(show.stdout.contains("lost") && show.stdout.contains("loss"), "\(show.stdout)")
        #expect(try repo.ml("recover").stdout == "no lost runs on this machine\n")
    }

    @Test("a full disk: the run's points and outputs stay in its live folder, and once space is freed recovery records them")
    func fullDisk() throws {
        let mount = FileManager.default.temporaryDirectory.appendingPathComponent("gitml-full-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mount) }
        let m = try exec(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mount], cwd: "/")
        if m.status != 0 {
            print("CrashRecoveryTests.fullDisk skipped: cannot mount a tmpfs here (\(m.stderr.trimmingCharacters(in: .whitespacesAndNewlines))); it needs root or CAP_SYS_ADMIN")
            return
        }
        defer { _ = try? exec(["umount", "-l", mount], cwd: "/") }
        let repo = try TestRepo(in: mount)
        // The command fills the disk after writing its outputs and metrics.
        let fill = Self.script + "\nhead -c 100000000 /dev/zero > \"$GITML_OUTPUTS/../filler\" 2>/dev/null; true\n"
        let r = try repo.ml(["run", "--", "/bin/sh", "-c", fill])
        #expect(r.status != 0, "the record cannot be written on a full disk: \(r.stderr)")
        let id = try #require(runID(from: r.stderr))
        #expect(r.stderr.contains("git ml recover"), "the error says what to do: \(r.stderr)")
        let live = repo.path(".git/ml/runs/\(id)")
        #expect(FileManager.default.fileExists(atPath: live + "/metrics.jsonl"), "the logged points are kept")
        for i in 1...5 { #expect(FileManager.default.contents(atPath: live + "/outputs/" + Self.path(i)) == Self.expected(i)) }

        try FileManager.default.removeItem(atPath: live + "/filler")
        let recover = try repo.ml("recover")
        #expect(recover.status == 0, "\(recover.stderr)")
        let after = try rawRecord(repo, id)
        #expect(after["status"] as? String == "lost")
        #expect(((after["metrics"] as? [String: Any])?["loss"] as? [String: Any])?["steps"] as? Int == 3)
        let out = repo.path("restored")
        #expect(try repo.ml("checkout", id, "--outputs", out).status == 0)
        for i in 1...5 { #expect(FileManager.default.contents(atPath: out + "/" + Self.path(i)) == Self.expected(i)) }
        #expect(!FileManager.default.fileExists(atPath: live))
    }

    @Test("git-ml killed while its command runs on: the run is not lost while the command lives; once it ends, recovery records what it logged after the kill")
    func commandOutlivesGitML() throws {
        let repo = try TestRepo()
        let gate = repo.path("gate"), started = repo.path("started"), ended = repo.path("ended")
        let script = """
        echo '{"key":"loss","value":0.5,"step":0}' >> "$GITML_METRICS"; touch \(started)
        while [ ! -e \(gate) ]; do sleep 0.05; done
        echo '{"key":"loss","value":0.25,"step":1}' >> "$GITML_METRICS"; echo late > "$GITML_OUTPUTS/late.txt"
        touch \(ended)
        """
        let (process, _) = try repo.startInBackground(["run", "--", "/bin/sh", "-c", script])
        let id = try #require(try repo.runIDs().last)
        #expect(try waitUntil(20) { FileManager.default.fileExists(atPath: started) })
        kill(process.processIdentifier, SIGKILL)
        // Not waitUntilExit: the process object learns of the exit only when every copy of a
        // descriptor it gave git-ml is closed, and the command (which outlives git-ml) holds one.
        let pid = process.processIdentifier
        #expect(try waitUntil(20) {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            return stat.isEmpty || stat.split(separator: ")").last?.dropFirst().first == "Z"
        })

        // The command still holds the run's lock: nothing takes the run for lost.
        let runs = try repo.ml("runs", "--json")
        #expect(runs.stdout.contains("\"running\""), "\(runs.stdout)")
        #expect(try repo.ml("recover").stdout == "no lost runs on this machine\n")
        #expect(try repo.ml("recover", id).status != 0)
        #expect(try rawRecord(repo, id)["status"] as? String == "running")

        FileManager.default.createFile(atPath: gate, contents: nil)
        #expect(try waitUntil(20) { FileManager.default.fileExists(atPath: ended) })
        // The shell exits right after; recovery waits for its lock to be let go.
        #expect(try waitUntil(20) { try repo.ml("recover").stdout.contains("recovered run \(id)") })
        let after = try rawRecord(repo, id)
        #expect(after["status"] as? String == "lost")
        #expect(((after["metrics"] as? [String: Any])?["loss"] as? [String: Any])?["steps"] as? Int == 2, "the point logged after the kill")
        let out = repo.path("restored")
        #expect(try repo.ml("checkout", id, "--outputs", out).status == 0)
        #expect(FileManager.default.contents(atPath: out + "/late.txt") == Data("late\n".utf8))
        process.waitUntilExit()
    }

    @Test("a recovered job run keeps its job file; a lost run whose live folder is gone gets its last checkpoint")
    func recoveredJobsAndFolderlessRuns() throws {
        let repo = try TestRepo()
        try repo.write("job.yml", "command: echo trained\ndisplay_name: kept-job\n")
        let r = try repo.ml(["run", "-f", "job.yml"], env: ["GITML_TEST_CRASH_AT": "finish:start"])
        let id = try #require(runID(from: r.stderr), "\(r.stderr)")
        #expect(try repo.ml("recover").status == 0)
        #expect(try rawRecord(repo, id)["status"] as? String == "lost")
        #expect(try repo.git("cat-file", "-p", "refs/ml/runs/\(id):job.yaml").contains("display_name: kept-job"))

        let second = try repo.ml(["run", "--", "/bin/sh", "-c", Self.script], env: ["GITML_TEST_CRASH_AT": "finish:start"])
        let secondID = try #require(runID(from: second.stderr))
        try FileManager.default.removeItem(atPath: repo.path(".git/ml/runs/\(secondID)"))
        let recover = try repo.ml("recover")
        #expect(recover.stdout.contains("recovered run \(secondID)") && recover.stdout.contains("last checkpoint"), "\(recover.stdout)")
        let after = try rawRecord(repo, secondID)
        #expect(after["status"] as? String == "lost")
        #expect((after["status_reason"] as? String ?? "").contains("live folder was gone"))
    }

    @Test("storing the outputs fails: the run is recorded as failed, and its live folder is kept, named by fsck, and not removed by recover")
    func storingFailsKeepsTheFolder() throws {
        let repo = try TestRepo()
        let r = try repo.ml(["run", "--", "/bin/sh", "-c", "echo kept > \"$GITML_OUTPUTS/model.bin\"; mkfifo \"$GITML_OUTPUTS/pipe\""])
        #expect(r.status != 0)
        let id = try #require(runID(from: r.stderr))
        let record = try rawRecord(repo, id)
        #expect(record["status"] as? String == "failed")
        #expect((record["status_reason"] as? String ?? "").contains("kept in .git/ml/runs/\(id)"), "\(record)")
        let live = repo.path(".git/ml/runs/\(id)")
        #expect(FileManager.default.contents(atPath: live + "/outputs/model.bin") == Data("kept\n".utf8))
        let fsck = try repo.ml("fsck")
        #expect(fsck.stdout.contains("kept because its outputs could not be stored"), "\(fsck.stdout)")
        #expect(try repo.ml("recover").status == 0)
        #expect(FileManager.default.contents(atPath: live + "/outputs/model.bin") == Data("kept\n".utf8), "recover took a kept folder for a leftover")
    }
}
