import Foundation
import Testing

/// The real `mlflow` Python client against `git ml serve`.
@Suite("git ml serve: the mlflow client records git-ml runs")
struct TrackingE2ETests {
    /// The Python with mlflow-skinny that `make test` installs (.venv-test); a missing one fails the test.
    static let python: String = {
        if let p = ProcessInfo.processInfo.environment["GITML_TEST_PYTHON"] { return p }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        return root + "/.venv-test/bin/python"
    }()

    /// Starts `git ml serve --port 0` in the repository and returns it with its URL.
    func serve(_ repo: TestRepo, arguments: [String] = [], token: String? = nil) throws -> (Process, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: gitmlBinary)
        p.arguments = ["serve", "--port", "0"] + arguments
        if let token { p.environment = ProcessInfo.processInfo.environment.merging(["GITML_SERVE_TOKEN": token]) { _, new in new } }
        p.currentDirectoryURL = URL(fileURLWithPath: repo.root)
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !text.contains("serving the MLflow tracking API at ") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let r = text.range(of: "at http://"), let end = text[r.upperBound...].firstIndex(of: " ") else {
            p.terminate()
            throw TestFailure("git ml serve did not start: \(text)")
        }
        return (p, "http://" + text[r.upperBound..<end])
    }

    @Test("a script with MLFLOW_TRACKING_URI set creates a git-ml run tied to HEAD, with its params, metrics and tags")
    func mlflowClientRecords() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.python), "make test installs mlflow-skinny into .venv-test")
        let repo = try TestRepo()
        let (server, url) = try serve(repo)
        defer { server.interrupt(); server.waitUntilExit() }
        let script = """
        import math, mlflow, sys
        mlflow.set_experiment("notebook")
        with mlflow.start_run(run_name="from-notebook") as run:
            mlflow.log_param("lr", 0.1)
            for i in range(3):
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
            mlflow.set_tag("team", "cv")
            mlflow.log_metrics({"acc": 0.9, "weird": float("nan")}, step=3)
            try:
                mlflow.log_param("lr", 0.2)
                print("OUT changed a param")
            except mlflow.exceptions.MlflowException as e:
                print("OUT refused:", e.error_code)
        c = mlflow.tracking.MlflowClient()
        r = c.get_run(run.info.run_id)
        print("OUT", run.info.run_id)
        print("OUT", r.info.status, r.data.params["lr"], r.data.metrics["acc"], math.isnan(r.data.metrics["weird"]))
        print("OUT", [m.value for m in c.get_metric_history(run.info.run_id, "loss")])
        print("OUT", sorted(e.name for e in c.search_experiments()))
        """
        let r = try exec([Self.python, "-c", script], cwd: repo.root, env: ["MLFLOW_TRACKING_URI": url])
        #expect(r.status == 0, "\(r.stderr)")
        // The client prints its own lines ("View run at ..."); ours start with OUT.
        let lines = r.stdout.split(separator: "\n").filter { $0.hasPrefix("OUT ") }.map { String($0.dropFirst(4)) }
        #expect(lines.first == "refused: INVALID_PARAMETER_VALUE", "params cannot change: \(r.stdout)")
        let id = try #require(lines.dropFirst().first)
        #expect(lines.dropFirst(2).first == "FINISHED 0.1 0.9 True")
        #expect(lines.dropFirst(3).first == "[1.0, 0.5, 0.3333333333333333]")
        #expect(lines.dropFirst(4).first == "['Default', 'notebook']")

        let record = try repo.record(id)
        #expect(record["status"] as? String == "completed")
        #expect(record["kind"] as? String == "mlflow")
        #expect(record["experiment"] as? String == "notebook")
        #expect(record["name"] as? String == "from-notebook")
        #expect((record["code"] as? [String: Any])?["commit"] as? String == (try repo.git("rev-parse", "HEAD")))
        #expect((record["params"] as? [String: String])?["lr"] == "0.1")
        #expect((record["tags"] as? [String: String])?["team"] == "cv")
        let metrics = try #require(record["metrics"] as? [String: [String: Any]])
        #expect(metrics["loss"]?["steps"] as? Int == 3)
        #expect(metrics["weird"]?["last"] as? String == "NaN", "NaN is kept")
        #expect(try repo.ml("show", id).stdout.contains("from-notebook"))
    }

    @Test("beyond loopback only with a token; the mlflow client sends it from MLFLOW_TRACKING_TOKEN")
    func tokenRequired() throws {
        let repo = try TestRepo()
        let refused = try repo.ml("serve", "--host", "0.0.0.0", "--port", "0")
        #expect(refused.status != 0 && refused.stderr.contains("needs a token; set GITML_SERVE_TOKEN"), "\(refused.stderr)")
        let (server, url) = try serve(repo, token: "s3cret")
        defer { server.interrupt(); server.waitUntilExit() }
        let script = """
        import mlflow
        c = mlflow.tracking.MlflowClient()
        print("OUT", [e.name for e in c.search_experiments()])
        """
        let ok = try exec([Self.python, "-c", script], cwd: repo.root, env: ["MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_TOKEN": "s3cret"])
        #expect(ok.stdout.contains("OUT ['Default']"), "\(ok.stderr)")
        let denied = try exec([Self.python, "-c", script], cwd: repo.root, env: ["MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_TOKEN": "wrong"])
        #expect(denied.status != 0 && denied.stderr.contains("UNAUTHENTICATED"), "\(denied.stderr.suffix(300))")
    }
}
