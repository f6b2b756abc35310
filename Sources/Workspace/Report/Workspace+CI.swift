import Foundation

/// What `git ml ci init` wrote.
public struct CIInitResult: Sendable, Codable {
    public var system: String
    public var path: String
    public var job: String
    public var replaced: Bool
}

extension Workspace {
    /// The CI systems `git ml ci init` writes for: template name and where the workflow goes.
    static let ciSystems: [String: (template: String, path: String)] = [
        "github": ("github-actions", ".github/workflows/git-ml.yml"),
        "azure": ("azure-pipelines", "azure-pipelines.yml"),
    ]

    /// Writes the CI workflow for `system` (github, azure) from its template: check out with
    /// history, install git-ml, `git ml pull`, run the job, `git ml report`, promote (when a
    /// model is named), `git ml push`. An existing file is replaced only with `force`.
    public func initCI(system: String, job: String?, branch: String, model: String?, modelPath: String = "outputs/model", alias: String, condition: String,
                       force: Bool) throws -> CIInitResult {
        guard let (template, path) = Self.ciSystems[system], let text = EmbeddedAssets.ciTemplates[template] else {
            throw WorkspaceError(.invalidArgument, "unknown CI system '\(system)'; git-ml writes workflows for github and azure")
        }
        let jobFile: String
        if let job {
            let absolute = absolutePath(job)
            guard FileManager.default.fileExists(atPath: absolute) else {
                throw WorkspaceError(.invalidArgument, "job file \(job) does not exist", hint: "name one with --job FILE (a command, sweep or pipeline job)")
            }
            jobFile = relative(absolute)
        } else {
            let candidates = ((try? FileManager.default.contentsOfDirectory(atPath: workTree + "/.mlops/jobs")) ?? [])
                .filter { $0.hasSuffix(".yml") || $0.hasSuffix(".yaml") }.sorted().map { ".mlops/jobs/" + $0 }
                + ["train.yml", "job.yml", "pipeline.yml"]
            guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: workTree + "/" + $0) }) else {
                throw WorkspaceError(.invalidArgument, "no job file found (.mlops/jobs/*.yml, train.yml, job.yml, pipeline.yml)",
                                     hint: "name one: git ml ci init --\(system) --job path/to/job.yml")
            }
            jobFile = found
        }
        if let model { try Self.checkModelName(model) }
        try Self.checkAlias(alias)
        _ = try Self.parseCondition(condition)
        for (what, value) in [("--branch", branch), ("--job", jobFile), ("--if", condition), ("--model-path", modelPath)] where value.contains("\"") || value.contains("\n") || value.contains("{{") {
            throw WorkspaceError(.invalidArgument, "\(what) '\(value)' cannot hold quotes, newlines or {{")
        }
        let filled = text.replacingOccurrences(of: "{{job}}", with: jobFile)
            .replacingOccurrences(of: "{{branch}}", with: branch)
            .replacingOccurrences(of: "{{model_path}}", with: modelPath)
            .replacingOccurrences(of: "{{model}}", with: model ?? "")
            .replacingOccurrences(of: "{{alias}}", with: alias)
            .replacingOccurrences(of: "{{condition}}", with: condition)
        let target = workTree + "/" + path
        let exists = FileManager.default.fileExists(atPath: target)
        if exists && !force {
            throw WorkspaceError(.invalidArgument, "\(path) exists already; nothing was written", hint: "replace it with --force")
        }
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try writeFileAtomically(Data(filled.utf8), to: target)
        return CIInitResult(system: system, path: path, job: jobFile, replaced: exists)
    }
}
