import Foundation
import GitKit
import ObjectStore

/// What a registration is given besides the bytes.
public struct ModelDraft: Sendable {
    public var name: String
    /// nil: the next version.
    public var version: String?
    /// nil: `mlflow_model` when the bytes hold an `MLmodel`, else `custom_model`.
    public var type: String?
    public var description: String?
    public var tags: [String: String] = [:]
    public var properties: [String: String] = [:]
    /// Sign the record commit with the user's git signing setup.
    public var sign = false

    public init(name: String, version: String? = nil, type: String? = nil, description: String? = nil,
                tags: [String: String] = [:], properties: [String: String] = [:], sign: Bool = false) {
        self.name = name; self.version = version; self.type = type; self.description = description
        self.tags = tags; self.properties = properties; self.sign = sign
    }
}

/// A model version with the record commit it was read from.
public struct ModelEntry: Sendable {
    public var model: ModelVersion
    public var commit: String
    /// The aliases pointing at it.
    public var aliases: [String]
}

extension Workspace {
    static let modelTypes = ["custom_model", "mlflow_model", "triton_model"]

    static func checkModelName(_ name: String) throws {
        if let problem = ModelNames.problem(with: name, what: "model name") {
            throw WorkspaceError(.invalidArgument, problem)
        }
    }

    // MARK: registering

    /// Registers one of a run's outputs (or a path inside one) as the next version of `draft.name`.
    /// `path` starts with an output's name as `git ml show` lists it (`outputs/model`,
    /// `artifacts/outputs/model.pkl`, `output_folder/my_model`).
    public func registerModel(_ draft: ModelDraft, run: String, path: String) throws -> ModelEntry {
        try registerModel(draft, run: run, path: path, file: nil)
    }

    /// Registers a run's artifacts (or a path inside them) as an MLflow client names them:
    /// `uri` is kept as the version's source, `loggedModel` is the `m-...` id it came through.
    public func registerModel(_ draft: ModelDraft, run: String, artifactPath: String, uri: String, loggedModel: String?) throws -> ModelEntry {
        let (id, commit) = try resolveRun(run)
        let record = try readRecord(commit: commit, of: id)
        let artifacts = record.job != nil ? "artifacts/outputs" : "outputs"
        return try registerModel(draft, run: id, path: artifactPath.isEmpty ? artifacts : artifacts + "/" + artifactPath, file: nil) {
            $0.uri = uri
            $0.loggedModel = loggedModel
        }
    }

    func registerModel(_ draft: ModelDraft, run: String, path: String, file: String?,
                       source amend: (inout ModelVersion.Source) -> Void = { _ in }) throws -> ModelEntry {
        try Self.checkModelName(draft.name)
        let (id, runCommit) = try resolveRun(run)
        let record = try recoveredIfLost(try readRecord(commit: runCommit, of: id))
        if record.status == .running {
            // A model logged by a run still going (`log_model(registered_model_name=...)`): its
            // files are in the run's live outputs folder, stored now; the run stores the same bytes when it ends.
            return try registerModel(draft, runningRun: record, commit: runCommit, path: path, file: file, amend: amend)
        }
        guard record.status != .lost else {
            throw WorkspaceError(.invalidArgument, "run \(id) was lost; a model is registered from a run that has ended",
                                 hint: "git ml recover \(id.prefix(8)) stores what it left")
        }
        let picked = try modelBytes(in: record, path: path)
        var source = ModelVersion.Source(kind: "run")
        source.run = id
        source.runCommit = runCommit.hex
        source.output = picked.output
        source.path = picked.inside.isEmpty ? nil : picked.inside
        source.commit = record.code.commit
        source.file = file
        amend(&source)
        return try writeModel(draft, artifact: picked.artifact, source: source, parent: runCommit)
    }

