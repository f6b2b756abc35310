import Foundation
import Testing

/// A repository where a model's training input was the output of an earlier run (two hops):
/// data/raw.csv -> prep (named output `features`) -> train (input: that file) -> churn:1.
struct TwoHopChain {
    let repo: TestRepo
    let prep: String
    let train: String
    var rawSHA: String { get throws { try sha256(repo.path("data/raw.csv")) } }
    var featuresSHA: String { get throws { try sha256(repo.path("prep-out/named-outputs/features/features.csv")) } }

    init() throws {
        repo = try TestRepo()
        try repo.write("data/raw.csv", "age,tenure\n42,3\n")
        #expect(try repo.ml("data", "add", "data/raw.csv").status == 0)
        try repo.write("prep.yml", """
            command: (cat ${{inputs.raw}}; echo 'f1,f2') > ${{outputs.features}}/features.csv
            inputs:
              raw:
                type: uri_file
                path: data/raw.csv
            outputs:
              features:
                type: uri_folder

            """)
        try repo.write("train.yml", """
            command: mkdir -p outputs/model && (cat ${{inputs.features}}; echo weights) > outputs/model/model.pkl
            inputs:
              features:
                type: uri_file
                path: prep-out/named-outputs/features/features.csv

            """)
        try repo.write(".gitignore", "prep-out/\n")
        try repo.git("add", "-A"); try repo.git("commit", "-qm", "pipeline")
        let p = try repo.ml("run", "-f", "prep.yml")
        guard p.status == 0, let prep = runID(from: p.stderr) else { throw TestFailure("prep: \(p.stderr)") }
        self.prep = prep
        guard try repo.ml("checkout", prep, "--outputs", "prep-out").status == 0 else { throw TestFailure("checkout") }
        let t = try repo.ml("run", "-f", "train.yml")
        guard t.status == 0, let train = runID(from: t.stderr) else { throw TestFailure("train: \(t.stderr)") }
        self.train = train
        let r = try repo.ml("model", "register", "churn", "--run", train, "--path", "artifacts/outputs/model")
        guard r.status == 0 else { throw TestFailure("register: \(r.stderr)") }
    }

    /// The path of a store object.
    func objectPath(_ sha: String) -> String {
        repo.path(".git/ml/objects/sha256/\(sha.prefix(2))/\(sha.dropFirst(2))")
    }

    func editRecord(_ ref: String, _ path: String, parents: [String]? = nil, _ edit: (String) -> String) throws {
        try repo.editRecord(ref, path, parents: parents, edit)
    }
}

extension TestRepo {
    /// Rewrites `file` of a record commit with `edit`, as someone editing by hand would, and points `ref` at the result.
    func editRecord(_ ref: String, _ file: String, parents: [String]? = nil, _ edit: (String) -> String) throws {
        let commit = try git("rev-parse", ref)
        let text = try git("show", "\(commit):\(file)")
        let edited = path(".git/edited.json")
        try edit(text).write(toFile: edited, atomically: true, encoding: .utf8)
        let blob = try git("hash-object", "-w", edited)
        let env = ["GIT_INDEX_FILE": path(".git/edit-index")]
        for args in [["read-tree", commit], ["update-index", "--cacheinfo", "100644,\(blob),\(file)"]] {
            let r = try exec(["git"] + args, cwd: root, env: env)
            guard r.status == 0 else { throw TestFailure("git \(args): \(r.stderr)") }
        }
        let tree = try exec(["git", "write-tree"], cwd: root, env: env).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let ps = try parents ?? git("log", "-1", "--format=%P", commit).split(separator: " ").map(String.init)
        let made = try git(["commit-tree", tree, "-m", "edited by hand"] + ps.flatMap { ["-p", $0] })
        try git("update-ref", ref, made)
    }

