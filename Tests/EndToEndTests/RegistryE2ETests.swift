import Foundation
import Testing

/// The real `mlflow` client against the model registry API: inside a run and through `git ml serve`.
extension TrackingE2ETests {
    @Test("log_model(registered_model_name=) and register_model register here, and the client reads them back")
    func mlflowRegistry() throws {
        let repo = try TestRepo()
        try repo.write("train.py", """
            import mlflow, mlflow.sklearn, numpy as np
            from sklearn.linear_model import LogisticRegression
            X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = [0, 0, 1, 1]
            with mlflow.start_run():
                mlflow.log_param("C", "1.0")
                mlflow.log_metric("acc", 0.75)
                info = mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model", registered_model_name="churn",
                                                input_example=X[:2], serialization_format="cloudpickle")
                print("OUT version", info.registered_model_version)

            """)
        try repo.git("add", "-A"); try repo.git("commit", "-qm", "train")
        let run = try repo.ml(["run", "--", Self.python, "train.py"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("OUT version 1"), "\(run.stdout)")
        let id = try #require(runID(from: run.stderr))
        // The version's record: from the run, an MLflow model, its parent the run's commit at registration.
        let v1 = try json(try repo.ml("model", "show", "churn:1", "--json")) as! [String: Any]
        #expect(v1["type"] as? String == "mlflow_model")
        let source = v1["source"] as! [String: Any]
        #expect(source["run"] as? String == id && source["path"] as? String == "model")
        #expect((source["logged_model"] as? String)?.hasPrefix("m-") == true)
        #expect(((v1["mlflow"] as? [String: Any])?["flavors"] as? [String: Any])?["sklearn"] != nil)
        let parent = try repo.git("rev-parse", "refs/ml/models/churn/1^")
        #expect(try repo.git("show", "\(parent):run.json").contains("\"id\" : \"\(id)\""))
        // The registered bytes are the run's stored model files.
        let outputs = try repo.ml("checkout", id, "--outputs", "out")
        #expect(outputs.status == 0)
        #expect(try repo.ml("model", "download", "churn:1", "dl").status == 0)
        #expect(try sha256(repo.path("dl/model.pkl")) == (try sha256(repo.path("out/model/model.pkl"))))

        let (server, url) = try serve(repo)
        defer { server.interrupt(); server.waitUntilExit() }
        let script = """
            import mlflow, numpy as np
            from mlflow import MlflowClient
            from mlflow.exceptions import MlflowException
            c = MlflowClient()
            v = mlflow.register_model("runs:/\(id)/model", "churn")
            print("OUT registered", v.version, v.status, v.run_id)
            c.set_registered_model_alias("churn", "champion", v.version)
            print("OUT alias", c.get_model_version_by_alias("churn", "champion").version)
            c.set_model_version_tag("churn", v.version, "validated", "yes")
            c.update_model_version("churn", v.version, description="second")
            c.set_registered_model_tag("churn", "team", "risk")
            c.update_registered_model("churn", description="churn classifier")
            print("OUT models", [m.name for m in mlflow.search_registered_models()])
            print("OUT versions", sorted(m.version for m in c.search_model_versions("name='churn'")))
            rm = c.get_registered_model("churn")
            print("OUT rm", rm.description, rm.tags, rm.aliases)
            mv = c.get_model_version("churn", v.version)
            print("OUT mv", mv.description, mv.tags, mv.aliases, mv.current_stage)
            model = mlflow.pyfunc.load_model("models:/churn@champion")
            print("OUT predict", list(model.predict(np.array([[0.0], [3.0]]))))
            for call in [lambda: c.create_registered_model("churn"),
                         lambda: c.get_model_version_by_alias("churn", "nosuch"),
                         lambda: c.get_model_version("churn", "9"),
                         lambda: c.get_registered_model("nosuch")]:
                try:
                    call(); print("OUT no error")
                except MlflowException as e:
                    print("OUT error", e.error_code)
            c.delete_registered_model_alias("churn", "champion")
            c.transition_model_version_stage("churn", "1", "Production")
            print("OUT latest", [(m.version, m.current_stage) for m in c.get_latest_versions("churn", stages=["Production"])])
            c.delete_model_version("churn", "1")
            print("OUT after delete", sorted(m.version for m in c.search_model_versions("name='churn'")))
            v3 = c.create_model_version("churn", "runs:/\(id)/model", run_id="\(id)")
            print("OUT runs source", v3.version, v3.source, sorted(m.version for m in c.search_model_versions(f"run_id = '\(id)'")))
            copy = c.copy_model_version("models:/churn/2", "churn-copy")
            print("OUT copy", copy.name, copy.version, copy.source, copy.run_id == "\(id)")
            print("OUT ordered", [m.version for m in c.search_model_versions("name='churn'", order_by=["version_number ASC"])])

            """
        let r = try exec([Self.python, "-c", script], cwd: repo.root, env: ["MLFLOW_TRACKING_URI": url])
        #expect(r.status == 0, "\(r.stderr)")
        let out = r.stdout.split(separator: "\n").filter { $0.hasPrefix("OUT ") }.map { String($0.dropFirst(4)) }
        #expect(out == [
            "registered 2 READY \(id)",
            "alias 2",
            "models ['churn']",
            "versions ['1', '2']",
            "rm churn classifier {'team': 'risk'} {'champion': '2'}",
            "mv second {'validated': 'yes'} ['champion'] None",
            "predict [np.int64(0), np.int64(1)]",
            "error RESOURCE_ALREADY_EXISTS",
            "error INVALID_PARAMETER_VALUE",
            "error RESOURCE_DOES_NOT_EXIST",
            "error RESOURCE_DOES_NOT_EXIST",
            "latest [('1', 'Production')]",
            "after delete ['2']",
            "runs source 3 runs:/\(id)/model ['2', '3']",
            "copy churn-copy 1 models:/churn/2 True",
            "ordered ['2', '3']",
        ], "\(r.stdout)\n\(r.stderr.suffix(3000))")