    func registerModel(_ draft: ModelDraft, runningRun record: RunRecord, commit: ObjectID, path given: String, file: String?,
                       amend: (inout ModelVersion.Source) -> Void) throws -> ModelEntry {
        let artifacts = record.job != nil ? "artifacts/outputs" : "outputs"
        let path = given.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        guard path == artifacts || path.hasPrefix(artifacts + "/") else {
            throw WorkspaceError(.invalidArgument, "run \(record.id) is still running; only its artifacts (\(artifacts)/...) can be registered before it ends")
        }
        let inside = path == artifacts ? "" : String(path.dropFirst(artifacts.count + 1))
        let absolute = try liveArtifactPath(record.id, inside)
        guard FileManager.default.fileExists(atPath: absolute) else {
            throw WorkspaceError(.invalidArgument, "run \(record.id) has no '\(ModelNames.printable(inside))' among its artifacts yet")
        }
        var source = ModelVersion.Source(kind: "run")
        source.run = record.id
        source.runCommit = commit.hex
        source.output = artifacts
        source.path = inside.isEmpty ? nil : inside
        source.commit = record.code.commit
        source.file = file
        amend(&source)
        let stored = try storeData(at: absolute)
        let artifact = ModelVersion.Artifact(type: stored.type, sha256: stored.sha256, size: stored.size, files: stored.files ?? 1,
                                             fileName: stored.type == "uri_file" ? String(absolute.split(separator: "/").last!) : nil)
        return try writeModel(draft, artifact: artifact, source: source, parent: commit)
    }

    /// Registers the bytes of another version under `draft.name` (MLflow's `copy_model_version`,
    /// `register_model("models:/NAME/VERSION", ...)`): the same artifact and source, the same parent.
    public func copyModel(_ original: ModelEntry, as draft: ModelDraft, uri: String) throws -> ModelEntry {
        try Self.checkModelName(draft.name)
        let first = try git { try ledger.history(.modelVersion, original.model.name + "/" + original.model.version) }.last
        let parent = try first.flatMap { c in try git { try repository.readCommit(c) }.parents.first }
        var source = original.model.source
        source.uri = uri
        return try writeModel(draft, artifact: original.model.artifact, source: source, parent: parent)
    }

    /// Registers a file or folder on disk as the next version of `draft.name`.
    public func registerModel(_ draft: ModelDraft, from given: String, progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> ModelEntry {
        try Self.checkModelName(draft.name)
        let absolute = absolutePath(given)
        var source = ModelVersion.Source(kind: "folder")
        source.folder = relativeOrAbsolute(absolute)
        return try registerModel(draft, at: absolute, shown: given, source: source, progress: progress)
    }

    func registerModel(_ draft: ModelDraft, at absolute: String, shown: String, source: ModelVersion.Source,
                       progress: (@Sendable (StoreProgress) -> Void)?) throws -> ModelEntry {
        var st = stat()
        guard stat(absolute, &st) == 0 else {
            throw WorkspaceError(.invalidArgument, "\(shown): no such file or folder (tried \(absolute))")
        }
        let stored = try storeData(at: absolute, progress: progress)
        let artifact = ModelVersion.Artifact(type: stored.type, sha256: stored.sha256, size: stored.size, files: stored.files ?? 1,
                                             fileName: stored.type == "uri_file" ? String(absolute.split(separator: "/").last!) : nil)
        var source = source
        let head = try git { try repository.headCommit() }
        source.commit = head?.hex
        return try writeModel(draft, artifact: artifact, source: source, parent: head)
    }

    /// Finds `path` among a run's outputs: the output whose name is the longest prefix of
    /// it, then the file or folder inside (a folder becomes a manifest of its own).
    func modelBytes(in record: RunRecord, path given: String) throws -> (output: String, inside: String, artifact: ModelVersion.Artifact) {
        let path = given.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        let names = record.outputs.map(\.name)
        guard let output = record.outputs.filter({ path == $0.name || path.hasPrefix($0.name + "/") }).max(by: { $0.name.count < $1.name.count }) else {
            throw WorkspaceError(.invalidArgument, "run \(record.id) has no output '\(ModelNames.printable(given))'" +
                                 (names.isEmpty ? "; it stored no outputs" : "; its outputs: \(names.joined(separator: ", "))"),
                                 hint: "--path is an output as git ml show lists it, then the path inside it (outputs/model)")
        }
        let inside = path == output.name ? "" : String(path.dropFirst(output.name.count + 1))
        guard let id = ContentID(hex: output.sha256) else { throw WorkspaceError(.storage, "run \(record.id): output \(output.name) has no object id") }
        if output.type == "uri_file" {
            guard inside.isEmpty else {
                throw WorkspaceError(.invalidArgument, "output \(output.name) of run \(record.id) is a file; it holds no '\(inside)'")
            }
            return (output.name, "", .init(type: "uri_file", sha256: output.sha256, size: output.size, files: 1,
                                           fileName: String(output.name.split(separator: "/").last ?? "model")))
        }
        let manifest = try storeRead { try store.manifest(id) }
        if inside.isEmpty {
            return (output.name, "", .init(type: "uri_folder", sha256: output.sha256, size: output.size, files: output.files, fileName: nil))
        }
        if let file = manifest.entries.first(where: { $0.path == inside }), let sha = file.sha256 {
            return (output.name, inside, .init(type: "uri_file", sha256: sha.hex, size: file.size, files: 1,
                                               fileName: String(inside.split(separator: "/").last!)))
        }
        let prefix = inside + "/"
        let entries = manifest.entries.filter { $0.path.hasPrefix(prefix) }.map { e -> Manifest.Entry in
            var e = e
            e.path = String(e.path.dropFirst(prefix.count))
            return e
        }
        guard !entries.isEmpty else {
            let top = Set(manifest.entries.map { String($0.path.split(separator: "/").first!) }).sorted()
            throw WorkspaceError(.invalidArgument, "output \(output.name) of run \(record.id) holds no '\(ModelNames.printable(inside))'" +
                                 (top.isEmpty ? " (it is empty)" : "; at its top: \(top.prefix(12).joined(separator: ", "))\(top.count > 12 ? ", …" : "")"),
                                 hint: "git ml checkout \(record.id.prefix(8)) --outputs DIR shows what it holds")
        }
        let sub = Manifest(entries: entries)
        let subID = try storeRead { try store.put(try sub.encoded()) }
        return (output.name, inside, .init(type: "uri_folder", sha256: subID.hex, size: sub.totalSize, files: sub.fileCount, fileName: nil))
    }

    /// A store call whose failure is the user's to act on (a missing or damaged object).
    func storeRead<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as StoreError {
            throw WorkspaceError(.storage, e.message, hint: Self.damageHint(e))
        }
    }

