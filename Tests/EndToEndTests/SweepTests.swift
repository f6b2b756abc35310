import Foundation
import Testing

/// A training script with no dependency: its score is x times the epoch, one report an epoch.
let sweepTrainScript = """
import argparse, time
import gitml

p = argparse.ArgumentParser()
p.add_argument("--x", type=float, required=True)
p.add_argument("--kind", default="a")
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--sleep", type=float, default=0.0)
a = p.parse_args()
for e in range(1, a.epochs + 1):
    gitml.log_metric("score", a.x * e, step=e)
    time.sleep(a.sleep)
print("done", a.x, a.kind)

"""

func json(_ text: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
}

@Suite(.serialized) struct SweepTests {
    @Test("a sweep job runs its trials as child runs; a bandit policy stops a hopeless trial with the values compared; show and runs report them")
    func banditStopsAHopelessTrial() throws {
        let repo = try TestRepo(files: ["src/train.py": sweepTrainScript, "README.md": "# sweep\n", "jobs/sweep.yml": """
            $schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
            type: sweep
            trial:
              code: ../src
              command: >-
                python3 train.py --x ${{search_space.x}} --epochs ${{inputs.epochs}} --sleep 0.4
            inputs:
              epochs: 4
            sampling_algorithm: grid
            search_space:
              x:
                type: choice
                values: [10, 1, 9.5]
            objective:
              goal: maximize
              primary_metric: score
            limits:
              max_total_trials: 3
              max_concurrent_trials: 1
            early_termination:
              type: bandit
              slack_factor: 0.1
              evaluation_interval: 1
              delay_evaluation: 2
            experiment_name: tuning
            display_name: grid-x

            """])
        let r = try repo.ml(["run", "-f", "sweep.yml"], cwd: repo.path("jobs"))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("trial 1 stopped_by_policy"), "\(r.stderr)")

        let shown = try json(try repo.ml("sweep", "show", "latest", "--json").stdout)
        let trials = shown["trials"] as! [[String: Any]]
        #expect(trials.count == 3)
        let byIndex = Dictionary(uniqueKeysWithValues: trials.map { ($0["index"] as! Int, $0) })
        #expect((byIndex[0]?["params"] as? [String: String]) == ["x": "10"])
        #expect(byIndex[0]?["status"] as? String == "completed" && byIndex[0]?["objective"] as? Double == 40)
        #expect(byIndex[1]?["status"] as? String == "stopped_by_policy")
        #expect(byIndex[1]?["reason"] as? String == "bandit policy at report 2: score 2 is below best 20 / (1 + 0.1) = 18.1818")
        #expect(byIndex[2]?["status"] as? String == "completed" && byIndex[2]?["objective"] as? Double == 38)
        let best = shown["best"] as! [String: Any]
        #expect(best["id"] as? String == byIndex[0]?["id"] as? String)
        #expect(trials.first?["id"] as? String == best["id"] as? String, "best first")
        #expect((shown["search_space"] as? [String: String]) == ["x": "choice(10, 1, 9.5)"])

        // Every trial is a run of its own, under the sweep, on the sweep's code.
        let sweepID = shown["id"] as! String
        let runs = try JSONSerialization.jsonObject(with: Data(try repo.ml("runs", "--json").stdout.utf8)) as! [[String: Any]]
        #expect(runs.filter { $0["kind"] as? String == "sweep" }.map { $0["id"] as! String } == [sweepID])
        let children = runs.filter { $0["kind"] as? String == "trial" }
        #expect(children.count == 3 && children.allSatisfy { $0["parent"] as? String == sweepID })
        let stopped = try repo.record(byIndex[1]!["id"] as! String)
        #expect(stopped["status"] as? String == "stopped_by_policy" && stopped["trial_index"] as? Int == 1)
        #expect((stopped["params"] as? [String: String])?["x"] == "1")
        #expect((stopped["code"] as? [String: Any])?["tree"] as? String == ((try repo.record(sweepID))["code"] as? [String: Any])?["tree"] as? String)
        let text = try repo.ml("runs").stdout
        #expect(text.contains("grid-x (sweep)") && text.contains("└ grid-x-trial-1"), "\(text)")
        let table = try repo.ml("sweep", "show", sweepID).stdout
        #expect(table.contains("★") && table.contains("best: trial 0"), "\(table)")

