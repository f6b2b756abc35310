import Foundation
import Workspace

/// What the model registry API needs from storage: registered models, versions and aliases
/// (the git records of `git ml model`), and the logged models and runs a version comes from.
public protocol RegistryBackend: Sendable {
    func createRegisteredModel(name: String, description: String?, tags: [String: String]) async throws -> RegisteredModelView
    func registeredModel(_ name: String) async throws -> RegisteredModelView
    func registeredModels() async throws -> [RegisteredModelView]
    func updateRegisteredModel(_ name: String, change: @escaping @Sendable (inout RegisteredModel) -> Void) async throws -> RegisteredModelView
    func deleteRegisteredModel(_ name: String) async throws

    func createModelVersion(name: String, source: String, runID: String?, modelID: String?, description: String?,
                            tags: [String: String]) async throws -> ModelVersionView
    func modelVersion(name: String, version: String) async throws -> ModelVersionView
    func modelVersions(name: String?) async throws -> [ModelVersionView]
    func updateModelVersion(name: String, version: String, change: @escaping @Sendable (inout ModelVersion) throws -> Void) async throws -> ModelVersionView
    func deleteModelVersion(name: String, version: String) async throws
    func downloadURI(name: String, version: String) async throws -> String

    func setAlias(name: String, alias: String, version: String) async throws
    func deleteAlias(name: String, alias: String) async throws
    func modelVersion(name: String, alias: String) async throws -> ModelVersionView
}

/// A registered model as the API shows it: its record, its versions' aliases and latest versions.
public struct RegisteredModelView: Sendable {
    public var model: RegisteredModel
    public var aliases: [(alias: String, version: String)]
    public var latest: [ModelVersionView]
}

/// A model version as the API shows it, with the experiment of its run (for artifact URIs).
public struct ModelVersionView: Sendable {
    public var entry: ModelEntry
    public var experimentID: String?
    /// The work tree's top, for a folder source's `file://` URI.
    public var workTree: String = ""
}