    /// Writes the record of a new model version: the given version (refused when it exists
    /// with other bytes; the same bytes again are the same version) or the next one.
    func writeModel(_ draft: ModelDraft, artifact: ModelVersion.Artifact, source: ModelVersion.Source, parent: ObjectID?,
                    created: Date = Date()) throws -> ModelEntry {
        let mlflow = try readMLmodel(artifact)
        let type = draft.type ?? (mlflow != nil ? "mlflow_model" : "custom_model")
        guard Self.modelTypes.contains(type) else {
            throw WorkspaceError(.invalidArgument, "model type '\(type)' is not one git-ml knows; use \(Self.modelTypes.joined(separator: ", "))")
        }
        if type == "mlflow_model" && mlflow == nil {
            throw WorkspaceError(.invalidArgument, "type mlflow_model, but the model holds no MLmodel file at its top",
                                 hint: "register the folder that holds MLmodel, or give type custom_model")
        }
        var model = ModelVersion(name: draft.name, version: draft.version ?? "", type: type, description: draft.description,
                                 tags: draft.tags, properties: draft.properties, artifact: artifact, source: source, mlflow: mlflow,
                                 created: created, user: userName, host: Host.name, gitmlVersion: gitmlVersion)
        let manifest = artifact.type == "uri_folder" ? try ContentID(hex: artifact.sha256).map { id in try storeRead { try store.get(id) } } : nil
        func content(_ version: String) throws -> RecordContent {
            model.version = version
            var content = RecordContent(document: try Self.recordJSON(model), parents: parent.map { [$0] } ?? [],
                                        message: "git-ml model \(draft.name):\(version)\n", time: created)
            if let manifest { content.files["manifest.json"] = .data(manifest) }
            content.sign = draft.sign
            return content
        }
        // A signing set-up that cannot work is found before anything is written.
        if draft.sign { try checkSigningSetup() }
        try ensureRegisteredModel(draft.name)
        if let version = draft.version {
            guard !version.isEmpty, ModelNames.problem(with: version, what: "version") == nil else {
                throw WorkspaceError(.invalidArgument, "model version '\(ModelNames.printable(version))' is not a version; use a number such as 1")
            }
            do {
                let commit = try ledger.write(.modelVersion, draft.name + "/" + version, expecting: .absent) { _ in try content(version) }
                return ModelEntry(model: model, commit: commit.hex, aliases: [])
            } catch let e as GitError where e.code == .exists {
                let existing = try modelEntry(name: draft.name, version: version)
                if existing.model.artifact.sha256 == artifact.sha256 { return existing }
                throw WorkspaceError(.invalidArgument, "model \(draft.name):\(version) is already registered with other bytes (\(existing.model.artifact.sha256.prefix(12)))",
                                     hint: "leave version out to take the next one, or give a new version")
            } catch let e as GitError {
                throw WorkspaceError(.storage, "git: \(e.description)")
            }
        }
        let written = try git { try ledger.writeNextVersion(.modelVersion, name: draft.name, content) }
        return ModelEntry(model: model, commit: written.commit.hex, aliases: [])
    }

