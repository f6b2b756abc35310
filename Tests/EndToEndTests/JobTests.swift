import Foundation
import Testing

/// Job files written the way the public Azure ML CLI v2 examples write them, run
/// through the built binary.
@Suite("git ml run -f: Azure ML command jobs run locally")
struct JobTests {
    /// Runs a job and returns the result and its record.
    func runJob(_ repo: TestRepo, _ args: String...) throws -> (Result, [String: Any]) {
        let r = try repo.ml(["run"] + args)
        let id = try #require(runID(from: r.stderr), "no run id in: \(r.stderr)")
        return (r, try repo.record(id))
    }

    @Test("hello world, environment variables, literal inputs, ./outputs and a named output")
    func helloWorldJobs() throws {
        let repo = try TestRepo()
        try repo.write("jobs/hello-world.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        command: echo "hello world"
        environment:
          image: library/python:latest
        compute: azureml:cpu-cluster
        """)
        try repo.write("jobs/env-var.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        command: echo $hello_env_var && ls
        environment:
          image: library/python:latest
        environment_variables:
          hello_env_var: "hello from the environment"
        """)
        try repo.write("jobs/inputs.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        command: |
          echo ${{inputs.hello_string}}
          echo ${{inputs.hello_number}} ${{inputs.rate}} ${{inputs.flag}} $[[${{inputs.maybe}}]] done
        environment:
          image: library/python:latest
        inputs:
          hello_string: "hello world"
          hello_number: 42
          rate: 0.5
          flag: true
          maybe:
            type: string
            optional: true
        """)
        try repo.write("jobs/outputs.yml", """
        command: echo "hello world" > ./outputs/helloworld.txt && pwd > ./logs/where.txt
        code: .
        environment:
          image: library/python:latest
        """)
        try repo.write("jobs/named-output.yml", """
        command: echo "Hello World" > ${{outputs.hello_output}}/helloworld.txt
        outputs:
          hello_output:
        environment:
          image: python
        """)
        try repo.git("add", "-A")
        try repo.git("commit", "-q", "-m", "jobs")

        var (r, rec) = try runJob(repo, "-f", "jobs/hello-world.yml")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "hello world\n")
        #expect(rec["status"] as? String == "completed")
        #expect(rec["compute"] as? String == "azureml:cpu-cluster")
        #expect(r.stderr.contains("compute azureml:cpu-cluster is not attached here"))
        let job = try #require(rec["job"] as? [String: Any])
        #expect(job["file"] as? String == "jobs/hello-world.yml")
        let env = try #require(rec["environment"] as? [String: Any])
        #expect((env["id"] as? String)?.count == 64)
        #expect(try repo.git("show", "refs/ml/runs/\(rec["id"]!):job.yaml").contains("echo \"hello world\""))

        (r, rec) = try runJob(repo, "-f", "jobs/env-var.yml")
        #expect(r.stdout == "hello from the environment\nlogs\noutputs\n", "a job without code runs in an empty folder: \(r.stderr)")
        #expect(!r.stderr.contains("building environment"), "the same environment is reused: \(r.stderr)")

        (r, rec) = try runJob(repo, "-f", "jobs/inputs.yml")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "hello world\n42 0.5 True done\n")
        #expect(rec["params"] as? [String: String] == ["hello_string": "hello world", "hello_number": "42", "rate": "0.5", "flag": "True"])
        (r, _) = try runJob(repo, "-f", "jobs/inputs.yml", "--set", "inputs.maybe=yes", "--set", "inputs.hello_number=7")
        #expect(r.stdout == "hello world\n7 0.5 True yes done\n", "\(r.stderr)")

        (r, rec) = try runJob(repo, "-f", "jobs/outputs.yml")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: repo.path("outputs")), "the job ran in a copy, not in the work tree")
        let out1 = repo.path("../\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: out1) }
        #expect(try repo.ml("checkout", rec["id"] as! String, "--outputs", out1).status == 0)
        #expect(FileManager.default.contents(atPath: out1 + "/artifacts/outputs/helloworld.txt") == Data("hello world\n".utf8))
        let ranIn = String(decoding: FileManager.default.contents(atPath: out1 + "/artifacts/logs/where.txt") ?? Data(), as: UTF8.self)
        #expect(ranIn.contains("/.git/ml/runs/") && ranIn.hasSuffix("/code\n"), "ran in \(ranIn)")

        (r, rec) = try runJob(repo, "-f", "jobs/named-output.yml")
        #expect(r.status == 0, "\(r.stderr)")
        let outputs = try #require(rec["outputs"] as? [[String: Any]])
        #expect(outputs.map { $0["name"] as? String } == ["hello_output"])
        let out2 = repo.path("../\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: out2) }
        #expect(try repo.ml("checkout", rec["id"] as! String, "--outputs", out2).status == 0)
        #expect(FileManager.default.contents(atPath: out2 + "/named-outputs/hello_output/helloworld.txt") == Data("Hello World\n".utf8))
    }

    @Test("a script that logs with gitml, a model folder as input and as output, inputs handed over read-only")
    func modelFolders() throws {
        let repo = try TestRepo()
        try repo.write("src/train.py", """
        import argparse, os, shutil, stat, gitml
        p = argparse.ArgumentParser()
        p.add_argument("--model_input"); p.add_argument("--model_output"); p.add_argument("--epochs", type=int)
        a = p.parse_args()
        for epoch in range(a.epochs):
            gitml.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        gitml.log_param("optimizer", "sgd")
        weights = os.path.join(a.model_input, "weights.bin")
        print("readonly", os.stat(weights).st_mode & 0o222 == 0 and os.stat(a.model_input).st_mode & 0o222 == 0)
        shutil.copytree(a.model_input, a.model_output, dirs_exist_ok=True)
        with open(os.path.join(a.model_output, "trained.txt"), "w") as f: f.write("epochs=%d\\n" % a.epochs)
        open("scratch.txt", "w").write("the code folder is a writable copy")
        """)
        try repo.write("models/base/MLmodel", "flavors:\n  python_function: {}\n")
        try exec(["sh", "-c", "head -c 100000 /dev/urandom > models/base/weights.bin"], cwd: repo.root)
        try repo.write("jobs/train.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        code: ../src
        command: >-
          python train.py
          --model_input ${{inputs.base_model}}
          --model_output ${{outputs.trained_model}}
          --epochs ${{inputs.epochs}}
        inputs:
          base_model:
            type: mlflow_model
            path: ../models/base
          epochs: 3
        outputs:
          trained_model:
            type: mlflow_model
        experiment_name: models
        display_name: fine-tune
        """)
        try repo.git("add", "-A")
        try repo.git("commit", "-q", "-m", "model job")
        let weights = try sha256(repo.path("models/base/weights.bin"))

        let (r, rec) = try runJob(repo, "-f", "jobs/train.yml")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("readonly True"), "\(r.stdout)")
        #expect(rec["name"] as? String == "fine-tune")
        #expect(rec["experiment"] as? String == "models")
        #expect(rec["working_directory"] as? String == "src")
        #expect((rec["metrics"] as? [String: [String: Any]])?["loss"]?["steps"] as? Int == 3)
        #expect((rec["params"] as? [String: String])?["optimizer"] == "sgd")
        let inputs = try #require(rec["inputs"] as? [[String: Any]])
        let model = try #require(inputs.first { $0["name"] as? String == "base_model" })
        #expect(model["type"] as? String == "mlflow_model")
        #expect(model["path"] as? String == "../models/base")
        #expect(model["files"] as? Int == 2)
        #expect((model["sha256"] as? String)?.count == 64)
        #expect(!FileManager.default.fileExists(atPath: repo.path("src/scratch.txt")), "the work tree is never written")

