import Foundation
import GitKit
import ObjectStore

/// A registered or built environment, as `git ml env list` shows it.
public struct EnvironmentEntry: Sendable, Codable {
    public var id: String
    public var name: String?
    public var version: String?
    /// The folder of the built virtualenv, when built.
    public var path: String?
    /// The `pip freeze` lock's object id, once built.
    public var lock: String?
}

extension Workspace {
    /// Where names were registered before they moved beside the ids (`refs/ml/envs/<name>/<version>`);
    /// still read, never written.
    static let legacyEnvironmentNames = RecordKind(name: "environment", refPrefix: "refs/ml/environments/",
                                                   document: "environment.json", chainsHistory: true)

    /// True for an environment id (64 hex digits): `refs/ml/envs/<id>` holds its record.
    static func isEnvironmentID(_ key: some StringProtocol) -> Bool {
        key.count == 64 && key.allSatisfy(\.isHexDigit)
    }

    /// Where the environment with this id is realized.
    public func environmentFolder(_ id: String) -> String { stateDirectory + "/envs/" + id }

    /// The environment a job asks for: by name (registered, then curated) or inline; nil when it names none.
    func resolveEnvironment(of job: CommandJob, jobFolder: String) throws -> ResolvedEnvironment? {
        if let inline = job.inlineEnvironment {
            return ResolvedEnvironment(reference: "inline", spec: try EnvironmentSpec.parse(inline, file: job.file, folder: jobFolder))
        }
        guard let name = job.environmentName else { return nil }
        return try resolveEnvironment(named: name, where: "\(job.file):\(job.environmentLine)")
    }

    /// Resolves `azureml:NAME@latest`, `azureml:NAME:VERSION`, `NAME`, an environment id, or
    /// `azureml://registries/azureml/environments/NAME/labels/latest` (and `/versions/V`).
    public func resolveEnvironment(named reference: String, where location: String? = nil) throws -> ResolvedEnvironment {
        var name = reference
        var version: String?
        if name.hasPrefix("azureml://registries/") {
            let parts = name.split(separator: "/").map(String.init)
            // azureml: / registries / R / environments / NAME / (labels|versions) / X
            guard let i = parts.firstIndex(of: "environments"), i + 1 < parts.count else {
                throw unknownEnvironment(reference, location)
            }
            name = parts[i + 1]
            if i + 3 < parts.count, parts[i + 2] == "versions" { version = parts[i + 3] }
        } else {
            if name.hasPrefix("azureml:") { name.removeFirst("azureml:".count) }
            if let at = name.firstIndex(of: "@") {
                name = String(name[..<at])
            } else if let colon = name.lastIndex(of: ":") {
                version = String(name[name.index(after: colon)...])
                name = String(name[..<colon])
            }
        }
        if name.count == 64, name.allSatisfy(\.isHexDigit), let spec = try environmentSpec(id: name) {
            return ResolvedEnvironment(reference: reference, spec: spec)
        }
        if let (_, commit) = try registeredEnvironment(name: name, version: version) {
            return ResolvedEnvironment(reference: reference, spec: try readEnvironmentSpec(commit: commit))
        }
        if let key = Self.curatedKey(name), let text = EmbeddedAssets.curatedEnvironments[key] {
            var spec = try EnvironmentSpec.parse(try SpecNode.parse(text, file: "curated:\(key)"), file: "curated:\(key)", folder: "/")
            spec.name = spec.name ?? key
            return ResolvedEnvironment(reference: reference, spec: spec)
        }
        throw unknownEnvironment(reference, location)
    }

    func unknownEnvironment(_ reference: String, _ location: String?) -> WorkspaceError {
        let registered = (try? listEnvironments().compactMap { e in e.name.map { "azureml:\($0):\(e.version ?? "1")" } }) ?? []
        let known = Self.curatedNames.map { "azureml:\($0)@latest" } + registered
        return WorkspaceError(.invalidArgument, (location.map { "\($0): " } ?? "") + "unknown environment '\(reference)'; known: \(known.joined(separator: ", "))",
                              hint: "define one in a YAML file (python:, pip: or conda_file:) and register it with git ml env create -f FILE")
    }

