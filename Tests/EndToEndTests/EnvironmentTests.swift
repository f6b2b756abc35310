import Foundation
import Testing

/// The uv that `make test` installs beside the mlflow client (the test venv's bin/uv).
let testUV: String? = {
    guard let python = ProcessInfo.processInfo.environment["GITML_TEST_PYTHON"] else { return nil }
    let uv = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("uv").path
    return FileManager.default.isExecutableFile(atPath: uv) ? uv : nil
}()

/// The modules a script expects from each curated environment, as their Azure namesakes carry them.
let curatedImports: [(name: String, modules: [String])] = [
    ("AzureML-sklearn-1.5", ["sklearn", "pandas", "numpy", "scipy", "joblib", "matplotlib", "mlflow", "mlflow.sklearn"]),
    ("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", ["sklearn", "pandas", "numpy", "scipy", "joblib", "matplotlib", "mlflow", "mlflow.sklearn"]),
    ("AzureML-lightgbm-3.3", ["lightgbm", "xgboost", "sklearn", "pandas", "numpy", "scipy", "matplotlib", "mlflow"]),
    ("AzureML-tensorflow-2.16-cuda12", ["tensorflow", "numpy", "pandas", "matplotlib", "mlflow"]),
    ("AzureML-acpt-pytorch-2.2-cuda12.1", ["torch", "torchvision", "numpy", "pandas", "matplotlib", "mlflow"]),
    ("AzureML-minimal-ubuntu22.04-py311-cpu", ["json", "venv"]),
]

@Suite("environments: curated ones run the public examples, built with uv and a shared cache; conda files translated")
struct EnvironmentTests {
    @Test("the curated scikit-learn environment carries mlflow: a job imports the stack and mlflow.sklearn.log_model runs")
    func curatedSklearnRunsMlflow() throws {
        let uv = try #require(testUV, "make test installs uv into the test venv (GITML_TEST_PYTHON)")
        let repo = try TestRepo()
        try repo.write("src/train.py", """
        import joblib, matplotlib, numpy, pandas, scipy, sklearn
        import mlflow, mlflow.sklearn
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        X, y = load_iris(return_X_y=True)
        model = LogisticRegression(max_iter=300).fit(X, y)
        mlflow.log_metric("train_accuracy", model.score(X, y))
        # No start_run: as on Azure ML, the job's run is the active one.
        info = mlflow.sklearn.log_model(model, name="model")
        mlflow.sklearn.save_model(model, "outputs/saved")
        print("logged", info.model_uri, sklearn.__version__)
        """)
        try repo.write("job.yml", """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        code: src
        command: python train.py
        environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
        """)
        try repo.git("add", "-A")
        try repo.git("commit", "-q", "-m", "job")
        let r = try repo.ml(["run", "-f", "job.yml"], env: ["GITML_UV": uv])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("logged models:/m-") && r.stdout.contains(" 1.5."), "\(r.stdout)")
        let shown = try repo.ml("show", "latest")
        #expect(shown.stdout.contains("mlflow models") && shown.stdout.contains("train_accuracy"), "\(shown.stdout)")
        // Built with uv, said in the record kept with the lock.
        let envID = try #require((try repo.record(try repo.runIDs()[0])["environment"] as? [String: Any])?["id"] as? String)
        #expect(try repo.git("show", "refs/ml/envs/\(envID):build.txt").contains("built with \(uv)"))
        #expect(try repo.git("show", "refs/ml/envs/\(envID):lock.txt").contains("mlflow-skinny=="))