        // What the client did is git-ml's record: the alias's moves, the tags, the deleted version kept.
        let log = try json(try repo.ml("model", "alias", "log", "churn", "champion", "--json")) as! [[String: Any]]
        #expect(log.map { $0["version"] as? String } == [nil, "2"])
        let v2 = try json(try repo.ml("model", "show", "churn:2", "--json")) as! [String: Any]
        #expect(try repo.git("rev-parse", "refs/ml/models/churn-copy/1^") == (v2["source"] as? [String: Any])?["run_commit"] as? String,
                "a copy has the original's parent: the run record it came from")
        #expect(v2["tags"] as? [String: String] == ["validated": "yes"] && v2["description"] as? String == "second")
        // MLflow 3's client finds no MLmodel among the run's own artifacts and names the logged model instead.
        #expect(((v2["source"] as? [String: Any])?["uri"] as? String)?.hasPrefix("models:/m-\(id)-") == true)
        #expect(try repo.git("show", "refs/ml/models/churn/1:model.json").contains("\"deleted\" : true"))

        // A deleted version keeps its lineage and audit.
        let lineage = try json(try repo.ml("lineage", "run:" + id, "--downstream", "--json")) as! [String: Any]
        #expect((lineage["downstream"] as! [String]).contains("model:churn:1"))
        let audit = try repo.ml("audit", "churn:1", "--verify")
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
        // The run's final record edited by hand: churn:2, registered from the ended run, names the
        // params it was made with; churn:1, registered while the run went on, its command and start.
        try repo.editRecord("refs/ml/runs/\(id)", "run.json") { $0.replacingOccurrences(of: "\"C\" : \"1.0\"", with: "\"C\" : \"9.0\"") }
        let tampered = try repo.ml("audit", "churn:2")
        #expect(tampered.status == 1 && tampered.stderr.contains("which changes params"), "\(tampered.stderr)")
        try repo.editRecord("refs/ml/runs/\(id)", "run.json") { $0.replacingOccurrences(of: "train.py", with: "other.py") }
        let moved = try repo.ml("audit", "churn:1")
        #expect(moved.status == 1 && moved.stderr.contains("which changes command"), "\(moved.stderr)")
    }
}