        let out = repo.path("../\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: out) }
        #expect(try repo.ml("checkout", rec["id"] as! String, "--outputs", out).status == 0)
        #expect(try sha256(out + "/named-outputs/trained_model/weights.bin") == weights)
        #expect(FileManager.default.contents(atPath: out + "/named-outputs/trained_model/trained.txt") == Data("epochs=3\n".utf8))
        #expect(try repo.ml("fsck").status == 0, "the store is intact after the job")
        let live = (try? FileManager.default.contentsOfDirectory(atPath: repo.path(".git/ml/runs"))) ?? []
        #expect(live.isEmpty, "the live folder (code copy, read-only inputs) is removed: \(live)")
    }

    @Test("a distributed pytorch hello world starts two processes, each with its rank and log")
    func distributedPytorch() throws {
        let repo = try TestRepo()
        try repo.write("jobs/pytorch-hello.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        command: >-
          python -c "import os; print('hello from rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'],
          'local', os.environ['LOCAL_RANK'], 'node', os.environ['NODE_RANK'], os.environ['MASTER_ADDR'] + ':' + os.environ['MASTER_PORT'])"
        environment:
          image: library/python:latest
        distribution:
          type: pytorch
          process_count_per_instance: 2
        resources:
          instance_count: 1
        """)
        try repo.write("jobs/tf.yml", """
        command: python -c "import json, os; c = json.loads(os.environ['TF_CONFIG']); print(c['task']['index'], len(c['cluster']['worker']))"
        distribution:
          type: tensorflow
          worker_count: 2
        """)
        let (r, rec) = try runJob(repo, "-f", "jobs/pytorch-hello.yml")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("hello from rank 0 of 2 local 0 node 0 127.0.0.1:"))
        #expect(r.stdout.contains("hello from rank 1 of 2 local 1 node 0 127.0.0.1:"))
        #expect((rec["job"] as? [String: Any])?["processes"] as? Int == 2)
        let id = rec["id"] as! String
        #expect(try repo.git("show", "refs/ml/runs/\(id):logs/std_log_process_0.txt").hasPrefix("hello from rank 0"))
        #expect(try repo.git("show", "refs/ml/runs/\(id):logs/std_log_process_1.txt").hasPrefix("hello from rank 1"))

        let (t, _) = try runJob(repo, "-f", "jobs/tf.yml")
        #expect(t.status == 0, "\(t.stderr)")
        #expect(Set(t.stdout.split(separator: "\n")) == ["0 2", "1 2"])
    }

    @Test("limits.timeout stops the job and records it as failed by timeout")
    func timeout() throws {
        let repo = try TestRepo()
        try repo.write("job.yml", "command: echo started; sleep 60\nlimits:\n  timeout: 1\n")
        let (r, rec) = try runJob(repo, "-f", "job.yml")
        #expect(r.status != 0)
        #expect(r.stdout == "started\n")
        #expect(rec["status"] as? String == "failed")
        #expect((rec["status_reason"] as? String)?.contains("timed out after 1 s") == true)
    }

    /// A wheel pip can install with no index: the smallest real package.
    func makeWheel(_ repo: TestRepo, at relative: String, corrupt: Bool = false) throws {
        let script = """
        import sys, zipfile
        path, corrupt = sys.argv[1], sys.argv[2] == "1"
        if corrupt:
            open(path, "wb").write(b"this is not a zip file")
            sys.exit(0)
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("gitmltestpkg.py", "VALUE = 42\\n")
            d = "gitmltestpkg-1.0.dist-info/"
            z.writestr(d + "METADATA", "Metadata-Version: 2.1\\nName: gitmltestpkg\\nVersion: 1.0\\n")
            z.writestr(d + "WHEEL", "Wheel-Version: 1.0\\nGenerator: git-ml-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
            z.writestr(d + "RECORD", "gitmltestpkg.py,,\\n" + d + "METADATA,,\\n" + d + "WHEEL,,\\n" + d + "RECORD,,\\n")
        """
        try FileManager.default.createDirectory(atPath: repo.path((relative as NSString).deletingLastPathComponent), withIntermediateDirectories: true)
        let r = try exec(["python3", "-c", script, repo.path(relative), corrupt ? "1" : "0"], cwd: repo.root)
        guard r.status == 0 else { throw TestFailure("wheel: \(r.stderr)") }
    }

    @Test("an environment is built once: two runs at the same moment build it once, later runs do no pip work")
    func environmentBuiltOnce() throws {
        let repo = try TestRepo()
        try makeWheel(repo, at: "env/wheels/gitmltestpkg-1.0-py3-none-any.whl")
        try repo.write("env/train-env.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
        name: train-env
        version: "1"
        description: a test environment with one local package
        pip:
          - ./wheels/gitmltestpkg-1.0-py3-none-any.whl
        """)
        try repo.write("job.yml", """
        command: python -c "import sys, gitmltestpkg; print('value', gitmltestpkg.VALUE, sys.prefix)"
        environment: azureml:train-env@latest
        """)
        let created = try repo.ml("env", "create", "-f", "env/train-env.yml", "--json")
        #expect(created.status == 0, "\(created.stderr)")
        // One ref family: the name beside the id, pointing at the id's first commit.
        let envID = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["id"] as? String)
        #expect(try repo.git("for-each-ref", "--format=%(refname)", "refs/ml/envs/train-env/") == "refs/ml/envs/train-env/1")
        #expect(try repo.git("rev-parse", "refs/ml/envs/train-env/1") == (try repo.git("rev-parse", "refs/ml/envs/\(envID)")))
        #expect(try repo.git("for-each-ref", "refs/ml/environments/") == "")
        // A name registered by an earlier git-ml (refs/ml/environments/<name>/<version>) is still found.
        try repo.git("update-ref", "refs/ml/environments/old-env/3", "refs/ml/envs/train-env/1")
        let listed = try repo.ml("env", "list", "--json")
        #expect(listed.stdout.contains("\"old-env\"") && listed.stdout.contains("\"train-env\""), "\(listed.stdout)")
        #expect(try repo.ml("env", "show", "azureml:old-env:3", "--json").stdout.contains(envID))