    @discardableResult
    func git(_ args: [String]) throws -> String {
        let r = try exec(["git"] + args, cwd: root)
        guard r.status == 0 else { throw TestFailure("git \(args.joined(separator: " ")): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@Suite("git ml lineage and git ml audit")
struct LineageAuditTests {
    @Test("lineage of a model two hops from its data, in each format, up and down")
    func twoHops() throws {
        let c = try TwoHopChain()
        let raw = try c.rawSHA, features = try c.featuresSHA
        let head = try c.repo.git("rev-parse", "HEAD")

        let graph = try json(try c.repo.ml("lineage", "churn:1", "--format", "json")) as! [String: Any]
        #expect(graph["root"] as? String == "model:churn:1")
        let up = graph["upstream"] as! [String]
        for node in ["run:\(c.train)", "data:\(features)", "run:\(c.prep)", "data:\(raw)", "commit:\(head)"] {
            #expect(up.contains(node), "\(node) upstream of churn:1: \(up)")
        }
        let edges = Set((graph["edges"] as! [[String: Any]]).map { "\($0["from"]!) -> \($0["to"]!): \($0["label"]!)" })
        for edge in ["run:\(c.train) -> model:churn:1: registered from artifacts/outputs/model",
                     "data:\(features) -> run:\(c.train): input features",
                     "run:\(c.prep) -> data:\(features): output features/features.csv",
                     "data:\(raw) -> run:\(c.prep): input raw",
                     "commit:\(head) -> run:\(c.prep): code"] {
            #expect(edges.contains(edge), "\(edge) in \(edges)")
        }

        let text = try c.repo.ml("lineage", "churn:1")
        #expect(text.status == 0)
        #expect(text.stdout.contains("registered from artifacts/outputs/model: run") && text.stdout.contains("output features/features.csv: run"),
                "\(text.stdout)")
        let dot = try c.repo.ml("lineage", "churn:1", "--format", "dot").stdout
        #expect(dot.hasPrefix("digraph lineage {") && dot.contains("\"run:\(c.prep)\" -> \"data:\(features)\" [label=\"output features/features.csv\"];"), "\(dot)")
        let mermaid = try c.repo.ml("lineage", "churn:1", "--format", "mermaid").stdout
        #expect(mermaid.hasPrefix("flowchart LR") && mermaid.contains("-->|\"input features\"|") && mermaid.contains("[[\"model churn:1\"]]"), "\(mermaid)")

        // Downstream: from the data pointer, and from the commit.
        let down = try json(try c.repo.ml("lineage", "data/raw.csv", "--downstream", "--json")) as! [String: Any]
        #expect(down["upstream"] as? [String] == [])
        let below = down["downstream"] as! [String]
        for node in ["run:\(c.prep)", "run:\(c.train)", "model:churn:1"] { #expect(below.contains(node), "\(node) in \(below)") }
        let fromCommit = try json(try c.repo.ml("lineage", "commit:HEAD", "--downstream", "--json")) as! [String: Any]
        #expect(Set(fromCommit["downstream"] as! [String]).isSuperset(of: ["run:\(c.prep)", "run:\(c.train)", "model:churn:1"]))
        // An object id works as well as a pointer; a run by its id.
        let byObject = try json(try c.repo.ml("lineage", features, "--json")) as! [String: Any]
        #expect((byObject["upstream"] as! [String]).contains("run:\(c.prep)") && (byObject["downstream"] as! [String]).contains("run:\(c.train)"))
        #expect(try c.repo.ml("lineage", "run:" + c.train, "--upstream").stdout.contains("input features"))
        // A partial fetch: the list of files of prep's output is missing when the index is built, so the
        // file inside it has no known producer; once the list arrives, the next command finds it.
        let prepRecord = try c.repo.record(c.prep)
        let list = ((prepRecord["outputs"] as! [[String: Any]]).first { $0["name"] as? String == "features" })!["sha256"] as! String
        try FileManager.default.moveItem(atPath: c.objectPath(list), toPath: c.repo.path(".git/list.json"))
        #expect(try c.repo.ml("reindex").status == 0)
        let before = try json(try c.repo.ml("lineage", features, "--upstream", "--json")) as! [String: Any]
        #expect(!(before["upstream"] as! [String]).contains("run:\(c.prep)"))
        try FileManager.default.moveItem(atPath: c.repo.path(".git/list.json"), toPath: c.objectPath(list))
        let after = try json(try c.repo.ml("lineage", features, "--upstream", "--json")) as! [String: Any]
        #expect((after["upstream"] as! [String]).contains("run:\(c.prep)"))

        let unknown = try c.repo.ml("lineage", "nothing-by-this-name")
        #expect(unknown.status != 0 && unknown.stderr.contains("names no model version, run, data pointer, object or commit"))
    }

    @Test("audit --verify passes on an intact chain and names each broken link")
    func auditVerify() throws {
        let intact = try TwoHopChain()
        let ok = try intact.repo.ml("audit", "churn:1", "--verify", "--json")
        #expect(ok.status == 0, "\(ok.stderr)")
        let report = try json(ok) as! [String: Any]
        #expect(report["ok"] as? Bool == true && report["verified"] as? Bool == true)
        let names = (report["links"] as! [[String: Any]]).map { $0["name"] as! String }
        for name in ["model churn:1", "model churn:1 <- run \(intact.train)", "run \(intact.train)", "run \(intact.train) <- input features",
                     "run \(intact.prep)", "run \(intact.prep) <- input raw"] {
            #expect(names.contains(name), "\(name) in \(names)")
        }
        #expect(names.contains { $0.hasPrefix("run \(intact.train) <- commit ") })
        let md = try intact.repo.ml("audit", "churn:1", "--format", "md").stdout
        #expect(md.hasPrefix("### Audit of model churn:1") && md.contains("| ✅ | run \(intact.prep) |"), "\(md)")

        func broken(_ chain: TwoHopChain, _ expected: String, verify: Bool = true) throws -> Result {
            let r = try chain.repo.ml(["audit", "churn:1"] + (verify ? ["--verify"] : []))
            #expect(r.status == 1, "\(expected): \(r.stderr)")
            #expect(r.stderr.hasPrefix("git-ml: audit of model churn:1 failed: ") && r.stderr.contains(expected), "\(r.stderr)")
            #expect(r.stdout.contains("✘"), "the report marks the broken link")
            return r
        }

        // 1. A flipped byte in a model file's object: only re-hashing sees it.
        let a = try TwoHopChain()
        let model = try json(try a.repo.ml("model", "show", "churn:1", "--json")) as! [String: Any]
        #expect((model["artifact"] as? [String: Any])?["files"] as? Int == 1)
        #expect(try a.repo.ml("checkout", a.train, "--outputs", "o").status == 0)
        let modelFile = try sha256(a.repo.path("o/artifacts/outputs/model/model.pkl"))
        let object = a.objectPath(modelFile)
        chmod(object, 0o644)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: object))
        bytes[0] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: object))
        #expect(try a.repo.ml("audit", "churn:1").status == 0, "without --verify only presence is checked")
        try broken(a, "model churn:1: model churn:1/model.pkl: object \(modelFile) is damaged")

        // 2. A deleted input object: named, with where to get it.
        let b = try TwoHopChain()
        let raw = try b.rawSHA
        try FileManager.default.removeItem(atPath: b.objectPath(raw))
        let missing = try broken(b, "run \(b.prep) <- input raw: input raw of run \(b.prep): object \(raw) is missing from this clone's store", verify: false)
        #expect(missing.stderr.contains("git ml pull fetches them"), "\(missing.stderr)")
        try broken(b, "object \(raw) is missing")

        // 3. A run ref rewritten to point at another run's commit.
        let c = try TwoHopChain()
        try c.repo.git("update-ref", "refs/ml/runs/\(c.train)", try c.repo.git("rev-parse", "refs/ml/runs/\(c.prep)"))
        try broken(c, "refs/ml/runs/\(c.train) points at commit")
        #expect(try c.repo.ml("audit", "churn:1").stderr.contains("which holds run \(c.prep)"))

        // 4. A run's record commit edited by hand (its user changed) and its ref moved to it.
        let d = try TwoHopChain()
        try d.editRecord("refs/ml/runs/\(d.train)", "run.json") { $0.replacingOccurrences(of: "Test User <test@example.com>", with: "Mallory <m@example.com>") }
        try broken(d, "refs/ml/runs/\(d.train) moved from")
        #expect(try d.repo.ml("audit", "churn:1").stderr.contains("which changes user"))

        // 5. The model's record edited by hand to claim other bytes.
        let e = try TwoHopChain()
        let other = try json(try e.repo.ml("show", e.prep, "--json")) as! [String: Any]
        let otherSHA = ((other["outputs"] as! [[String: Any]]).first { $0["name"] as? String == "features" })!["sha256"] as! String
        let claimed = ((try json(try e.repo.ml("model", "show", "churn:1", "--json")) as! [String: Any])["artifact"] as! [String: Any])["sha256"] as! String
        try e.editRecord("refs/ml/models/churn/1", "model.json") { $0.replacingOccurrences(of: claimed, with: otherSHA) }
        try broken(e, "model churn:1 <- run \(e.train): the model's files are not artifacts/outputs/model of run \(e.train)")
    }

