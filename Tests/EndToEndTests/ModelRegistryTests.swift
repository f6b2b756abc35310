import Foundation
import Testing

/// Writes an MLflow model folder (as `mlflow.sklearn.save_model` lays it out) at `folder`.
func writeMLflowModel(_ repo: TestRepo, _ folder: String, payload: String = "weights-1") throws {
    try repo.write(folder + "/MLmodel", """
        artifact_path: model
        flavors:
          python_function:
            env:
              conda: conda.yaml
              virtualenv: python_env.yaml
            loader_module: mlflow.sklearn
            model_path: model.pkl
            predict_fn: predict
            python_version: 3.11.5
          sklearn:
            code: null
            pickled_model: model.pkl
            serialization_format: cloudpickle
            sklearn_version: 1.5.1
        mlflow_version: 3.1.0
        model_size_bytes: 1234
        model_uuid: 7c2d9f0a1b2c4d5e8f9a0b1c2d3e4f5a
        run_id: null
        saved_input_example_info:
          artifact_path: input_example.json
          serving_input_path: serving_input_example.json
          type: dataframe
          pandas_orient: split
        signature:
          inputs: '[{"type": "double", "name": "age", "required": true}, {"type": "double", "name": "tenure", "required": true}]'
          outputs: '[{"type": "long", "required": true}]'
          params: null
        utc_time_created: '2026-12-04 08:00:00.000000'

        """)
    try repo.write(folder + "/input_example.json", #"{"columns": ["age", "tenure"], "data": [[42.0, 3.0]]}"#)
    try repo.write(folder + "/requirements.txt", "mlflow==3.1.0\ncloudpickle==3.0.0\nscikit-learn==1.5.1\n")
    try repo.write(folder + "/conda.yaml", "name: mlflow-env\ndependencies:\n- python=3.11.5\n")
    try repo.write(folder + "/model.pkl", payload)
}

func json(_ r: Result) throws -> Any {
    guard r.status == 0 else { throw TestFailure("exit \(r.status): \(r.stderr)") }
    return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
}

@Suite("git ml model: the registry")
struct ModelRegistryTests {
    @Test("a run's output registers as a version whose record's parent is the run, with what MLmodel says")
    func registerFromRun() throws {
        let repo = try TestRepo()
        try writeMLflowModel(repo, "export/model")
        try repo.write(".gitignore", "export/\n")
        try repo.git("add", "-A"); try repo.git("commit", "-qm", "ignore export")
        let run = try repo.ml("run", "--", "sh", "-c", "cp -r export/model \"$GITML_OUTPUTS/model\" && echo note > \"$GITML_OUTPUTS/notes.txt\"")
        #expect(run.status == 0, "\(run.stderr)")
        let id = try #require(runID(from: run.stderr))

        let v1 = try json(try repo.ml("model", "register", "churn", "--run", "latest", "--path", "outputs/model",
                                     "--description", "first", "--tag", "team=risk", "--json")) as! [String: Any]
        #expect(v1["version"] as? String == "1")
        #expect(v1["type"] as? String == "mlflow_model", "an MLmodel at the top makes it an MLflow model")
        let artifact = v1["artifact"] as! [String: Any]
        #expect(artifact["files"] as? Int == 5)
        let source = v1["source"] as! [String: Any]
        #expect(source["run"] as? String == id)
        #expect(source["output"] as? String == "outputs")
        #expect(source["path"] as? String == "model")
        let mlflow = v1["mlflow"] as! [String: Any]
        #expect((mlflow["flavors"] as? [String: Any])?.keys.sorted() == ["python_function", "sklearn"])
        #expect(((mlflow["flavors"] as? [String: Any])?["python_function"] as? [String: Any])?["python_version"] as? String == "3.11.5")
        #expect((mlflow["signature"] as? [String: Any])?["inputs"] as? String == #"[{"type": "double", "name": "age", "required": true}, {"type": "double", "name": "tenure", "required": true}]"#)
        #expect(mlflow["requirements"] as? [String] == ["mlflow==3.1.0", "cloudpickle==3.0.0", "scikit-learn==1.5.1"])
        #expect(((mlflow["input_example"] as? [String: Any])?["columns"] as? [String]) == ["age", "tenure"])
        #expect(mlflow["model_uuid"] as? String == "7c2d9f0a1b2c4d5e8f9a0b1c2d3e4f5a")

        // The record commit's parent is the run's commit; the run's first parent is the code commit.
        let runCommit = try repo.git("rev-parse", "refs/ml/runs/\(id)")
        #expect(try repo.git("rev-parse", "refs/ml/models/churn/1^") == runCommit)
        #expect(try repo.git("rev-parse", "refs/ml/models/churn/1^^") == (try repo.git("rev-parse", "HEAD")))
        #expect(source["run_commit"] as? String == runCommit)

        // One file inside an output is a file model, restored under its name.
        let v2 = try json(try repo.ml("model", "register", "churn", "--run", id, "--path", "outputs/model/model.pkl", "--json")) as! [String: Any]
        #expect(v2["version"] as? String == "2")
        #expect(v2["type"] as? String == "custom_model")
        #expect((v2["artifact"] as? [String: Any])?["file_name"] as? String == "model.pkl")

        // Download: byte-identical, into a new folder only.
        let dl = try repo.ml("model", "download", "churn:1", "dl1")
        #expect(dl.status == 0, "\(dl.stderr)")
        for f in ["MLmodel", "model.pkl", "requirements.txt", "input_example.json", "conda.yaml"] {
            #expect(try sha256(repo.path("dl1/" + f)) == (try sha256(repo.path("export/model/" + f))), "\(f)")
        }
        #expect(try repo.ml("model", "download", "churn@latest", "dl2").status == 0)
        #expect(repo.read("dl2/model.pkl") == "weights-1")
        let again = try repo.ml("model", "download", "churn:1", "dl1")
        #expect(again.status != 0 && again.stderr.contains("not empty"))

        let list = try json(try repo.ml("model", "list", "--json")) as! [[String: Any]]
        #expect(list.map { "\($0["name"]!):\($0["version"]!)" } == ["churn:1", "churn:2"])
        let text = try repo.ml("model", "show", "churn:1")
        #expect(text.stdout.contains("python_function, sklearn") && text.stdout.contains(id))
        #expect(try repo.ml("model", "show", "azureml:churn@latest").stdout.contains("model churn:2"))

        // Tags change by a record chained to the last; the version's bytes never change.
        let tagged = try json(try repo.ml("model", "tag", "churn:1", "reviewed=yes", "--rm", "team", "--json")) as! [String: Any]
        #expect(tagged["tags"] as? [String: String] == ["reviewed": "yes"])
        #expect(try repo.git("rev-parse", "refs/ml/models/churn/1^") != runCommit, "the change is chained to the first record")
        #expect(try repo.git("rev-parse", "refs/ml/models/churn/1^^") == runCommit)

        // fsck checks model versions' objects too.
        let pkl = (v2["artifact"] as! [String: Any])["sha256"] as! String
        try FileManager.default.removeItem(atPath: repo.path(".git/ml/objects/sha256/\(pkl.prefix(2))/\(pkl.dropFirst(2))"))
        let fsck = try repo.ml("fsck")
        #expect(fsck.status != 0 && (fsck.stdout + fsck.stderr).contains("model churn:2"), "\(fsck.stdout)\(fsck.stderr)")
    }

    @Test("Azure ML model files register as written in the public examples; versions are immutable")
    func modelFiles() throws {
        let repo = try TestRepo()
        try writeMLflowModel(repo, "cli/assets/model/mlflow-model")
        // cli/assets/model/local-mlflow.yml and local-file.yml of Azure/azureml-examples, verbatim.
        try repo.write("cli/assets/model/local-mlflow.yml", """
            $schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
            name: local-mlflow-example
            path: mlflow-model
            type: mlflow_model
            description: Model created from local MLflow model directory.

            """)
        try repo.write("cli/assets/model/local-file.yml", """
            $schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
            name: local-file-example
            path: mlflow-model/model.pkl
            description: Model created from local file.

            """)
        let sub = repo.path("cli")
        let a = try json(try repo.ml(["model", "create", "-f", "assets/model/local-mlflow.yml", "--json"], cwd: sub)) as! [String: Any]
        #expect(a["name"] as? String == "local-mlflow-example" && a["version"] as? String == "1" && a["type"] as? String == "mlflow_model")
        #expect((a["source"] as? [String: Any])?["file"] as? String == "cli/assets/model/local-mlflow.yml")
        let b = try json(try repo.ml("model", "create", "-f", "cli/assets/model/local-file.yml", "--json")) as! [String: Any]
        #expect(b["type"] as? String == "custom_model")
        #expect((b["artifact"] as? [String: Any])?["type"] as? String == "uri_file")

        // A given version: the same bytes again are the same version; other bytes are refused.
        try repo.write("m.yml", "name: pinned\nversion: 7\npath: cli/assets/model/mlflow-model\ntags:\n  owner: ana\nproperties:\n  auc: '0.91'\n")
        let p1 = try json(try repo.ml("model", "create", "-f", "m.yml", "--json")) as! [String: Any]
        #expect(p1["version"] as? String == "7")
        #expect(p1["tags"] as? [String: String] == ["owner": "ana"] && p1["properties"] as? [String: String] == ["auc": "0.91"])
        #expect(try repo.ml("model", "create", "-f", "m.yml").status == 0)
        try repo.write("cli/assets/model/mlflow-model/model.pkl", "weights-2")
        let conflict = try repo.ml("model", "create", "-f", "m.yml")
        #expect(conflict.status != 0 && conflict.stderr.contains("pinned:7 is already registered with other bytes"), "\(conflict.stderr)")
        // Without a version: the next one after the highest.
        try repo.write("n.yml", "name: pinned\npath: cli/assets/model/mlflow-model\n")
        #expect((try json(try repo.ml("model", "create", "-f", "n.yml", "--json")) as! [String: Any])["version"] as? String == "8")

        // A run's output named as Azure and MLflow name it.
        let run = try repo.ml("run", "--", "sh", "-c", "mkdir -p \"$GITML_OUTPUTS/model\" && echo w > \"$GITML_OUTPUTS/model/model.pkl\"")
        let id = try #require(runID(from: run.stderr))
        try repo.write("r.yml", "name: fromrun\npath: runs:/\(id)/model\n")
        let r = try json(try repo.ml("model", "create", "-f", "r.yml", "--json")) as! [String: Any]
        #expect((r["source"] as? [String: Any])?["run"] as? String == id)
        #expect(try repo.git("rev-parse", "refs/ml/models/fromrun/1^") == (try repo.git("rev-parse", "refs/ml/runs/\(id)")))

        // Bad files: one line, file:line, nothing registered.
        for (text, expected) in [("name: x\npath: nowhere\n", "bad.yml:2: path 'nowhere' not found"),
                                 ("name: x\nlocal_path: m\n", "bad.yml:2: unknown key 'local_path'"),
                                 ("name: x\npath: m.yml\ntype: onnx_model\n", "bad.yml:3: model type 'onnx_model'"),
                                 ("name: 'a/b'\npath: m.yml\n", "bad.yml:1: model name 'a/b' holds '/'")] {
            try repo.write("bad.yml", text)
            let bad = try repo.ml("model", "create", "-f", "bad.yml")
            #expect(bad.status != 0 && bad.stderr.hasPrefix("git-ml: " + expected), "\(bad.stderr)")
            #expect(bad.stderr.split(separator: "\n").count == 1)
        }
        #expect(try repo.git("for-each-ref", "refs/ml/models/x/").isEmpty)
    }

    @Test("registrations at the same moment never get the same version")
    func concurrentVersions() throws {
        let repo = try TestRepo()
        try repo.write("m/model.pkl", "w")
        let count = 8
        var processes: [Process] = []
        for i in 0..<count {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: gitmlBinary)
            p.arguments = ["model", "register", "churn", "--from", "m", "--tag", "writer=\(i)"]
            p.currentDirectoryURL = URL(fileURLWithPath: repo.root)
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            processes.append(p)
        }
        for p in processes { try p.run() }
        for p in processes { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        let list = try json(try repo.ml("model", "list", "churn", "--json")) as! [[String: Any]]
        #expect(list.compactMap { $0["version"] as? String }.sorted { Int($0)! < Int($1)! } == (1...count).map(String.init))
        #expect(Set(list.compactMap { ($0["tags"] as? [String: String])?["writer"] }).count == count, "every writer got its own version")
    }

    @Test("aliases point at versions; every move is kept with who and when")
    func aliases() throws {
        let repo = try TestRepo()
        try repo.write("m/model.pkl", "w1")
        #expect(try repo.ml("model", "register", "churn", "--from", "m").status == 0)
        try repo.write("m/model.pkl", "w2")
        #expect(try repo.ml("model", "register", "churn", "--from", "m").status == 0)

        #expect(try repo.ml("model", "alias", "set", "churn", "production", "1").status == 0)
        #expect(try repo.ml("model", "alias", "set", "churn", "champion", "2").status == 0)
        #expect((try json(try repo.ml("model", "show", "churn@production", "--json")) as! [String: Any])["version"] as? String == "1")
        #expect(try repo.ml("model", "alias", "set", "churn", "production", "2", "--json").status == 0)
        let shown = try json(try repo.ml("model", "show", "churn:2", "--json")) as! [String: Any]
        #expect(shown["aliases"] as? [String] == ["champion", "production"])
        #expect(try repo.ml("model", "alias", "rm", "churn", "production").status == 0)
        let gone = try repo.ml("model", "show", "churn@production")
        #expect(gone.status != 0 && gone.stderr.contains("no alias 'production'; its aliases: champion"), "\(gone.stderr)")

        let log = try json(try repo.ml("model", "alias", "log", "churn", "production", "--json")) as! [[String: Any]]
        #expect(log.map { $0["version"] as? String } == [nil, "2", "1"])
        #expect(log.allSatisfy { $0["user"] as? String == "Test User <test@example.com>" && $0["time"] is String })
        // The history is git's own: a commit per change on the alias's ref.
        #expect(try repo.git("rev-list", "--count", "refs/ml/model-aliases/churn/production") == "3")
        #expect(try repo.git("log", "--format=%s", "refs/ml/model-aliases/churn/production").split(separator: "\n")
                == ["git-ml alias churn@production removed", "git-ml alias churn@production -> 2", "git-ml alias churn@production -> 1"])

        // Bad input: a version that is not there, a reserved alias, a ref-breaking name.
        let missing = try repo.ml("model", "alias", "set", "churn", "production", "9")
        #expect(missing.status != 0 && missing.stderr.contains("model churn has no version 9; its versions: 1, 2"), "\(missing.stderr)")
        #expect(try repo.ml("model", "alias", "set", "churn", "latest", "1").stderr.contains("reserved"))
        #expect(try repo.ml("model", "alias", "set", "churn", "prod~1", "1").stderr.contains("holds '~'"))
        // An alias whose version went missing (a partial fetch): named, with what to do.
        #expect(try repo.ml("model", "alias", "set", "churn", "staging", "1").status == 0)
        try repo.git("update-ref", "-d", "refs/ml/models/churn/1")
        let dangling = try repo.ml("model", "download", "churn@staging", "out")
        #expect(dangling.status != 0 && dangling.stderr.contains("alias churn@staging points at version 1, which is not registered here"), "\(dangling.stderr)")
        #expect(!FileManager.default.fileExists(atPath: repo.path("out")))
    }

    @Test("bad registrations say what is wrong and register nothing")
    func badRegistrations() throws {
        let repo = try TestRepo()
        let run = try repo.ml("run", "--", "sh", "-c", "mkdir -p \"$GITML_OUTPUTS/model\" && echo w > \"$GITML_OUTPUTS/model/model.pkl\"")
        #expect(run.status == 0)
        for (args, expected) in [
            (["churn", "--run", "latest", "--path", "outputs/modle"], "holds no 'modle'; at its top: model"),
            (["churn", "--run", "latest", "--path", "output_folder/my_model"], "has no output 'output_folder/my_model'; its outputs: outputs"),
            (["churn model", "--run", "latest", "--path", "outputs"], "model name 'churn model' holds a space"),
            (["churn:1", "--run", "latest", "--path", "outputs"], "model name 'churn:1' holds ':'"),
            (["churn", "--run", "nosuchrun", "--path", "outputs"], "nosuchrun"),
            (["churn", "--from", "nowhere"], "nowhere: no such file or folder"),
            (["churn", "--run", "latest", "--path", "outputs/model", "--type", "mlflow_model"], "no MLmodel file"),
        ] {
            let r = try repo.ml(["model", "register"] + args)
            #expect(r.status != 0 && r.stderr.contains(expected), "\(args): \(r.stderr)")
        }
        #expect(try repo.git("for-each-ref", "refs/ml/models/").isEmpty)
        // A signing set-up that cannot work is refused before any record is written.
        try repo.git("config", "gpg.format", "ssh")
        try repo.git("config", "user.signingkey", repo.path("no-such-key.pub"))
        let unsigned = try repo.ml("model", "register", "churn", "--run", "latest", "--path", "outputs/model", "--sign")
        #expect(unsigned.status != 0 && unsigned.stderr.contains("user.signingkey names"), "\(unsigned.stderr)")
        try repo.write("key.pub", "not a key\n")
        try repo.git("config", "user.signingkey", repo.path("key.pub"))
        let refused = try repo.ml("model", "register", "churn", "--run", "latest", "--path", "outputs/model", "--sign")
        #expect(refused.status != 0 && refused.stderr.contains("cannot sign with ssh-keygen"), "\(refused.stderr)")
        #expect(try repo.git("for-each-ref", "refs/ml/models/", "refs/ml/registered-models/").isEmpty)
        // Names git cannot hold as refs.
        for bad in ["churn.", "churn.lock", "a..b", ".hidden"] {
            let r = try repo.ml("model", "register", bad, "--run", "latest", "--path", "outputs/model")
            #expect(r.status != 0 && r.stderr.contains("model name"), "\(bad): \(r.stderr)")
        }
    }

    @Test("job inputs of model types name registered versions")
    func jobInputs() throws {
        let repo = try TestRepo()
        try writeMLflowModel(repo, "mlflow-model")
        #expect(try repo.ml("model", "register", "heart-classifier", "--from", "mlflow-model").status == 0)
        try repo.write("w/model.pkl", "custom")
        #expect(try repo.ml("model", "register", "custom", "--from", "w/model.pkl").status == 0)
        #expect(try repo.ml("model", "alias", "set", "custom", "champion", "1").status == 0)
        // After cli/assets/model/hello-mlflow-model.yml of Azure/azureml-examples.
        try repo.write("job.yml", """
            $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
            display_name: mlflow_model_registered
            command: |
              ls ${{inputs.model}} && cat ${{inputs.weights}} && cat ${{inputs.pinned}}/model.pkl
            inputs:
              model:
                type: mlflow_model
                path: azureml:heart-classifier@latest
                mode: ro_mount
              weights:
                type: custom_model
                path: custom@champion
              pinned:
                type: mlflow_model
                path: azureml:heart-classifier:1
            compute: azureml:cpu-cluster

            """)
        let r = try repo.ml("run", "-f", "job.yml")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("MLmodel") && r.stdout.contains("custom") && r.stdout.contains("weights-1"), "\(r.stdout)")
        let id = try #require(runID(from: r.stderr))
        let inputs = try repo.record(id)["inputs"] as! [[String: Any]]
        let model = try #require(inputs.first { $0["name"] as? String == "model" })
        #expect(model["asset"] as? String == "azureml:heart-classifier:1" && model["path"] as? String == "azureml:heart-classifier@latest")
        #expect(model["type"] as? String == "mlflow_model")

        try repo.write("bad.yml", "command: ls\ninputs:\n  m:\n    type: mlflow_model\n    path: azureml:nosuch@latest\n")
        let bad = try repo.ml("run", "-f", "bad.yml")
        #expect(bad.status != 0 && bad.stderr.contains("bad.yml:3: no model named nosuch"), "\(bad.stderr)")
    }
}