        // Two runs that need the new environment at the same moment.
        let runs = (0..<2).map { _ in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: gitmlBinary)
            p.arguments = ["run", "-f", "job.yml"]
            p.currentDirectoryURL = URL(fileURLWithPath: repo.root)
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            return (p, out, err)
        }
        for (p, _, _) in runs { try p.run() }
        var texts: [(String, String)] = []
        for (p, out, err) in runs {
            let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(e)")
            texts.append((o, e))
        }
        #expect(texts.allSatisfy { $0.0.hasPrefix("value 42 ") && $0.0.contains("/.git/ml/envs/") })
        #expect(texts.filter { $0.1.contains("building environment") }.count == 1, "built once: \(texts.map(\.1))")

        let (r, rec) = try runJob(repo, "-f", "job.yml")
        #expect(r.stdout.hasPrefix("value 42"))
        #expect(!r.stderr.contains("building") && !r.stderr.contains("pip"), "no pip work: \(r.stderr)")
        let env = try #require(rec["environment"] as? [String: Any])
        #expect(env["name"] as? String == "azureml:train-env@latest")
        let lockID = try #require(env["lock"] as? String)
        let lock = try #require(repo.read(".git/ml/objects/sha256/\(lockID.prefix(2))/\(lockID.dropFirst(2))"))
        #expect(lock.contains("gitmltestpkg"), "the lock names the package: \(lock)")
        #expect(try repo.git("show", "refs/ml/envs/\(env["id"]!):lock.txt").contains("gitmltestpkg"))

        let list = try JSONSerialization.jsonObject(with: Data(try repo.ml("env", "list", "--json").stdout.utf8)) as! [[String: Any]]
        #expect(list.contains { $0["name"] as? String == "train-env" && $0["path"] != nil })
        #expect(try repo.ml("env", "build", "azureml:train-env:1").stdout.contains("already built"))
        #expect(try repo.ml("env", "prune", "--all").stdout.contains("deleted"))
        let rebuilt = try repo.ml("run", "-f", "job.yml")
        #expect(rebuilt.status == 0 && rebuilt.stderr.contains("building environment"), "a pruned environment is rebuilt: \(rebuilt.stderr)")
    }

    @Test("a pip failure records the run as failed at the environment stage, with pip's last lines, and is not cached")
    func pipFailure() throws {
        let repo = try TestRepo()
        try makeWheel(repo, at: "wheels/gitmltestpkg-1.0-py3-none-any.whl", corrupt: true)
        try repo.write("job.yml", """
        command: echo never runs
        environment:
          pip:
            - ./wheels/gitmltestpkg-1.0-py3-none-any.whl
        """)
        let (r, rec) = try runJob(repo, "-f", "job.yml")
        #expect(r.status != 0)
        #expect(!r.stdout.contains("never runs"))
        #expect(rec["status"] as? String == "failed")
        #expect((rec["status_reason"] as? String)?.contains("failed to build: pip install") == true, "\(rec["status_reason"] ?? "")")
        #expect(r.stderr.contains("last lines of"), "pip's tail is shown: \(r.stderr)")
        #expect(r.stderr.lowercased().contains("zip") || r.stderr.contains("wheel"), "\(r.stderr)")
        let again = try repo.ml("run", "-f", "job.yml")
        #expect(again.status != 0 && again.stderr.contains("building environment"), "a failed build is not taken as good")
    }

    @Test("Ctrl-C while pip builds an environment stops pip, records the run as canceled and leaves no half-built environment")
    func cancelDuringBuild() throws {
        let repo = try TestRepo()
        // A package server that accepts the connection and never answers: pip waits.
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-c", "import socket, sys, time\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\nprint(s.getsockname()[1], flush=True)\nc = s.accept()\ntime.sleep(120)"]
        let portPipe = Pipe()
        server.standardOutput = portPipe
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        let port = String(decoding: portPipe.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        try repo.write("job.yml", """
        command: echo never runs
        environment:
          pip:
            - slowpkg @ http://127.0.0.1:\(port)/slowpkg-1.0-py3-none-any.whl
        """)
        let (p, _) = try repo.startInBackground(["run", "-f", "job.yml"])
        let envs = repo.path(".git/ml/envs")
        #expect(try waitUntil(30) { ((try? FileManager.default.contentsOfDirectory(atPath: envs)) ?? []).contains { $0.hasSuffix(".log") && (repo.read(".git/ml/envs/" + $0) ?? "").contains("pip install") } },
                "pip started")
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        let record = try repo.record(try repo.runIDs()[0])
        #expect(record["status"] as? String == "canceled")
        #expect((record["status_reason"] as? String)?.contains("canceled while building environment") == true, "\(record["status_reason"] ?? "")")
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: envs)) ?? []).filter { !$0.hasSuffix(".log") && !$0.hasSuffix(".lock") }
        #expect(left.isEmpty, "no half-built environment: \(left)")
    }

    @Test("curated environment names resolve to specs that ship with git-ml; unknown ones list the known")
    func curatedEnvironments() throws {
        let repo = try TestRepo()
        let a = try JSONSerialization.jsonObject(with: Data(try repo.ml("env", "show", "azureml:AzureML-sklearn-1.5@latest", "--json").stdout.utf8)) as! [String: Any]
        let b = try JSONSerialization.jsonObject(with: Data(try repo.ml("env", "show", "azureml://registries/azureml/environments/sklearn-1.5/labels/latest", "--json").stdout.utf8)) as! [String: Any]
        #expect(a["id"] as? String == b["id"] as? String)
        #expect(((a["spec"] as? [String: Any])?["pip"] as? [String])?.contains { $0.hasPrefix("scikit-learn") } == true)
        let torch = try JSONSerialization.jsonObject(with: Data(try repo.ml("env", "show", "azureml:AzureML-acpt-pytorch-2.2-cuda12.1@latest", "--json").stdout.utf8)) as! [String: Any]
        #expect(((torch["spec"] as? [String: Any])?["warnings"] as? [String])?.contains { $0.contains("CPU") } == true)
        let lightgbm = try repo.ml("env", "show", "azureml:AzureML-lightgbm-3.3@latest")
        #expect(lightgbm.status == 0 && lightgbm.stdout.contains("lightgbm"))

        try repo.write("job.yml", "command: echo hi\nenvironment: azureml:AzureML-nonexistent-9@latest\n")
        let r = try repo.ml("run", "-f", "job.yml")
        #expect(r.status == 2)
        #expect(r.stderr.contains("job.yml:2: unknown environment 'azureml:AzureML-nonexistent-9@latest'"), "\(r.stderr)")
        #expect(r.stderr.contains("azureml:AzureML-sklearn-1.5@latest") && r.stderr.contains("git ml env create"))
        #expect(try repo.runIDs().isEmpty, "nothing recorded for a job that cannot start")
    }

    @Test("a conda file's pip list and PyPI packages become the environment; a Python pin the host lacks is reported")
    func condaFile() throws {
        let repo = try TestRepo()
        try repo.write("env/conda.yml", """
        name: train
        channels:
          - conda-forge
        dependencies:
          - python=3.8
          - numpy=1.26
          - conda-forge::pandas>=2.0
          - cudatoolkit=11.8
          - pip
          - pip:
            - mlflow-skinny==2.9.2
        """)
        try repo.write("env/env.yml", "name: conda-env\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest\nconda_file: conda.yml\n")
        #expect(try repo.ml("env", "create", "-f", "env/env.yml").status == 0)
        let shown = try JSONSerialization.jsonObject(with: Data(try repo.ml("env", "show", "azureml:conda-env@latest", "--json").stdout.utf8)) as! [String: Any]
        let spec = try #require(shown["spec"] as? [String: Any])
        #expect(spec["pip"] as? [String] == ["numpy==1.26.*", "pandas>=2.0", "mlflow-skinny==2.9.2"])
        #expect(spec["python"] as? String == "3.8")
        let warnings = (spec["warnings"] as? [String]) ?? []
        #expect(warnings.contains { $0.contains("cudatoolkit") } && warnings.contains { $0.contains("not pulled") })
        // A Python version the host cannot give is reported, and the host's Python used.
        try repo.write("pinned.yml", "command: python -c 'import sys; print(sys.version_info[0])'\nenvironment:\n  python: \"3.2\"\n")
        let pinned = try repo.ml("run", "-f", "pinned.yml")
        #expect(pinned.status == 0 && pinned.stdout == "3\n", "\(pinned.stderr)")
        #expect(pinned.stderr.contains("asks for Python 3.2; this machine has 3."), "\(pinned.stderr)")
        // The id follows the conda file's bytes.
        try repo.write("env/conda.yml", (repo.read("env/conda.yml") ?? "") + "  - scipy\n")
        let changed = try repo.ml("env", "create", "-f", "env/env.yml", "--version", "1")
        #expect(changed.status != 0 && changed.stderr.contains("already registered with other content"), "\(changed.stderr)")
    }

    @Test("data assets: registered with data create and named by job inputs as azureml:NAME:VERSION and @latest")
    func dataAssets() throws {
        let repo = try TestRepo()
        try exec(["sh", "-c", "mkdir -p data/images && echo one > data/images/a.txt && echo two > data/images/b.txt"], cwd: repo.root)
        try repo.write("data/images.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/data.schema.json
        type: uri_folder
        name: images
        description: two files
        path: ./images
        """)
        let c1 = try repo.ml("data", "create", "-f", "data/images.yml", "--json")
        #expect(c1.status == 0, "\(c1.stderr)")
        let v1 = try JSONSerialization.jsonObject(with: Data(c1.stdout.utf8)) as! [String: Any]
        #expect(v1["version"] as? String == "1" && v1["files"] as? Int == 2)
        try exec(["sh", "-c", "echo three > data/images/c.txt"], cwd: repo.root)
        let v2 = try JSONSerialization.jsonObject(with: Data(try repo.ml("data", "create", "-f", "data/images.yml", "--json").stdout.utf8)) as! [String: Any]
        #expect(v2["version"] as? String == "2" && v2["files"] as? Int == 3)
        #expect(try repo.ml("data", "list").stdout.contains("images"))

        try repo.write("job.yml", """
        command: ls ${{inputs.images}} | tr '\\n' ' '
        inputs:
          images:
            type: uri_folder
            path: azureml:images:1
        """)
        var (r, rec) = try runJob(repo, "-f", "job.yml")
        #expect(r.stdout == "a.txt b.txt ", "\(r.stderr)")
        let first = rec["id"] as! String
        var input = try #require((rec["inputs"] as? [[String: Any]])?.first)
        #expect(input["asset"] as? String == "azureml:images:1")
        #expect(input["sha256"] as? String == v1["sha256"] as? String)
        (r, rec) = try runJob(repo, "-f", "job.yml", "--set", "inputs.images.path=azureml:images@latest")
        #expect(r.stdout == "a.txt b.txt c.txt ", "\(r.stderr)")
        input = try #require((rec["inputs"] as? [[String: Any]])?.first)
        #expect(input["sha256"] as? String == v2["sha256"] as? String)
        let diff = try JSONSerialization.jsonObject(with: Data(try repo.ml("diff", first, rec["id"] as! String, "--json").stdout.utf8)) as! [String: Any]
        let changed = try #require(diff["inputs"] as? [[String: Any]])
        #expect(changed.map { $0["key"] as? String } == ["images"], "diff names the input whose bytes changed: \(changed)")
        let missing = try repo.ml("run", "-f", "job.yml", "--set", "inputs.images.path=azureml:images:9")
        #expect(missing.status == 2 && missing.stderr.contains("no data asset azureml:images:9"), "\(missing.stderr)")

        // fsck checks what assets and job inputs name.
        #expect(try repo.ml("fsck").status == 0)
        let sha = v1["sha256"] as! String
        try FileManager.default.removeItem(atPath: repo.path(".git/ml/objects/sha256/\(sha.prefix(2))/\(sha.dropFirst(2))"))
        let fsck = try repo.ml("fsck")
        #expect(fsck.status != 0)
        #expect(fsck.stdout.contains("data asset images:1") && fsck.stdout.contains("input images"), "\(fsck.stdout)")
    }

    @Test("bad job files: syntax, unknown keys, missing code folder and input paths get file:line errors and record nothing")
    func badJobFiles() throws {
        let repo = try TestRepo()
        try repo.write("src/train.py", "print('x')\n")
        let cases: [(String, String)] = [
            ("command: echo hi\ninputs:\n  a: [unclosed\n", "bad-syntax.yml:"),
            ("command: echo hi\ncomand_typo: 1\n", "unknown-key.yml:2: unknown key 'comand_typo'; accepted here: $schema, type, name"),
            ("command: python train.py\ncode: ../nowhere\n", "missing-code.yml:2: code folder '../nowhere' not found (tried "),
            ("command: cat ${{inputs.d}}\ncode: src\ninputs:\n  d:\n    type: uri_file\n    path: ./data/missing.csv\n",
             "missing-input.yml:4: input 'd' path './data/missing.csv' not found (tried \(repo.root)/data/missing.csv)"),
            ("command: echo ${{inputs.nope}}\n", "unknown-input.yml:1: the command uses ${{inputs.nope}} but the job gives no such input"),
            ("command: echo hi\nresources:\n  instance_count: two\n", "bad-count.yml:3: 'resources.instance_count' must be a whole number, not 'two'"),
        ]
        let names = ["bad-syntax.yml", "unknown-key.yml", "missing-code.yml", "missing-input.yml", "unknown-input.yml", "bad-count.yml"]
        for (i, (text, expected)) in cases.enumerated() {
            try repo.write(names[i], text)
            let r = try repo.ml("run", "-f", names[i])
            #expect(r.status == 2, "\(names[i]): \(r.stderr)")
            #expect(r.stderr.contains(expected), "\(names[i]): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
        }
        #expect(try repo.runIDs().isEmpty, "no run is recorded for a job that cannot start")
        let both = try repo.ml("run", "-f", "bad-count.yml", "--", "echo")
        #expect(both.status != 0 && both.stderr.contains("not both"))
    }

    @Test("an input file that changes while it is hashed fails the run and records no hash for it")
    func inputChangingWhileHashed() throws {
        let repo = try TestRepo()
        try exec(["sh", "-c", "head -c 300000000 /dev/zero > big.bin && echo /big.bin > .gitignore"], cwd: repo.root)
        try repo.write("job.yml", "command: echo ran\ninputs:\n  big:\n    type: uri_file\n    path: big.bin\n")
        // A writer that keeps appending while git-ml reads the file.
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/bin/sh")
        writer.arguments = ["-c", "while true; do printf x >> big.bin; done"]
        writer.currentDirectoryURL = URL(fileURLWithPath: repo.root)
        try writer.run()
        defer { kill(writer.processIdentifier, SIGKILL); writer.waitUntilExit() }
        let (r, rec) = try runJob(repo, "-f", "job.yml")
        #expect(r.status != 0)
        #expect(!r.stdout.contains("ran"))
        #expect(rec["status"] as? String == "failed")
        #expect((rec["status_reason"] as? String)?.contains("changed while it was being stored") == true, "\(rec["status_reason"] ?? "")")
        let input = (rec["inputs"] as? [[String: Any]])?.first
        #expect(input?["sha256"] == nil, "no hash recorded for bytes that did not match")
    }
}