    @Test("a model registered from a folder in a repository that has its own model.json: its history stops at its registration")
    func folderModelBesideModelJSON() throws {
        let repo = try TestRepo(files: ["model.json": "{\"name\": \"the project's own file\"}\n", "m/model.pkl": "w"])
        #expect(try repo.ml("model", "register", "churn", "--from", "m").status == 0)
        #expect(try repo.ml("model", "tag", "churn:1", "a=b").status == 0)
        let r = try repo.ml("audit", "churn:1", "--verify", "--json")
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let links = (try json(r) as! [String: Any])["links"] as! [[String: Any]]
        #expect(links.map { $0["name"] as! String }.contains { $0.hasPrefix("model churn:1 <- commit ") })
        #expect(try repo.git("rev-parse", "refs/ml/models/churn/1^^") == (try repo.git("rev-parse", "HEAD")))
    }

    @Test("a signed model version is verified with an ssh key made here; ml.requireSignedModels refuses unsigned ones")
    func signedModels() throws {
        let c = try TwoHopChain()
        let key = c.repo.path(".git/test-signing-key")
        let gen = try exec(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", key], cwd: c.repo.root)
        #expect(gen.status == 0, "\(gen.stderr)")
        let publicKey = try String(contentsOfFile: key + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try c.repo.write(".git/allowed_signers", "test@example.com \(publicKey)\n")
        try c.repo.git("config", "gpg.format", "ssh")
        try c.repo.git("config", "user.signingkey", key + ".pub")
        try c.repo.git("config", "gpg.ssh.allowedSignersFile", c.repo.path(".git/allowed_signers"))

        let signed = try c.repo.ml("model", "register", "churn", "--run", c.train, "--path", "artifacts/outputs/model", "--sign")
        #expect(signed.status == 0, "\(signed.stderr)")
        // git itself verifies the record commit.
        #expect(try exec(["git", "verify-commit", "refs/ml/models/churn/2"], cwd: c.repo.root).status == 0)
        let report = try json(try c.repo.ml("audit", "churn:2", "--verify", "--json")) as! [String: Any]
        let modelLink = (report["links"] as! [[String: Any]]).first { $0["name"] as? String == "model churn:2" }!
        let signature = (modelLink["evidence"] as! [[String: String]]).first { $0["key"] == "signature" }?["value"]
        #expect(signature?.hasPrefix("good by test@example.com") == true, "\(String(describing: signature))")

        // A run signed the same way.
        let run = try c.repo.ml("run", "--sign", "--", "true")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try exec(["git", "verify-commit", "refs/ml/runs/\(try #require(runID(from: run.stderr)))"], cwd: c.repo.root).status == 0)

        // Any boolean git reads as true turns it on.
        try c.repo.git("config", "ml.requireSignedModels", "yes")
        #expect(try c.repo.ml("audit", "churn:2").status == 0)
        let unsigned = try c.repo.ml("audit", "churn:1")
        #expect(unsigned.status == 1 && unsigned.stderr.contains("ml.requireSignedModels is set and the registration"), "\(unsigned.stderr)")
        #expect(unsigned.stderr.contains("is not signed"))
        // A signature by a key that is not allowed is not good.
        try c.repo.write(".git/allowed_signers", "")
        let untrusted = try c.repo.ml("audit", "churn:2")
        #expect(untrusted.status == 1 && untrusted.stderr.contains("signed, but the signature is"), "\(untrusted.stderr)")
        // A set-up that cannot sign is refused before anything runs.
        try c.repo.git("config", "user.signingkey", c.repo.path("no-such-key.pub"))
        let refused = try c.repo.ml("run", "--sign", "--", "true")
        #expect(refused.status != 0 && refused.stderr.contains("user.signingkey names"), "\(refused.stderr)")
    }
}