        // The older scikit-learn name the examples use most after it (a numpy 2 broke it once).
        let (name, modules) = curatedImports[1]
        try repo.write("old.yml", "command: python -c \"import \(modules.joined(separator: ", ")); print('imported')\"\nenvironment: azureml:\(name)@latest\n")
        let old = try repo.ml(["run", "-f", "old.yml"], env: ["GITML_UV": uv])
        #expect(old.status == 0 && old.stdout.contains("imported"), "\(old.stderr.suffix(1500))")
    }

    @Test("every curated environment builds and imports its key modules (GITML_TEST_ALL_CURATED=1: gigabytes of wheels)",
          .enabled(if: ProcessInfo.processInfo.environment["GITML_TEST_ALL_CURATED"] == "1"))
    func everyCuratedEnvironmentImports() throws {
        let uv = try #require(testUV)
        let repo = try TestRepo()
        for (name, modules) in curatedImports {
            try repo.write("job.yml", "command: python -c \"import \(modules.joined(separator: ", ")); print('imported')\"\nenvironment: azureml:\(name)@latest\n")
            let r = try repo.ml(["run", "-f", "job.yml"], env: ["GITML_UV": uv])
            #expect(r.status == 0 && r.stdout.contains("imported"), "\(name): \(r.stderr.suffix(2000))")
        }
    }

    @Test("a conda file is translated: names and version syntax said once in the build log and kept in the record")
    func condaTranslation() throws {
        let uv = try #require(testUV)
        let repo = try TestRepo()
        try repo.write("env/conda.yml", """
        channels: [conda-forge]
        dependencies:
          - python=3.11
          - six=1.16
          - conda-forge::py-xgboost-cpu>=9999
          - mkl
          - pip
          - pip:
            - idna
        """)
        try repo.write("env/env.yml", "name: translated\nconda_file: conda.yml\n")
        #expect(try repo.ml("env", "create", "-f", "env/env.yml").status == 0)
        let shown = try JSONSerialization.jsonObject(with: Data(try repo.ml("env", "show", "azureml:translated@latest", "--json").stdout.utf8)) as! [String: Any]
        let spec = try #require(shown["spec"] as? [String: Any])
        #expect(spec["translations"] as? [String] == ["conda six=1.16 -> pip six==1.16.*", "conda conda-forge::py-xgboost-cpu>=9999 -> pip xgboost>=9999"])
        #expect((spec["warnings"] as? [String] ?? []).contains { $0.contains("mkl") })

        // Built without the impossible xgboost: the translations are said once in the build, and kept with the lock.
        try repo.write("env/conda.yml", (repo.read("env/conda.yml") ?? "").replacingOccurrences(of: "  - conda-forge::py-xgboost-cpu>=9999\n", with: ""))
        try repo.write("job.yml", "command: python -c \"import six, idna; print(six.__version__)\"\nenvironment:\n  conda_file: env/conda.yml\n")
        let r = try repo.ml(["run", "-f", "job.yml"], env: ["GITML_UV": uv])
        #expect(r.status == 0 && r.stdout.hasPrefix("1.16."), "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.components(separatedBy: "conda six=1.16 -> pip six==1.16.*").count == 2, "said once: \(r.stderr)")
        let envID = try #require((try repo.record(try repo.runIDs()[0])["environment"] as? [String: Any])?["id"] as? String)
        let notes = try repo.git("show", "refs/ml/envs/\(envID):build.txt")
        #expect(notes.contains("conda six=1.16 -> pip six==1.16.*") && notes.contains("mkl"), "\(notes)")
        // A second run says nothing of it: the environment is built.
        let again = try repo.ml(["run", "-f", "job.yml"], env: ["GITML_UV": uv])
        #expect(again.status == 0 && !again.stderr.contains("conda six"), "\(again.stderr)")
    }

    @Test("a build that fails names the package in one line and leaves no half-built environment")
    func failedBuildNamesThePackage() throws {
        let uv = try #require(testUV)
        let repo = try TestRepo()
        try repo.write("job.yml", "command: python -c 'print(1)'\nenvironment:\n  pip:\n    - six\n    - gitml-no-such-package-xyz==1.0\n")
        let r = try repo.ml(["run", "-f", "job.yml"], env: ["GITML_UV": uv])
        #expect(r.status == 1)
        let reason = try repo.record(try repo.runIDs()[0])["status_reason"] as? String ?? ""
        #expect(reason.contains("failed to build: uv pip install") && reason.contains("gitml-no-such-package-xyz") && !reason.contains("\n"), "\(reason)")
        let envs = repo.path(".git/ml/envs")
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: envs)) ?? []).filter { !$0.hasSuffix(".log") && !$0.hasSuffix(".lock") }
        #expect(left.isEmpty, "no half-built environment: \(left)")
    }

    @Test("with fetch_uv, git-ml installs uv into its own tool folder once and builds with it")
    func fetchesUV() throws {
        let repo = try TestRepo()
        let tools = repo.path("../" + URL(fileURLWithPath: repo.root).lastPathComponent + "-tools")
        defer { try? FileManager.default.removeItem(atPath: tools) }
        try repo.write(".mlops/config.yaml", "environments:\n  installer: uv\n  fetch_uv: true\n")
        try repo.write("job.yml", "command: python -c 'import six; print(six.__name__)'\nenvironment:\n  pip: [six]\n")
        // No uv on PATH: only the folders git and python live in.
        let path = ["/usr/bin", "/bin", URL(fileURLWithPath: try exec(["sh", "-c", "command -v python3"], cwd: "/").stdout.trimmingCharacters(in: .whitespacesAndNewlines)).deletingLastPathComponent().path].joined(separator: ":")
        let r = try repo.ml(["run", "-f", "job.yml"], env: ["GITML_TOOLS_DIR": tools, "PATH": path])
        #expect(r.status == 0 && r.stdout == "six\n", "\(r.stderr)")
        #expect(FileManager.default.isExecutableFile(atPath: tools + "/uv/bin/uv"))
        let envID = try #require((try repo.record(try repo.runIDs()[0])["environment"] as? [String: Any])?["id"] as? String)
        #expect(try repo.git("show", "refs/ml/envs/\(envID):build.txt").contains("built with \(tools)/uv/bin/uv"))
    }

    @Test("a sweep job without a search space, a pipeline job and an unknown type each get one line naming the file")
    func otherJobTypes() throws {
        let repo = try TestRepo()
        try repo.write("sweep.yml", "$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json\ntype: sweep\ntrial:\n  command: python train.py\n")
        let r = try repo.ml("run", "-f", "sweep.yml")
        #expect(r.status != 0)
        #expect(r.stderr.hasPrefix("git-ml: sweep.yml:1: a sweep job needs a search_space"), "\(r.stderr)")
        #expect(!r.stderr.contains("unknown key"))
        try repo.write("pipe.yml", "type: pipeline\njobs: {}\n")
        #expect(try repo.ml("run", "-f", "pipe.yml").stderr.contains("pipe.yml:1: type: pipeline jobs are not supported"))
        try repo.write("odd.yml", "type: automl\n")
        #expect(try repo.ml("run", "-f", "odd.yml").stderr.contains("odd.yml:1: unknown job type 'automl'; Azure ML's job types are command, sweep, pipeline"))
    }

    @Test("registrations without a version at the same moment take different numbers; an unknown curated version is refused")
    func concurrentRegistrations() throws {
        let repo = try TestRepo()
        for i in 0..<4 { try repo.write("env\(i).yml", "name: shared\npip:\n  - six==1.1\(i)\n") }
        let processes = (0..<4).map { i -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: gitmlBinary)
            p.arguments = ["env", "create", "-f", "env\(i).yml"]
            p.currentDirectoryURL = URL(fileURLWithPath: repo.root)
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            return p
        }
        for p in processes { try p.run() }
        for p in processes { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        let refs = try repo.git("for-each-ref", "--format=%(refname)", "refs/ml/envs/shared/").split(separator: "\n").map(String.init)
        #expect(refs.sorted() == (1...4).map { "refs/ml/envs/shared/\($0)" })
        let ids = try refs.map { try repo.git("rev-parse", $0) }
        #expect(Set(ids).count == 4, "each version names its own environment")

        let unknown = try repo.ml("env", "show", "azureml:AzureML-sklearn-2.0@latest")
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown environment"), "\(unknown.stderr)")
    }
}
