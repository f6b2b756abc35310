import Foundation
import Testing

/// The generated workflows' steps, run as a CI runner would run them (in order, each with
/// `bash -eo pipefail`), against a bare remote, with the runner's environment variables.
@Suite("git ml ci init: the GitHub and Azure workflows' steps run as scripts against a bare remote")
struct CIWorkflowTests {
    /// The run steps and the job-level environment of a workflow file, read with PyYAML from the test venv.
    func steps(of file: String) throws -> (steps: [String], env: [String: String]) {
        let script = """
            import json, sys, yaml
            doc = yaml.safe_load(open(sys.argv[1]))
            if "jobs" in doc:
                job = next(iter(doc["jobs"].values()))
                steps, env = [s["run"] for s in job["steps"] if "run" in s], job.get("env", {})
                uses = [s["uses"] for s in job["steps"] if "uses" in s]
            else:
                steps, env = [s["script"] for s in doc["steps"] if "script" in s], doc.get("variables", {})
                uses = [s["checkout"] for s in doc["steps"] if "checkout" in s]
            print(json.dumps({"steps": steps, "env": {k: str(v) for k, v in env.items()}, "uses": uses}))
            """
        let r = try exec([TrackingE2ETests.python, "-c", script, file], cwd: "/")
        guard r.status == 0, let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw TestFailure("cannot read \(file): \(r.stderr)")
        }
        return (doc["steps"] as! [String], (doc["env"] as! [String: String]).filter { !$0.value.contains("${{") })
    }

    /// Checks out `branch` of `remote` with its history (what actions/checkout with fetch-depth 0 and
    /// Azure's checkout with fetchDepth 0 do) and runs every step; returns the checkout.
    func runCI(_ workflow: String, remote: BareRemote, branch: String, runner: [String: String]) throws -> TestRepo {
        let checkout = try TestRepo(commit: false, files: [:])
        try checkout.git("remote", "add", "origin", remote.path)
        try checkout.git("fetch", "-q", "origin")
        try checkout.git("checkout", "-q", "-b", branch, "--track", "origin/\(branch)")
        let (steps, env) = try steps(of: checkout.path(workflow))
        #expect(steps.count >= 6, "install, pull, train, report, promote, push")
        var environment = pathWithGitML.merging(env) { _, b in b }
        environment.merge(runner) { _, b in b }
        for step in steps {
            let r = try exec(["bash", "-eo", "pipefail", "-c", step], cwd: checkout.root, env: environment)
            guard r.status == 0 else { throw TestFailure("step failed (\(r.status)):\n\(step)\n\(r.stdout)\n\(r.stderr)") }
        }
        return checkout
    }

    /// A repository on a bare remote with a job that logs `acc` (larger with a larger lr) and writes a model,
    /// and the workflow `git ml ci init` wrote for it.
    func project(_ system: String) throws -> (BareRemote, TestRepo, String) {
        let remote = try BareRemote()
        let dev = try TestRepo.clone(of: remote.path, email: "dev@example.com")
        try dev.write(".mlops/jobs/train.yml", """
            code: ../..
            command: sh train.sh ${{inputs.lr}}
            inputs:
              lr: 0.1

            """)
        try dev.write("train.sh", """
            echo "{\\"key\\":\\"acc\\",\\"value\\":0.${1#0.},\\"step\\":1}" >> "$GITML_METRICS"
            mkdir -p outputs/model && echo "$1" > outputs/model/w.txt

            """)
        let initCI = try dev.ml("ci", "init", system, "--model", "churn", "--if", "metrics.acc >= base", "--json")
        #expect(initCI.status == 0, "\(initCI.stderr)")
        let written = try #require((try JSONSerialization.jsonObject(with: Data(initCI.stdout.utf8)) as? [String: Any])?["path"] as? String)
        #expect((try JSONSerialization.jsonObject(with: Data(initCI.stdout.utf8)) as? [String: Any])?["job"] as? String == ".mlops/jobs/train.yml")
        let again = try dev.ml("ci", "init", system)
        #expect(again.status != 0 && again.stderr.contains("exists already"), "an existing workflow is kept without --force")
        try dev.git("add", "-A"); try dev.git("commit", "-qm", "train job and CI")
        #expect(try dev.gitWithHooks("push", "-q", "origin", "main").status == 0)
        return (remote, dev, written)
    }

    /// A pull request's branch: a larger lr (better acc).
    func pullRequest(_ dev: TestRepo) throws {
        try dev.git("checkout", "-q", "-b", "feature")
        try dev.write(".mlops/jobs/train.yml", dev.read(".mlops/jobs/train.yml")!.replacingOccurrences(of: "lr: 0.1", with: "lr: 0.2"))
        try dev.git("commit", "-qam", "larger lr")
        #expect(try dev.gitWithHooks("push", "-q", "origin", "feature").status == 0)
    }

    @Test("GitHub Actions: a push to main trains, promotes and shares; a pull request trains and reports against main's run")
    func github() throws {
        let (remote, dev, workflow) = try project("--github")
        #expect(workflow == ".github/workflows/git-ml.yml")
        let summary1 = FileManager.default.temporaryDirectory.path + "/gitml-summary-\(UUID().uuidString.prefix(8)).md"
        defer { try? FileManager.default.removeItem(atPath: summary1) }
        let main = try runCI(workflow, remote: remote, branch: "main",
                             runner: ["GITHUB_EVENT_NAME": "push", "GITHUB_REF_NAME": "main", "GITHUB_STEP_SUMMARY": summary1])
        let first = try #require(FileManager.default.contents(atPath: summary1).map { String(decoding: $0, as: UTF8.self) })
        #expect(first.hasPrefix("<!-- git-ml-report -->") && first.contains("against no run of this job on the base"), "\(first)")
        let aliases = try main.ml("model", "alias", "list", "churn", "--json")
        #expect(aliases.stdout.contains("\"production\" : \"1\""), "the first version on main is promoted: \(aliases.stdout) \(aliases.stderr)")
        #expect(try remote.refs().contains { $0.hasPrefix("refs/ml/ledger/") }, "the runner published its records")

        try pullRequest(dev)
        let summary2 = summary1 + ".pr"
        defer { try? FileManager.default.removeItem(atPath: summary2) }
        let pr = try runCI(workflow, remote: remote, branch: "feature",
                           runner: ["GITHUB_EVENT_NAME": "pull_request", "GITHUB_BASE_REF": "main", "GITHUB_REF_NAME": "1/merge",
                                    "GITHUB_STEP_SUMMARY": summary2])
        let report = try #require(FileManager.default.contents(atPath: summary2).map { String(decoding: $0, as: UTF8.self) })
        let mainRun = try main.runIDs()
        #expect(report.contains("against run") && report.contains(mainRun.first ?? "?"), "the pull request's run is compared with main's: \(report)")
        #expect(report.contains("| acc ↑ | 0.2 | 0.1 | +0.1 | ✅ better |"), "\(report)")
        #expect(try pr.ml("model", "list", "--json").stdout.contains("\"version\" : \"1\""), "a pull request registers and promotes nothing")
        let versions = try pr.ml("model", "list", "churn", "--json").stdout
        #expect(!versions.contains("\"version\" : \"2\""), "\(versions)")
    }

    @Test("Azure Pipelines: the same journey with Azure's variables")
    func azure() throws {
        let (remote, dev, workflow) = try project("--azure")
        #expect(workflow == "azure-pipelines.yml")
        let main = try runCI(workflow, remote: remote, branch: "main",
                             runner: ["BUILD_SOURCEBRANCH": "refs/heads/main", "BUILD_REASON": "IndividualCI"])
        #expect(try main.ml("model", "alias", "list", "churn", "--json").stdout.contains("\"production\" : \"1\""))
        #expect(FileManager.default.fileExists(atPath: main.path("ml-report.md")))
        try pullRequest(dev)
        let pr = try runCI(workflow, remote: remote, branch: "feature",
                           runner: ["BUILD_SOURCEBRANCH": "refs/pull/1/merge", "BUILD_REASON": "PullRequest",
                                    "SYSTEM_PULLREQUEST_TARGETBRANCH": "refs/heads/main"])
        let report = try #require(pr.read("ml-report.md"))
        #expect(report.contains("| acc ↑ | 0.2 | 0.1 | +0.1 | ✅ better |"), "\(report)")
    }
}