    /// Creates the registered model's own record the first time a name is registered (or
    /// brings back one deleted through the API).
    @discardableResult
    func ensureRegisteredModel(_ name: String, description: String? = nil, tags: [String: String] = [:],
                               failIfExists: Bool = false) throws -> RegisteredModel {
        var result: RegisteredModel?
        _ = try git {
            try ledger.write(.registeredModel, name, expecting: .latest) { current in
                if let current {
                    let existing = try ledger.decode(RegisteredModel.self, .registeredModel, at: current)
                    if existing.deleted != true {
                        if failIfExists { throw WorkspaceError(.invalidArgument, "registered model \(name) exists already") }
                        result = existing
                        return nil
                    }
                }
                let now = Date()
                let model = RegisteredModel(name: name, description: description, tags: tags, created: now, updated: now)
                result = model
                return RecordContent(document: try Self.recordJSON(model), message: "git-ml registered model \(name)\n", time: now)
            }
        }
        return result!
    }

    // MARK: MLmodel

    /// What the `MLmodel` at the top of a folder model says, with its requirements and a
    /// small input example; nil when there is none.
    func readMLmodel(_ artifact: ModelVersion.Artifact) throws -> ModelVersion.MLflowModel? {
        guard artifact.type == "uri_folder", let id = ContentID(hex: artifact.sha256) else { return nil }
        let manifest = try storeRead { try store.manifest(id) }
        func file(_ path: String, limit: Int64) throws -> Data? {
            guard let e = manifest.entries.first(where: { $0.path == path }), let sha = e.sha256, e.size <= limit else { return nil }
            let data = try storeRead { try store.get(sha) }
            guard FileHashing.sha256(data) == sha else {
                throw WorkspaceError(.storage, "object \(sha.hex) (\(path) of the model) is damaged", hint: "run git ml fsck")
            }
            return data
        }
        guard let data = try file("MLmodel", limit: 4 << 20) else { return nil }
        let root = try SpecNode.parse(data, file: "MLmodel")
        guard case .mapping = root else {
            throw WorkspaceError(.badConfig, "MLmodel:1: an MLmodel file is a mapping (flavors, signature, ...)")
        }
        func string(_ key: String) -> String? { if case .scalar(let s, _, _)? = root[key] { return s }; return nil }
        var m = ModelVersion.MLflowModel()
        m.flavors = root["flavors"].map(JSONAny.init)
        m.signature = root["signature"].map(JSONAny.init)
        m.inputExampleInfo = root["saved_input_example_info"].map(JSONAny.init)
        if let path = m.inputExampleInfo?["artifact_path"]?.string, let example = try file(path, limit: 64 << 10),
           let value = try? JSONDecoder().decode(JSONAny.self, from: example) {
            m.inputExample = value
        }
        if let req = try file("requirements.txt", limit: 1 << 20) {
            m.requirements = String(decoding: req, as: UTF8.self).split(separator: "\n")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        m.modelUUID = string("model_uuid")
        m.mlflowVersion = string("mlflow_version")
        m.runID = string("run_id")
        m.created = string("utc_time_created")
        return m
    }

    // MARK: reading

    func readModel(commit: ObjectID) throws -> ModelVersion {
        try git { try ledger.decode(ModelVersion.self, .modelVersion, at: commit) }
    }

    /// Every version of every model (deleted ones only when asked), by name then version.
    public func listModels(name: String? = nil, includeDeleted: Bool = false) throws -> [ModelEntry] {
        if let name { try Self.checkModelName(name) }
        let refs = try git { try ledger.list(.modelVersion, under: name.map { $0 + "/" } ?? "") }
        let aliases = try aliasTable()
        return try refs.map { ref -> ModelEntry in
            let model = try readModel(commit: ref.commit)
            return ModelEntry(model: model, commit: ref.commit.hex, aliases: aliases[model.reference] ?? [])
        }
        .filter { includeDeleted || !$0.model.isDeleted }
        .sorted { ($0.model.name, Int($0.model.version) ?? Int.max, $0.model.version) < ($1.model.name, Int($1.model.version) ?? Int.max, $1.model.version) }
    }

    /// Every registered model name, with its own record (description, tags).
    public func registeredModels(includeDeleted: Bool = false) throws -> [RegisteredModel] {
        try git { try ledger.list(.registeredModel) }
            .map { ref in try git { try ledger.decode(RegisteredModel.self, .registeredModel, at: ref.commit) } }
            .filter { includeDeleted || $0.deleted != true }
            .sorted { $0.name < $1.name }
    }

    public func registeredModel(_ name: String) throws -> RegisteredModel? {
        guard ModelNames.problem(with: name, what: "") == nil, let head = try git({ try ledger.head(.registeredModel, name) }) else { return nil }
        let model = try git { try ledger.decode(RegisteredModel.self, .registeredModel, at: head) }
        return model.deleted == true ? nil : model
    }

    /// `NAME:VERSION` exactly; an error naming the versions there are when it is not registered.
    func modelEntry(name: String, version: String, includeDeleted: Bool = false) throws -> ModelEntry {
        guard ModelNames.problem(with: version, what: "") == nil,
              let commit = try git({ try ledger.head(.modelVersion, name + "/" + version) }) else {
            throw try unknownModel(name, "has no version \(ModelNames.printable(version))")
        }
        let model = try readModel(commit: commit)
        if model.isDeleted && !includeDeleted { throw try unknownModel(name, "version \(version) was deleted") }
        return ModelEntry(model: model, commit: commit.hex, aliases: try aliasTable(name: name)[model.reference] ?? [])
    }

    /// The model version a reference names.
    public func model(_ text: String) throws -> ModelEntry {
        guard let reference = ModelReference.parse(text) else {
            throw WorkspaceError(.invalidArgument, "'\(ModelNames.printable(text))' does not name a model; use NAME:VERSION, NAME@ALIAS or NAME@latest")
        }
        return try model(reference)
    }

    public func model(_ reference: ModelReference) throws -> ModelEntry {
        try Self.checkModelName(reference.name)
        switch reference.selector {
        case .version(let v):
            return try modelEntry(name: reference.name, version: v)
        case .latest:
            // The version registered last (as Azure ML's @latest); with count-up versions, the highest.
            guard let latest = try listModels(name: reference.name).max(by: { ($0.model.created, Int($0.model.version) ?? -1) < ($1.model.created, Int($1.model.version) ?? -1) }) else {
                throw try unknownModel(reference.name, "has no versions")
            }
            return latest
        case .alias(let a):
            guard let alias = try modelAlias(name: reference.name, alias: a), let version = alias.version else {
                let known = try aliasTable(name: reference.name).values.flatMap { $0 }.sorted()
                throw WorkspaceError(.invalidArgument, "model \(reference.name) has no alias '\(ModelNames.printable(a))'" +
                                     (known.isEmpty ? "" : "; its aliases: \(known.joined(separator: ", "))"),
                                     hint: "set one: git ml model alias set \(reference.name) \(a) VERSION")
            }
            do { return try modelEntry(name: reference.name, version: version) } catch {
                throw WorkspaceError(.damaged, "alias \(reference.name)@\(a) points at version \(version), which is not registered here",
                                     hint: "git ml pull fetches records from the remote; or move the alias: git ml model alias set \(reference.name) \(a) VERSION")
            }
        }
    }

    func unknownModel(_ name: String, _ what: String) throws -> WorkspaceError {
        let versions = try git { try ledger.list(.modelVersion, under: name + "/") }
        if versions.isEmpty {
            let names = Set(try git { try ledger.list(.modelVersion) }.map { String($0.key.split(separator: "/").first!) }).sorted()
            return WorkspaceError(.invalidArgument, "no model named \(ModelNames.printable(name))" +
                                  (names.isEmpty ? " (none registered yet)" : "; registered: \(names.prefix(20).joined(separator: ", "))"),
                                  hint: "register one: git ml model register NAME --run RUN --path outputs/model")
        }
        let live = try listModels(name: name).map(\.model.version)
        return WorkspaceError(.invalidArgument, "model \(name) \(what)" + (live.isEmpty ? "" : "; its versions: \(live.joined(separator: ", "))"))
    }

    // MARK: changing

    /// Changes what may change of a version (tags, description, stage): a record commit
    /// chained to the last, under compare-and-swap.
    @discardableResult
    public func updateModel(_ reference: String, _ change: @escaping (inout ModelVersion) throws -> Void) throws -> ModelEntry {
        let entry = try model(reference)
        let key = entry.model.name + "/" + entry.model.version
        var result = entry.model
        let commit = try git {
            try ledger.write(.modelVersion, key, expecting: .latest) { current in
                guard let current else { throw WorkspaceError(.storage, "model \(key) disappeared while being changed") }
                var content = try ledger.content(at: current, .modelVersion)
                var model = try readModel(commit: current)
                let before = model
                try change(&model)
                guard model != before else { result = model; return nil }
                model.updated = Date()
                result = model
                content.document = try Self.recordJSON(model)
                content.message = "git-ml model \(model.reference): update\n"
                content.time = model.updated!
                return content
            }
        }
        return ModelEntry(model: result, commit: commit.hex, aliases: entry.aliases)
    }

    /// Sets and removes tags of a model version.
    @discardableResult
    public func tagModel(_ reference: String, set: [String: String], remove: [String]) throws -> ModelEntry {
        try updateModel(reference) { m in
            for key in remove { m.tags[key] = nil }
            m.tags.merge(set) { _, new in new }
        }
    }

    // MARK: aliases

    static func checkAlias(_ alias: String) throws {
        if let problem = ModelNames.problem(with: alias, what: "alias") { throw WorkspaceError(.invalidArgument, problem) }
        if alias == "latest" || (alias.hasPrefix("v") && alias.count > 1 && alias.dropFirst().allSatisfy(\.isNumber)) {
            throw WorkspaceError(.invalidArgument, "alias '\(alias)' is reserved (latest and v<number> name versions)")
        }
    }

    func modelAlias(name: String, alias: String) throws -> ModelAlias? {
        guard ModelNames.problem(with: alias, what: "") == nil,
              let head = try git({ try ledger.head(.modelAlias, name + "/" + alias) }) else { return nil }
        return try git { try ledger.decode(ModelAlias.self, .modelAlias, at: head) }
    }

    /// `NAME:VERSION` -> the aliases pointing at it (one model's, or every model's).
    func aliasTable(name: String? = nil) throws -> [String: [String]] {
        var table: [String: [String]] = [:]
        for ref in try git({ try ledger.list(.modelAlias, under: name.map { $0 + "/" } ?? "") }) {
            let alias = try git { try ledger.decode(ModelAlias.self, .modelAlias, at: ref.commit) }
            if let v = alias.version { table["\(alias.name):\(v)", default: []].append(alias.alias) }
        }
        return table.mapValues { $0.sorted() }
    }

    /// Points `NAME@ALIAS` at a version (which must be registered); the change is a record
    /// commit on the alias's ref, chained to its last, naming who moved it and when.
    @discardableResult
    public func setModelAlias(name: String, alias: String, version: String) throws -> ModelAlias {
        try Self.checkModelName(name)
        try Self.checkAlias(alias)
        let target = try modelEntry(name: name, version: version)
        return try writeAlias(name: name, alias: alias, version: target.model.version, commit: target.commit)
    }

    /// Removes an alias: a last record saying it points nowhere, so its history stays.
    public func removeModelAlias(name: String, alias: String) throws {
        try Self.checkModelName(name)
        guard let existing = try modelAlias(name: name, alias: alias), existing.version != nil else {
            throw WorkspaceError(.invalidArgument, "model \(name) has no alias '\(ModelNames.printable(alias))'")
        }
        _ = try writeAlias(name: name, alias: alias, version: nil, commit: nil)
    }

    func writeAlias(name: String, alias: String, version: String?, commit: String?) throws -> ModelAlias {
        let record = ModelAlias(name: name, alias: alias, version: version, commit: commit, user: userName, time: Date())
        _ = try git {
            try ledger.write(.modelAlias, name + "/" + alias, expecting: .latest) { _ in
                RecordContent(document: try Self.recordJSON(record),
                              message: version.map { "git-ml alias \(name)@\(alias) -> \($0)\n" } ?? "git-ml alias \(name)@\(alias) removed\n",
                              time: record.time)
            }
        }
        return record
    }

    /// Every state an alias went through, newest first.
    public func aliasHistory(name: String, alias: String) throws -> [ModelAliasChange] {
        try Self.checkModelName(name)
        return try git { try ledger.history(.modelAlias, name + "/" + alias) }.map { commit in
            let a = try git { try ledger.decode(ModelAlias.self, .modelAlias, at: commit) }
            return ModelAliasChange(version: a.version, user: a.user, time: a.time, commit: commit.hex)
        }
    }

    /// The aliases of a model and the versions they point at.
    public func modelAliases(name: String) throws -> [(alias: String, version: String)] {
        try Self.checkModelName(name)
        return try git { try ledger.list(.modelAlias, under: name + "/") }.compactMap { ref in
            let a = try git { try ledger.decode(ModelAlias.self, .modelAlias, at: ref.commit) }
            return a.version.map { (a.alias, $0) }
        }.sorted { $0.alias < $1.alias }
    }

    // MARK: bytes

    /// Writes a model version's files into `directory` (new or empty), every byte verified
    /// against its hash while it is copied; a file model lands as `directory/<file name>`.
    @discardableResult
    public func downloadModel(_ reference: String, into directory: String) throws -> ModelEntry {
        let entry = try model(reference)
        let target = absolutePath(directory)
        try fillingEmptyFolder(target) { try writeModelFiles(entry.model, to: target) }
        return entry
    }

    func writeModelFiles(_ model: ModelVersion, to target: String, mode: ObjectStore.CheckoutMode = .copy) throws {
        guard let id = ContentID(hex: model.artifact.sha256) else { throw WorkspaceError(.storage, "model \(model.reference) has no object id") }
        do {
            if model.artifact.type == "uri_file" {
                try store.checkout(id, to: target + "/" + model.artifact.restoredFileName, mode: mode)
            } else {
                try store.checkoutFolder(manifest: id, to: target, mode: mode)
            }
        } catch let e as StoreError {
            throw WorkspaceError(.storage, "cannot restore model \(model.reference): \(e.message)", hint: Self.damageHint(e))
        }
    }

    // MARK: the registry API's operations (MLflow's registered models)

    /// Creates a registered model; an error when the name is taken.
    public func createRegisteredModel(name: String, description: String?, tags: [String: String]) throws -> RegisteredModel {
        try Self.checkModelName(name)
        return try ensureRegisteredModel(name, description: description, tags: tags, failIfExists: true)
    }

    /// Changes a registered model's description or tags.
    @discardableResult
    public func updateRegisteredModel(_ name: String, _ change: @escaping (inout RegisteredModel) -> Void) throws -> RegisteredModel {
        try Self.checkModelName(name)
        var result: RegisteredModel?
        _ = try git {
            try ledger.write(.registeredModel, name, expecting: .latest) { current in
                guard let current, case var model = try ledger.decode(RegisteredModel.self, .registeredModel, at: current), model.deleted != true else {
                    throw WorkspaceError(.invalidArgument, "no registered model \(name)")
                }
                let before = model
                change(&model)
                result = model
                guard model != before else { return nil }
                model.updated = Date()
                result = model
                return RecordContent(document: try Self.recordJSON(model), message: "git-ml registered model \(name): update\n", time: model.updated)
            }
        }
        return result!
    }

    /// Deletes a registered model as MLflow does (its versions and aliases with it), keeping
    /// every record: the versions are marked deleted and their numbers never reused.
    public func deleteRegisteredModel(_ name: String) throws {
        try updateRegisteredModel(name) { $0.deleted = true }
        for entry in try listModels(name: name) { try deleteModelVersion(name: name, version: entry.model.version) }
    }

    /// Marks a version deleted and removes the aliases pointing at it.
    public func deleteModelVersion(name: String, version: String) throws {
        let entry = try modelEntry(name: name, version: version)
        try updateModel(entry.model.reference) { $0.deleted = true }
        for (alias, v) in try modelAliases(name: name) where v == version {
            _ = try writeAlias(name: name, alias: alias, version: nil, commit: nil)
        }
    }
}