        // Mistakes name the file and line.
        try repo.write("jobs/bad.yml", """
            type: sweep
            trial: {command: python3 train.py}
            sampling_algorithm: grid
            search_space:
              lr: {type: uniform, min_value: 0.1, max_value: 1}
            objective: {goal: maximize, primary_metric: acc}

            """)
        let bad = try repo.ml("run", "-f", "jobs/bad.yml")
        #expect(bad.status != 0 && bad.stderr.contains("jobs/bad.yml:5: grid sampling enumerates the search space, but lr is uniform"), "\(bad.stderr)")
        #expect(try repo.ml("sweep", "show", byIndex[1]!["id"] as! String).stderr.contains("it is a trial of sweep \(sweepID)"))
    }

    @Test("trials run side by side; a sweep stopped by Ctrl-C, or its git-ml killed, resumes without running a finished trial again",
          arguments: [SIGINT, SIGKILL])
    func interruptedSweepResumes(_ signal: Int32) throws {
        let repo = try TestRepo(files: ["train.py": sweepTrainScript, "sweep.yml": """
            type: sweep
            trial:
              code: .
              command: python3 train.py --x ${{search_space.x}} --kind ${{search_space.kind}} --epochs 3 --sleep 0.5
            sampling_algorithm:
              type: random
              seed: 7
            search_space:
              x: {type: uniform, min_value: 0, max_value: 1}
              kind: {type: choice, values: [a, b]}
            objective: {goal: maximize, primary_metric: score}
            limits: {max_total_trials: 6, max_concurrent_trials: 2}

            """])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: gitmlBinary)
        process.arguments = ["run", "-f", "sweep.yml"]
        process.currentDirectoryURL = URL(fileURLWithPath: repo.root)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var completed: [String] = []
        let enough = try waitUntil(90) {
            guard let shown = try? json(try repo.ml("sweep", "show", "latest", "--json").stdout) else { return false }
            completed = (shown["trials"] as! [[String: Any]]).filter { $0["status"] as? String == "completed" }.map { $0["id"] as! String }
            return completed.count >= 2
        }
        #expect(enough)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(process.terminationStatus == (signal == SIGINT ? 130 : SIGKILL))
        let first = try json(try repo.ml("sweep", "show", "latest", "--json").stdout)
        // Ctrl-C: recorded canceled; a killed git-ml leaves a running record, found lost.
        #expect(first["status"] as? String == (signal == SIGINT ? "canceled" : "lost"))
        let cutShort = (first["trials"] as! [[String: Any]]).filter { $0["status"] as? String != "completed" }
        #expect(!cutShort.isEmpty)

        // The time used so far is kept for limits.timeout, and the resumed session adds to it.
        let sweepID = first["id"] as! String
        let usedBefore = (try repo.record(sweepID)["sweep"] as? [String: Any])?["elapsed_seconds"] as? Double ?? 0
        #expect(usedBefore > 0)
        let resumed = try repo.ml("sweep", "resume", "latest")
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(((try repo.record(sweepID)["sweep"] as? [String: Any])?["elapsed_seconds"] as? Double ?? 0) > usedBefore)
        let last = try json(try repo.ml("sweep", "show", "latest", "--json").stdout)
        #expect(last["status"] as? String == "completed")
        let trials = last["trials"] as! [[String: Any]]
        #expect(trials.count == 6 && trials.allSatisfy { $0["status"] as? String == "completed" })
        #expect(Set(trials.map { $0["index"] as! Int }) == Set(0..<6))
        // Finished trials were kept, not run again; those cut short ran again with their parameters.
        let ids = Set(trials.map { $0["id"] as! String })
        #expect(Set(completed).isSubset(of: ids))
        for t in cutShort {
            let again = trials.first { $0["index"] as? Int == t["index"] as? Int }
            #expect(again?["id"] as? String != t["id"] as? String)
            #expect(again?["params"] as? [String: String] == t["params"] as? [String: String])
        }
        // Two trials ran at the same time: some pair's start and end overlap.
        let records = try trials.map { try repo.record($0["id"] as! String) }
        let spans = records.map { ($0["start_time"] as! String, $0["end_time"] as! String) }
        #expect(spans.indices.contains { i in spans.indices.contains { j in i != j && spans[i].0 < spans[j].1 && spans[j].0 < spans[i].1 } })
    }

    @Test("Azure's hello-sweep example runs as written: random choice and uniform, MLflow logging, the best by the goal",
          .enabled(if: testUV != nil, "make test installs uv into the test venv (GITML_TEST_PYTHON)"))
    func helloSweepExample() throws {
        let repo = try TestRepo(files: ["README.md": "# basics\n", "hello-sweep.yml": """
            $schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
            type: sweep
            trial:
              command: >-
                python hello-sweep.py
                --A ${{inputs.A}}
                --B ${{search_space.B}}
                --C ${{search_space.C}}
              code: src
              environment: azureml:AzureML-sklearn-1.5@latest
            inputs:
              A: 0.5
            sampling_algorithm: random
            search_space:
              B:
                type: choice
                values: ["hello", "world", "hello_world"]
              C:
                type: uniform
                min_value: 0.1
                max_value: 1.0
            objective:
              goal: minimize
              primary_metric: random_metric
            limits:
              max_total_trials: 4
              max_concurrent_trials: 2
              timeout: 3600
            display_name: hello-sweep-example
            experiment_name: hello-sweep-example
            description: Hello sweep job example.

            """, "src/hello-sweep.py": """
            import os
            import mlflow
            import argparse

            from random import random

            def main(args):
                print(f"A: {args.A}")
                print(f"B: {args.B}")
                print(f"C: {args.C}")
                mlflow.log_param("A", args.A)
                mlflow.log_param("B", args.B)
                mlflow.log_param("C", args.C)
                mlflow.log_metric("random_metric", random())

            def parse_args():
                parser = argparse.ArgumentParser()
                parser.add_argument("--A", type=float, default=0.5)
                parser.add_argument("--B", type=str, default="hello world")
                parser.add_argument("--C", type=float, default=1.0)
                args = parser.parse_args()
                return args

            if __name__ == "__main__":
                args = parse_args()
                main(args)

            """])
        let r = try repo.ml(["run", "-f", "hello-sweep.yml"], env: ["GITML_UV": testUV!])
        #expect(r.status == 0, "\(r.stderr.suffix(3000))")
        let shown = try json(try repo.ml("sweep", "show", "latest", "--json").stdout)
        let trials = shown["trials"] as! [[String: Any]]
        #expect(trials.count == 4 && trials.allSatisfy { $0["status"] as? String == "completed" })
        for t in trials {
            let params = t["params"] as! [String: String]
            #expect(["hello", "world", "hello_world"].contains(params["B"] ?? ""))
            let c = Double(params["C"] ?? "") ?? -1
            #expect(c >= 0.1 && c <= 1.0)
            // The trial run has the script's own params beside them, equal.
            let record = try repo.record(t["id"] as! String)
            let recorded = record["params"] as! [String: String]
            #expect(recorded["A"] == "0.5" && recorded["B"] == params["B"] && recorded["C"] == params["C"], "\(recorded)")
            #expect(record["experiment"] as? String == "hello-sweep-example")
        }
        let objectives = trials.compactMap { $0["objective"] as? Double }
        #expect(objectives.count == 4)
        #expect((shown["best"] as? [String: Any])?["objective"] as? Double == objectives.min())
        let runs = try JSONSerialization.jsonObject(with: Data(try repo.ml("runs", "--json").stdout.utf8)) as! [[String: Any]]
        #expect(runs.filter { $0["kind"] as? String == "trial" }.count == 4)
    }

    @Test("truncation selection and median stopping stop the trials they should; sobol and bayesian samplers on a known objective")
    func policiesAndSamplers() throws {
        let repo = try TestRepo(files: ["train.py": sweepTrainScript, "base.yml": """
            type: sweep
            trial:
              code: .
              command: python3 train.py --x ${{search_space.x}} --epochs 3 --sleep 0.3
            sampling_algorithm: grid
            search_space:
              x: {type: choice, values: [6, 5, 1, 4]}
            objective: {goal: maximize, primary_metric: score}
            limits: {max_total_trials: 4, max_concurrent_trials: 1}
            early_termination: {type: truncation_selection, truncation_percentage: 40, evaluation_interval: 1, delay_evaluation: 2}

            """])
        func statuses() throws -> [Int: (String, String?)] {
            let shown = try json(try repo.ml("sweep", "show", "latest", "--json").stdout)
            return Dictionary(uniqueKeysWithValues: (shown["trials"] as! [[String: Any]]).map { ($0["index"] as! Int, ($0["status"] as! String, $0["reason"] as? String)) })
        }
        #expect(try repo.ml("run", "-f", "base.yml").status == 0)
        var s = try statuses()
        // At report 2 the trial with x=1 is the lowest of three; at report 3, x=4 is the lowest of the three that got there.
        #expect(s[0]?.0 == "completed" && s[1]?.0 == "completed")
        #expect(s[2]?.0 == "stopped_by_policy" && s[2]?.1?.hasPrefix("truncation selection policy at report 2: score 2 ranks 1 of 3") == true, "\(s)")
        #expect(s[3]?.0 == "stopped_by_policy" && s[3]?.1?.hasPrefix("truncation selection policy at report 3: score 12 ranks 1 of 3") == true, "\(s)")

        // Median stopping: x=1 is below the median of the others' running averages at report 2.
        #expect(try repo.ml("run", "-f", "base.yml", "--set", "early_termination.type=median_stopping").status == 0)
        s = try statuses()
        #expect(s[2]?.0 == "stopped_by_policy" && s[2]?.1?.contains("median stopping policy at report 2: score 2 is worse than the median") == true, "\(s)")
        #expect(s[0]?.0 == "completed" && s[1]?.0 == "completed")

        // Sobol: the same seed draws the same trials; every point in range and distinct.
        try repo.write("sobol.yml", """
            type: sweep
            trial:
              code: .
              command: python3 train.py --x ${{search_space.x}} --epochs 1
            sampling_algorithm: {type: random, seed: 11, rule: sobol}
            search_space:
              x: {type: uniform, min_value: 2, max_value: 4}
            objective: {goal: minimize, primary_metric: score}
            limits: {max_total_trials: 8, max_concurrent_trials: 2}

            """)
        func xs() throws -> [Int: String] {
            let shown = try json(try repo.ml("sweep", "show", "latest", "--json").stdout)
            return Dictionary(uniqueKeysWithValues: (shown["trials"] as! [[String: Any]]).map { ($0["index"] as! Int, ($0["params"] as! [String: String])["x"]!) })
        }
        #expect(try repo.ml("run", "-f", "sobol.yml").status == 0)
        let first = try xs()
        #expect(first.count == 8 && Set(first.values).count == 8 && first.values.allSatisfy { (Double($0) ?? 0) >= 2 && (Double($0) ?? 9) <= 4 })
        // Any 8 consecutive points of a 1-D Sobol sequence: at most two fall in any eighth of the range.
        let bins = Dictionary(grouping: first.values.map { Int((Double($0)! - 2) / 2 * 8) }, by: { $0 }).mapValues(\.count)
        #expect(bins.values.allSatisfy { $0 <= 2 }, "\(first)")
        #expect(try repo.ml("run", "-f", "sobol.yml").status == 0)
        #expect(try xs() == first)

        // Bayesian, with a policy beside it: the score peaks at x = 0.3; ten trials find it.
        try repo.write("peak.py", """
            import argparse, gitml
            p = argparse.ArgumentParser(); p.add_argument("--x", type=float); a = p.parse_args()
            gitml.log_metric("score", -(a.x - 0.3) ** 2)

            """)
        try repo.write("bayes.yml", """
            type: sweep
            trial:
              code: .
              command: python3 peak.py --x ${{search_space.x}}
            sampling_algorithm: bayesian
            search_space:
              x: {type: uniform, min_value: 0, max_value: 1}
            objective: {goal: maximize, primary_metric: score}
            limits: {max_total_trials: 10, max_concurrent_trials: 1}
            early_termination: {type: bandit, slack_amount: 0.5}

            """)
        #expect(try repo.ml("run", "-f", "bayes.yml").status == 0)
        let shown = try json(try repo.ml("sweep", "show", "latest", "--json").stdout)
        let bestX = Double(((shown["best"] as? [String: Any])?["params"] as? [String: String])?["x"] ?? "") ?? 9
        #expect(abs(bestX - 0.3) < 0.05, "\(shown["trials"] ?? "")")
        #expect((shown["sampling"] as? String)?.hasPrefix("bayesian") == true)

        // A trial that crashes is recorded as failed and the sweep goes on; a metric no trial logs is said after the first two.
        try repo.write("crash.yml", """
            type: sweep
            trial:
              code: .
              command: python3 train.py --x ${{search_space.x}} --epochs 1 && test ${{search_space.x}} != 2
            sampling_algorithm: grid
            search_space:
              x: {type: choice, values: [1, 2, 3]}
            objective: {goal: maximize, primary_metric: score}
            limits: {max_concurrent_trials: 1}

            """)
        #expect(try repo.ml("run", "-f", "crash.yml").status == 0)
        s = try statuses()
        #expect(s[0]?.0 == "completed" && s[1]?.0 == "failed" && s[2]?.0 == "completed", "\(s)")
        let missing = try repo.ml("run", "-f", "crash.yml", "--set", "objective.primary_metric=accuracy")
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("crash.yml:8: no trial logs the primary metric 'accuracy' (2 completed; trial 2 logged score)"), "\(missing.stderr)")
        #expect(try statuses().count == 3, "the two finished and the one failed between them; nothing after")

        // limits.trial_timeout stops a trial; limits.timeout ends the sweep, its running trial canceled.
        let slow = try repo.ml("run", "-f", "crash.yml", "--set", "trial.command=python3 train.py --x ${{search_space.x}} --epochs 1 --sleep 4",
                               "--set", "limits.trial_timeout=1")
        #expect(slow.status != 0)
        s = try statuses()
        #expect(s.count == 3 && s.values.allSatisfy { $0.0 == "failed" && $0.1?.contains("timed out after 1 s") == true }, "\(s)")
        let capped = try repo.ml("run", "-f", "crash.yml", "--set", "trial.command=python3 train.py --x ${{search_space.x}} --epochs 1 --sleep 4",
                                 "--set", "limits.timeout=1")
        #expect(capped.status == 0, "\(capped.stderr)")
        let shownCapped = try json(try repo.ml("sweep", "show", "latest", "--json").stdout)
        let cappedTrials = shownCapped["trials"] as! [[String: Any]]
        #expect(cappedTrials.count == 1 && cappedTrials[0]["status"] as? String == "canceled", "\(cappedTrials)")
        #expect(try repo.ml("sweep", "show", "latest").stdout.contains("completed · the sweep's limits.timeout (1 s) was reached"))
    }

    /// A repository whose sweep.yml runs a grid over x, one trial at a time; a trial logs score = x
    /// through $GITML_METRICS with a shell line, and fails for x = 0.
    func scoreSweep(values: String) throws -> TestRepo {
        try TestRepo(files: ["README.md": "# sweep\n",
                             "score.sh": "[ \"$1\" = 0 ] && exit 1\necho \"{\\\"key\\\": \\\"score\\\", \\\"value\\\": $1}\" >> \"$GITML_METRICS\"\n",
                             "sweep.yml": """
            type: sweep
            trial: {code: ., command: "sh score.sh ${{search_space.x}}"}
            sampling_algorithm: grid
            search_space:
              x: {type: choice, values: [\(values)]}
            objective: {goal: maximize, primary_metric: score}
            limits: {max_concurrent_trials: 1}

            """])
    }

    @Test("on a terminal a sweep keeps a status line (done, running, failed, stopped, the best so far); piped, it prints none")
    func statusLineOnATerminal() throws {
        let repo = try scoreSweep(values: "1, 0, 3, 2")
        // util-linux's script gives git-ml a terminal; its output (stdout and stderr) comes back as script's.
        let shown = try exec(["script", "-qec", "\(gitmlBinary) run -f sweep.yml", "/dev/null"], cwd: repo.root)
        #expect(shown.status == 0, "\(shown.stdout)")
        let redraw = "\r\u{1b}[K"
        #expect(shown.stdout.contains(redraw + "git-ml: 1 done · 1 running · 1 failed · 0 stopped · 3/4 · best score=1 (trial 0)"), "\(shown.stdout)")
        #expect(shown.stdout.contains(redraw + "git-ml: 3 done · 0 running · 1 failed · 0 stopped · 4/4 · best score=3 (trial 2)"), "\(shown.stdout)")
        // Each trial's own line clears the status line first, so none is left mid-line.
        #expect(shown.stdout.contains(redraw + "git-ml: trial 3 completed score=2"), "\(shown.stdout)")

        let piped = try repo.ml("run", "-f", "sweep.yml")
        #expect(piped.status == 0 && piped.stderr.contains("git-ml: trial 3 completed score=2"), "\(piped.stderr)")
        #expect(!piped.stderr.contains("\u{1b}") && !piped.stderr.contains("done ·"), "\(piped.stderr)")
    }

    @Test("a trial started just before a crash and never recorded (the parent's record lags by up to a second) runs on resume")
    func aTrialNeverRecordedRunsOnResume() throws {
        let repo = try scoreSweep(values: "1, 2, 3, 4")
        #expect(try repo.ml("run", "-f", "sweep.yml").status == 0)
        let shown = try json(try repo.ml("sweep", "show", "latest", "--json").stdout)
        let sweepID = shown["id"] as! String
        let lost = (shown["trials"] as! [[String: Any]]).first { $0["index"] as? Int == 1 }!["id"] as! String
        // What a crash in that second leaves: trial 1 neither in the parent's record nor recorded itself,
        // trial 2 and 3 recorded, the sweep cut short.
        var record = try repo.record(sweepID)
        record["status"] = "canceled"
        var summary = record["sweep"] as! [String: Any]
        summary["trials"] = (summary["trials"] as! [[String: Any]]).filter { $0["index"] as? Int != 1 }
        record["sweep"] = summary
        try repo.write("edited-run.json", String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self))
        let script = """
            set -e
            ref=refs/ml/runs/\(sweepID)
            blob=$(git hash-object -w edited-run.json)
            export GIT_INDEX_FILE=.git/edit-index
            git read-tree $ref
            git update-index --cacheinfo 100644,$blob,run.json
            git update-ref $ref $(git commit-tree $(git write-tree) -p $ref -m run)
            git update-ref -d refs/ml/runs/\(lost)
            rm edited-run.json .git/edit-index
            """
        let edited = try exec(["sh", "-c", script], cwd: repo.root)
        #expect(edited.status == 0, "\(edited.stderr)")
        #expect(try json(try repo.ml("sweep", "show", sweepID, "--json").stdout)["trials"].map { ($0 as! [Any]).count } == 3)

        let resumed = try repo.ml("sweep", "resume", sweepID)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let trials = try json(try repo.ml("sweep", "show", sweepID, "--json").stdout)["trials"] as! [[String: Any]]
        #expect(trials.count == 4 && trials.allSatisfy { $0["status"] as? String == "completed" }, "\(trials)")
        let again = trials.first { $0["index"] as? Int == 1 }
        #expect(again?["id"] as? String != lost && again?["params"] as? [String: String] == ["x": "2"], "\(trials)")
    }
}