    /// Curated names as jobs write them, and the spec each maps to.
    static let curatedAliases: [(name: String, key: String)] = [
        ("AzureML-sklearn-1.5", "sklearn-1.5"), ("sklearn-1.5", "sklearn-1.5"),
        ("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", "sklearn-1.1"), ("AzureML-sklearn-1.1", "sklearn-1.1"),
        ("sklearn-1.1", "sklearn-1.1"), ("sklearn-1.0", "sklearn-1.1"),
        ("AzureML-lightgbm-3.3", "lightgbm-3.3"), ("lightgbm-3.3", "lightgbm-3.3"),
        ("AzureML-minimal-ubuntu22.04-py311-cpu", "minimal"), ("minimal-ubuntu22.04-py311-cpu", "minimal"),
        ("AzureML-minimal-ubuntu20.04-py38-cpu", "minimal"), ("minimal-ubuntu20.04-py38-cpu", "minimal"), ("python", "minimal"),
        ("AzureML-acpt-pytorch-2.2-cuda12.1", "pytorch"), ("acpt-pytorch-2.2-cuda12.1", "pytorch"),
        ("AzureML-pytorch-1.13-ubuntu20.04-py38-cuda11.6-gpu", "pytorch"),
        ("AzureML-tensorflow-2.16-cuda12", "tensorflow"), ("tensorflow-2.16-cuda12", "tensorflow"),
        ("AzureML-tensorflow-2.12-cuda11", "tensorflow"),
    ]
    public static var curatedNames: [String] { curatedAliases.map(\.name).filter { $0.hasPrefix("AzureML-") } }

    static func curatedKey(_ name: String) -> String? {
        if let hit = curatedAliases.first(where: { $0.name.lowercased() == name.lowercased() }) { return hit.key }
        // Other builds of the same families (a newer CUDA, another Ubuntu).
        let bare = name.lowercased().replacingOccurrences(of: "azureml-", with: "")
        if bare.hasPrefix("sklearn-1.5") { return "sklearn-1.5" }
        if bare.hasPrefix("sklearn-1.0") || bare.hasPrefix("sklearn-1.1") { return "sklearn-1.1" }
        if bare.hasPrefix("lightgbm") { return "lightgbm-3.3" }
        if bare.hasPrefix("acpt-pytorch") || bare.hasPrefix("pytorch") { return "pytorch" }
        if bare.hasPrefix("tensorflow") { return "tensorflow" }
        if bare.hasPrefix("minimal") { return "minimal" }
        return nil
    }

    /// The commit of a registered environment: the version given, or the highest.
    func registeredEnvironment(name: String, version: String?) throws -> (version: String, commit: ObjectID)? {
        var versions: [String: ObjectID] = [:]
        for kind in [Self.legacyEnvironmentNames, .environment] {
            for (key, commit) in try git({ try ledger.list(kind, under: name + "/") }) {
                versions[String(key.dropFirst(name.count + 1))] = commit
            }
        }
        if let version { return versions[version].map { (version, $0) } }
        return versions.max { Self.versionLess($0.key, $1.key) }.map { ($0.key, $0.value) }
    }

    /// Orders versions numerically where they are numbers (2 < 10), else as text.
    static func versionLess(_ a: String, _ b: String) -> Bool {
        let x = a.split(separator: ".").map { Int($0) }, y = b.split(separator: ".").map { Int($0) }
        if !x.contains(nil), !y.contains(nil) { return x.map { $0! }.lexicographicallyPrecedes(y.map { $0! }) }
        return a < b
    }

    func readEnvironmentSpec(commit: ObjectID) throws -> EnvironmentSpec {
        try git { try ledger.decode(EnvironmentSpec.self, .environment, at: commit) }
    }

    func environmentSpec(id: String) throws -> EnvironmentSpec? {
        guard let commit = try git({ try ledger.head(.environment, id) }) else { return nil }
        return try readEnvironmentSpec(commit: commit)
    }

