import ArgumentParser
import Foundation
import Workspace

struct CICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ci",
        abstract: "Continuous integration: write a workflow that trains, reports against the base branch, promotes and shares.",
        discussion: """
        Examples:
          git ml ci init --github
          git ml ci init --azure --job .mlops/jobs/train.yml --model churn
        """,
        subcommands: [CIInit.self])
}

struct CIInit: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write .github/workflows/git-ml.yml (--github) or azure-pipelines.yml (--azure) from git-ml's templates.",
        discussion: """
        The workflow checks out with history, installs git-ml, runs git ml pull, the job, git ml report against the base branch (the job summary, and one pull-request comment on GitHub, updated on each push), git ml model promote on the base branch when --model is given, and git ml push. Every step is plain shell over environment variables; see docs/ci.md.

        Examples:
          git ml ci init --github
          git ml ci init --github --job .mlops/jobs/train.yml --model churn --if "metrics.acc >= base"
          git ml ci init --azure --branch main --force
        """)

    @Flag(help: "GitHub Actions: .github/workflows/git-ml.yml.")
    var github = false
    @Flag(help: "Azure Pipelines: azure-pipelines.yml.")
    var azure = false
    @Option(help: "The job file to run (default: the first of .mlops/jobs/*.yml, train.yml, job.yml, pipeline.yml).")
    var job: String?
    @Option(help: "The base branch: runs on pushes to it and pull requests into it; the report compares with it.")
    var branch = "main"
    @Option(help: "Promote this model's latest version on the base branch when it beats the alias.")
    var model: String?
    @Option(help: "The output path of the model the job writes, as `git ml model register --path` takes it (artifacts/outputs/model for a job file's outputs/ folder).")
    var modelPath = "artifacts/outputs/model"
    @Option(help: "The alias promotion moves.")
    var alias = "production"
    @Option(name: .customLong("if"), help: "The promotion's condition.")
    var condition = "metrics.acc >= base"
    @Flag(help: "Replace an existing workflow file.")
    var force = false
    @OptionGroup var output: JSONOption

    func validate() throws {
        guard github != azure else { throw ValidationError("choose one: --github or --azure") }
    }

    func run(in workspace: Workspace) throws {
        let result = try workspace.initCI(system: github ? "github" : "azure", job: job, branch: branch, model: model, modelPath: modelPath,
                                          alias: alias, condition: condition, force: force)
        if output.json { Out.print(try Render.json(result)); return }
        Out.print("\(result.replaced ? "replaced" : "wrote") \(result.path): runs \(result.job) on pushes to \(branch) and pull requests into it")
        Out.print("commit it: git add \(result.path) && git commit -m 'CI: git-ml'")
    }
}