extension TrackingStore: RegistryBackend {
    /// A workspace call whose errors become the registry's: a missing model, version or run is
    /// RESOURCE_DOES_NOT_EXIST (404), other bad input INVALID_PARAMETER_VALUE (400); only a
    /// failure to read or write storage is INTERNAL_ERROR.
    func registryCall<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as WorkspaceError {
            switch e.code {
            case .invalidArgument, .badConfig:
                let missing = e.message.hasPrefix("no model named") || e.message.hasPrefix("no registered model")
                    || e.message.contains(" has no version ") || e.message.contains(" was deleted")
                throw MLflowError(missing ? .resourceDoesNotExist : .invalidParameterValue, e.message)
            case .unknownRun, .ambiguousRun, .damaged: throw MLflowError(.resourceDoesNotExist, e.message)
            default: throw MLflowError(.internalError, e.message)
            }
        }
    }

    public func createRegisteredModel(name: String, description: String?, tags: [String: String]) throws -> RegisteredModelView {
        do {
            let model = try registryCall { try workspace.createRegisteredModel(name: name, description: description, tags: tags) }
            return RegisteredModelView(model: model, aliases: [], latest: [])
        } catch let e as MLflowError where e.message.hasSuffix("exists already") {
            throw MLflowError(.resourceAlreadyExists, "Registered Model (name=\(name)) already exists.")
        }
    }

    public func registeredModel(_ name: String) throws -> RegisteredModelView {
        guard let model = try registryCall({ try workspace.registeredModel(name) }) else {
            throw MLflowError(.resourceDoesNotExist, "Registered Model with name=\(name) not found")
        }
        return try view(of: model)
    }

    func view(of model: RegisteredModel) throws -> RegisteredModelView {
        let versions = try modelVersions(name: model.name)
        // MLflow's latest_versions: the newest version of each stage.
        var latest: [String: ModelVersionView] = [:]
        for v in versions { latest[v.entry.model.stage ?? "None"] = v }
        return RegisteredModelView(model: model, aliases: try registryCall { try workspace.modelAliases(name: model.name) },
                                   latest: latest.values.sorted { Int($0.entry.model.version) ?? 0 < Int($1.entry.model.version) ?? 0 })
    }

    public func registeredModels() throws -> [RegisteredModelView] {
        try registryCall { try workspace.registeredModels() }.map { try view(of: $0) }
    }

    public func updateRegisteredModel(_ name: String, change: @escaping @Sendable (inout RegisteredModel) -> Void) throws -> RegisteredModelView {
        _ = try registeredModel(name)
        return try view(of: try registryCall { try workspace.updateRegisteredModel(name, change) })
    }

    public func deleteRegisteredModel(_ name: String) throws {
        _ = try registeredModel(name)
        try registryCall { try workspace.deleteRegisteredModel(name) }
    }

    /// A version from `models:/m-...` (a logged model: its run's artifacts under its folder),
    /// `runs:/RUN/PATH`, or `mlflow-artifacts:/EXP/RUN/artifacts/PATH`.
    public func createModelVersion(name: String, source: String, runID: String?, modelID: String?, description: String?,
                                   tags: [String: String]) throws -> ModelVersionView {
        guard try registryCall({ try workspace.registeredModel(name) }) != nil else {
            throw MLflowError(.resourceDoesNotExist, "Registered Model with name=\(name) not found")
        }
        var run = runID, path = "", logged: String?
        if source.hasPrefix("models:/m-") || (modelID?.hasPrefix("m-") == true && source.hasPrefix("models:/")) {
            let model = try loggedModel(modelID ?? String(source.dropFirst("models:/".count)))
            run = model.runID; path = model.folder; logged = model.id
        } else if source.hasPrefix("models:/"), let ref = ModelReference.parse(source) {
            // Another registered version (MLflow's copy_model_version): the same bytes and source under this name.
            let original = try registryCall { try workspace.model(ref) }
            let draft = ModelDraft(name: name, type: original.model.type, description: description?.isEmpty == true ? nil : description, tags: tags)
            return versionView(try registryCall { try workspace.copyModel(original, as: draft, uri: source) })
        } else if source.hasPrefix("runs:/") {
            let rest = source.dropFirst("runs:/".count)
            run = String(rest.prefix { $0 != "/" })
            path = String(rest.dropFirst(run!.count).drop { $0 == "/" })
        } else if source.hasPrefix("mlflow-artifacts:/") {
            let parts = source.dropFirst("mlflow-artifacts:/".count).split(separator: "/").map(String.init)
            guard parts.count >= 3, parts[2] == "artifacts" else {
                throw MLflowError(.invalidParameterValue, "Invalid model version source: '\(source)'")
            }
            run = parts[1]; path = parts[3...].joined(separator: "/")
        } else {
            throw MLflowError(.invalidParameterValue, "Invalid model version source: '\(source)'. git-ml registers a run's artifacts (runs:/RUN/PATH) or a logged model (models:/m-...)")
        }
        guard let run, !run.isEmpty, let clean = Workspace.validArtifactPath(path) else {
            throw MLflowError(.invalidParameterValue, "Invalid model version source: '\(source)'")
        }
        _ = try loadRecord(run)
        let draft = ModelDraft(name: name, description: description?.isEmpty == true ? nil : description, tags: tags)
        let entry = try registryCall {
            try workspace.registerModel(draft, run: run, artifactPath: clean, uri: source, loggedModel: logged)
        }
        return ModelVersionView(entry: entry, experimentID: try? self.view(run).experimentID, workTree: workspace.workTree)
    }

    func versionView(_ entry: ModelEntry) -> ModelVersionView {
        ModelVersionView(entry: entry, experimentID: entry.model.source.run.flatMap { try? self.view($0).experimentID }, workTree: workspace.workTree)
    }

    static func checkVersion(_ version: String) throws {
        guard Int(version) != nil else {
            throw MLflowError(.invalidParameterValue, "Model version must be an integer, got '\(version)'")
        }
    }

    public func modelVersion(name: String, version: String) throws -> ModelVersionView {
        try Self.checkVersion(version)
        do {
            return versionView(try registryCall { try workspace.model(ModelReference(name: name, selector: .version(version))) })
        } catch let e as MLflowError where e.code == .invalidParameterValue {
            throw MLflowError(.resourceDoesNotExist, "Model Version (name=\(name), version=\(version)) not found")
        }
    }

    public func modelVersions(name: String?) throws -> [ModelVersionView] {
        if let name, try registryCall({ try workspace.registeredModel(name) }) == nil { return [] }
        return try registryCall { try workspace.listModels(name: name) }.map(versionView)
    }

    public func updateModelVersion(name: String, version: String, change: @escaping @Sendable (inout ModelVersion) throws -> Void) throws -> ModelVersionView {
        _ = try modelVersion(name: name, version: version)
        return versionView(try registryCall { try workspace.updateModel("\(name):\(version)", change) })
    }

    public func deleteModelVersion(name: String, version: String) throws {
        _ = try modelVersion(name: name, version: version)
        try registryCall { try workspace.deleteModelVersion(name: name, version: version) }
    }

    /// Where the client downloads a version from: the run's artifacts it was registered from.
    public func downloadURI(name: String, version: String) throws -> String {
        let v = try modelVersion(name: name, version: version)
        let m = v.entry.model
        // A logged model's files are listed through the model (a run's own listing leaves them out, as MLflow 3's does).
        if let logged = m.source.loggedModel, let model = try? loggedModel(logged), m.source.path == model.folder {
            return "mlflow-artifacts:/\(model.experimentID)/models/\(model.id)/artifacts"
        }
        if let run = m.source.run, let exp = v.experimentID, m.source.output == "outputs" || m.source.output == "artifacts/outputs" {
            return "mlflow-artifacts:/\(exp)/\(run)/artifacts" + (m.source.path.map { "/" + $0 } ?? "")
        }
        throw MLflowError(.invalidParameterValue, "Model Version (name=\(name), version=\(version)) was registered from \(m.source.folder ?? m.source.output ?? "a file"), not from a run's artifacts; download it with git ml model download \(name):\(version) DIR")
    }

    public func setAlias(name: String, alias: String, version: String) throws {
        _ = try registeredModel(name)
        try Self.checkVersion(version)
        _ = try modelVersion(name: name, version: version)
        _ = try registryCall { try workspace.setModelAlias(name: name, alias: alias, version: version) }
    }

    public func deleteAlias(name: String, alias: String) throws {
        _ = try registeredModel(name)
        // MLflow: a missing alias is not an error.
        guard try registryCall({ try workspace.modelAliases(name: name) }).contains(where: { $0.alias == alias }) else { return }
        try registryCall { try workspace.removeModelAlias(name: name, alias: alias) }
    }

    public func modelVersion(name: String, alias: String) throws -> ModelVersionView {
        _ = try registeredModel(name)
        do {
            return versionView(try registryCall { try workspace.model(ModelReference(name: name, selector: .alias(alias))) })
        } catch let e as MLflowError where e.code == .invalidParameterValue {
            throw MLflowError(.invalidParameterValue, "Registered model alias \(alias) not found.")
        }
    }
}
