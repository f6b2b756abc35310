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

    @Test("trials run side by side; a sweep stopped by Ctrl-C resumes without running a finished trial again")
    func interruptedSweepResumes() throws {
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
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let first = try json(try repo.ml("sweep", "show", "latest", "--json").stdout)
        #expect(first["status"] as? String == "canceled")
        let cutShort = (first["trials"] as! [[String: Any]]).filter { $0["status"] as? String != "completed" }
        #expect(!cutShort.isEmpty)

        let resumed = try repo.ml("sweep", "resume", "latest")
        #expect(resumed.status == 0, "\(resumed.stderr)")
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
}
