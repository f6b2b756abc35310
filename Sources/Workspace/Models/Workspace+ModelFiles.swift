import Foundation
import ObjectStore

extension Workspace {
    static let modelFileKeys = ["$schema", "name", "version", "type", "path", "description", "tags", "properties", "flavors",
                                "datastore", "stage", "job_name"]

    /// Registers a model from an Azure ML model file (`az ml model create -f model.yml`):
    /// `name`, `version`, `path` (relative to the file; also `runs:/RUN/PATH` and
    /// `azureml://jobs/RUN/outputs/OUTPUT/paths/PATH` for a run's output), `type`,
    /// `description`, `tags`, `properties`.
    public func createModel(file given: String, sign: Bool = false, progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> ModelEntry {
        let absolute = absolutePath(given)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            throw WorkspaceError(.invalidArgument, "\(given): no such model file")
        }
        let shown = relativeOrAbsolute(absolute)
        let root = try SpecNode.parse(data, file: shown)
        let reader = SpecReader(file: shown)
        guard case .mapping = root else { throw reader.fail(root.line, "a model file is a mapping (name, path, type, ...)") }
        try reader.allowed(root, Self.modelFileKeys, in: "a model file",
                         hints: ["local_path": "use path", "model_uri": "use path", "model_format": "use type: mlflow_model"])
        func string(_ key: String) throws -> String? { try reader.string(root[key], key) }
        func map(_ key: String) throws -> [String: String] { try reader.stringMap(root[key], key) }
        guard let name = try string("name"), !name.isEmpty else { throw reader.fail(root.line, "missing 'name'") }
        if let problem = ModelNames.problem(with: name, what: "model name") { throw reader.fail(root["name"]!.line, problem) }
        let type = try string("type") ?? nil
        if let type, !Self.modelTypes.contains(type) {
            throw reader.fail(root["type"]!.line, "model type '\(type)' is not one of \(Self.modelTypes.joined(separator: ", "))")
        }
        guard let path = try string("path"), !path.isEmpty else { throw reader.fail(root.line, "missing 'path': the model's file or folder") }
        let pathLine = root["path"]!.line
        var draft = ModelDraft(name: name, version: try string("version"), type: type, description: try string("description"),
                               tags: try map("tags"), properties: try map("properties"), sign: sign)
        if let v = draft.version, ModelNames.problem(with: v, what: "version") != nil {
            throw reader.fail(root["version"]!.line, "version '\(ModelNames.printable(v))' is not a version; use a number such as 1")
        }
        do {
            // A run's output: runs:/RUN/PATH (its MLflow artifacts) or azureml://jobs/RUN/outputs/NAME[/paths/PATH].
            if let (run, output) = try Self.runModelPath(path) {
                let record = try self.record(run)
                let artifacts = record.outputs.contains { $0.name == "artifacts/outputs" } ? "artifacts/outputs" : "outputs"
                let inRun = output.name == "artifacts" ? artifacts + (output.path.isEmpty ? "" : "/" + output.path)
                    : output.name + (output.path.isEmpty ? "" : "/" + output.path)
                return try registerModel(draft, run: record.id, path: inRun, file: shown)
            }
            if path.contains("://") && !path.hasPrefix("file://") {
                throw reader.fail(pathLine, "'\(path)' is not read by git-ml; give a local path, runs:/RUN/PATH or azureml://jobs/RUN/outputs/NAME/paths/PATH")
            }
            let folder = String(absolute[..<absolute.lastIndex(of: "/")!])
            let bare = path.hasPrefix("file://") ? String(path.dropFirst(7)) : path
            let local = URL(fileURLWithPath: bare.hasPrefix("/") ? bare : folder + "/" + bare).standardizedFileURL.path
            guard FileManager.default.fileExists(atPath: local) else {
                throw reader.fail(pathLine, "path '\(path)' not found (tried \(local))", hint: "paths are relative to the model file's folder")
            }
            var source = ModelVersion.Source(kind: "folder")
            source.folder = relativeOrAbsolute(local)
            source.file = shown
            draft.sign = sign
            return try registerModel(draft, at: local, shown: path, source: source, progress: progress)
        } catch let e as WorkspaceError where e.code == .invalidArgument && !e.message.hasPrefix(shown + ":") {
            // Name the line whose value was refused.
            let line = e.message.contains("type") ? root["type"]?.line ?? pathLine : e.message.contains("version") ? root["version"]?.line ?? pathLine : pathLine
            throw WorkspaceError(.invalidArgument, "\(shown):\(line): \(e.message)", hint: e.hint)
        }
    }

    /// `runs:/RUN/PATH` -> (RUN, artifacts/PATH); `azureml://jobs/RUN/outputs/NAME/paths/PATH` -> (RUN, NAME/PATH).
    static func runModelPath(_ path: String) throws -> (run: String, output: (name: String, path: String))? {
        func clean(_ s: Substring) -> String { s.split(separator: "/").joined(separator: "/") }
        if path.hasPrefix("runs:/") {
            let rest = path.dropFirst("runs:/".count)
            let run = rest.prefix { $0 != "/" }
            guard !run.isEmpty else { return nil }
            return (String(run), ("artifacts", clean(rest.dropFirst(run.count))))
        }
        if path.hasPrefix("azureml://jobs/") {
            let parts = path.dropFirst("azureml://jobs/".count).split(separator: "/", omittingEmptySubsequences: true)
            guard parts.count >= 3, parts[1] == "outputs" else { return nil }
            var inside = ""
            if parts.count > 4, parts[3] == "paths" { inside = parts[4...].joined(separator: "/") }
            return (String(parts[0]), (String(parts[2]), inside))
        }
        return nil
    }
}