    /// Reads an environment YAML (paths in it relative to its folder), unregistered (`git ml env build -f`).
    public func environmentSpec(file given: String) throws -> (spec: EnvironmentSpec, node: SpecNode, shown: String) {
        let absolute = absolutePath(given)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            throw WorkspaceError(.invalidArgument, "\(given): no such environment file")
        }
        let shown = relativeOrAbsolute(absolute)
        let node = try SpecNode.parse(data, file: shown)
        return (try EnvironmentSpec.parse(node, file: shown, folder: String(absolute[..<absolute.lastIndex(of: "/")!])), node, shown)
    }

    /// Registers an environment file under its name and version (`git ml env create -f`).
    /// Versions are immutable: the same name and version with other content is refused.
    public func createEnvironment(file given: String, version override: String? = nil) throws -> (name: String, version: String, id: String) {
        let (parsed, node, shown) = try environmentSpec(file: given)
        var spec = parsed
        guard let name = spec.name, !name.isEmpty else {
            throw WorkspaceError(.badConfig, "\(shown):\(node.line): an environment to register needs a 'name'")
        }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), !Self.isEnvironmentID(name) else {
            throw WorkspaceError(.badConfig, "\(shown):\(node["name"]?.line ?? 1): environment name '\(name)' may hold letters, digits, '-', '_' and '.' only, and is not 64 hex digits (an id)")
        }
        guard let version = override ?? spec.version else {
            // No version given: the next number, never the same as a concurrent registration's.
            let (version, _) = try git {
                try ledger.linkNextVersion(.environment, name: name, alsoCounting: [Self.legacyEnvironmentNames]) { version in
                    spec.version = version
                    return try writeEnvironmentRecord(spec, lock: nil)
                }
            }
            return (name, version, spec.id)
        }
        spec.version = version
        if let (_, existing) = try registeredEnvironment(name: name, version: version) {
            let old = try readEnvironmentSpec(commit: existing)
            if old.id == spec.id { return (name, version, spec.id) }
            throw WorkspaceError(.invalidArgument, "environment \(name):\(version) is already registered with other content (id \(old.id.prefix(12)))",
                                 hint: "give it a new version (version: in the file, or --version)")
        }
        let commit = try writeEnvironmentRecord(spec, lock: nil)
        try git { try ledger.link(.environment, name + "/" + version, to: commit, expecting: nil) }
        return (name, version, spec.id)
    }

    /// Writes (or updates) `refs/ml/envs/<id>`: the spec, and the lock once built.
    @discardableResult
    public func writeEnvironmentRecord(_ spec: EnvironmentSpec, lock: Data?, notes: Data? = nil) throws -> ObjectID {
        let document = try Self.recordJSON(spec)
        return try git {
            try ledger.write(.environment, spec.id, expecting: .latest) { current in
                var content = RecordContent(document: document, message: "git-ml environment \(spec.id)\n")
                if let lock {
                    content.files["lock.txt"] = .data(lock)
                } else if let current, let old = try ledger.file(at: current, path: "lock.txt") {
                    content.files["lock.txt"] = .data(old)
                }
                if let notes {
                    content.files["build.txt"] = .data(notes)
                } else if let current, let old = try ledger.file(at: current, path: "build.txt") {
                    content.files["build.txt"] = .data(old)
                }
                return content
            }
        }
    }

    /// Records a built environment's lock: the `pip freeze` text into the object store (its id
    /// is returned, for the run records that name it) and into `refs/ml/envs/<id>`.
    /// `notes` (the installer, translations, a Python pin the host could not meet) go beside it as `build.txt`.
    public func recordEnvironmentLock(_ spec: EnvironmentSpec, lock: Data, notes: [String] = []) throws -> String {
        let id = try store.put(lock)
        try writeEnvironmentRecord(spec, lock: lock, notes: notes.isEmpty ? nil : Data((notes.joined(separator: "\n") + "\n").utf8))
        return id.hex
    }

    /// The lock recorded for an environment id, if it was built.
    public func environmentLock(id: String) throws -> Data? {
        guard let commit = try git({ try ledger.head(.environment, id) }) else { return nil }
        return try git { try ledger.file(at: commit, path: "lock.txt") }
    }

    /// Registered environments (one line per name and version) and environments built here.
    public func listEnvironments() throws -> [EnvironmentEntry] {
        var out: [EnvironmentEntry] = []
        var named = Set<String>()
        var ids: [(String, ObjectID)] = []
        var seen = Set<String>()
        for kind in [RecordKind.environment, Self.legacyEnvironmentNames] {
            for (key, commit) in try git({ try ledger.list(kind) }) {
                guard let slash = key.lastIndex(of: "/") else {
                    if Self.isEnvironmentID(key) { ids.append((key, commit)) }
                    continue
                }
                guard seen.insert(key).inserted else { continue }
                let spec = try readEnvironmentSpec(commit: commit)
                named.insert(spec.id)
                out.append(EnvironmentEntry(id: spec.id, name: String(key[..<slash]), version: String(key[key.index(after: slash)...])))
            }
        }
        for (id, commit) in ids where !named.contains(id) {
            out.append(EnvironmentEntry(id: id, name: try readEnvironmentSpec(commit: commit).name, version: nil))
        }
        for i in out.indices {
            let folder = environmentFolder(out[i].id)
            if access(folder + "/" + Self.readyMarker, F_OK) == 0 { out[i].path = folder }
            if let lock = try environmentLock(id: out[i].id) { out[i].lock = FileHashing.sha256(lock).hex }
        }
        return out.sorted { ($0.name ?? "~", $0.version ?? "") < ($1.name ?? "~", $1.version ?? "") }
    }

    /// The file whose presence says an environment's build finished.
    public static let readyMarker = ".gitml-ready"
}
