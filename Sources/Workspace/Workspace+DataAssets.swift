import Foundation
import GitKit
import ObjectStore

/// A data asset: a named, versioned file or folder in the object store
/// (`git ml data create -f data.yml`), which job inputs name as
/// `azureml:NAME:VERSION` or `azureml:NAME@latest`.
public struct DataAsset: Sendable, Codable, Equatable {
    public var name: String
    public var version: String
    /// `uri_file` or `uri_folder`.
    public var type: String
    public var description: String?
    /// The path the YAML gave, as a record of where the bytes came from.
    public var path: String
    /// The file's SHA-256 or the folder's manifest id.
    public var sha256: String
    public var size: Int64
    public var files: Int?
    public var tags: [String: String]?
}

extension Workspace {
    static let dataAssetKeys = ["$schema", "name", "version", "type", "path", "description", "tags", "properties", "datastore"]

    /// Reads a data asset YAML, stores its path and registers NAME:VERSION on `refs/ml/data/<name>/<version>`.
    /// Versions are immutable: the same name and version with other bytes is refused.
    public func createDataAsset(file given: String, progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> DataAsset {
        let absolute = absolutePath(given)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            throw WorkspaceError(.invalidArgument, "\(given): no such data asset file")
        }
        let shown = relativeOrAbsolute(absolute)
        let root = try SpecNode.parse(data, file: shown)
        let reader = SpecReader(file: shown)
        guard case .mapping = root else { throw reader.fail(root.line, "a data asset is a mapping (name, version, type, path)") }
        try reader.allowed(root, Self.dataAssetKeys, in: "data asset")
        func string(_ key: String) throws -> String? { try reader.string(root[key], key) }
        guard let name = try string("name"), !name.isEmpty else { throw reader.fail(root.line, "missing 'name'") }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw reader.fail(root["name"]!.line, "data asset name '\(name)' may hold letters, digits, '-', '_' and '.' only")
        }
        let type = try string("type") ?? "uri_folder"
        guard ["uri_file", "uri_folder"].contains(type) else {
            throw reader.fail(root["type"]?.line ?? root.line, "data asset type '\(type)' is not stored by git-ml; accepted: uri_file, uri_folder")
        }
        guard let path = try string("path") else { throw reader.fail(root.line, "missing 'path': the file or folder to register") }
        if path.contains("://") && !path.hasPrefix("file://") {
            throw reader.fail(root["path"]!.line, "remote paths are not read by git-ml yet; give a local path")
        }
        let folder = String(absolute[..<absolute.lastIndex(of: "/")!])
        let bare = path.hasPrefix("file://") ? String(path.dropFirst(7)) : path
        let local = URL(fileURLWithPath: bare.hasPrefix("/") ? bare : folder + "/" + bare).standardizedFileURL.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: local, isDirectory: &isDir) else {
            throw reader.fail(root["path"]!.line, "path '\(path)' not found (tried \(local))", hint: "paths are relative to the YAML file's folder")
        }
        if isDir.boolValue != (type == "uri_folder") {
            throw reader.fail(root["type"]?.line ?? root.line, "type \(type) but \(local) is a \(isDir.boolValue ? "folder" : "file")")
        }
        var tags: [String: String]?
        if case .mapping(let m, _)? = root["tags"] {
            tags = [:]
            for e in m { if case .scalar(let v, _, _) = e.value { tags![e.key] = v } }
        }
        let stored = try storeData(at: local, progress: progress)
        var asset = DataAsset(name: name, version: try string("version") ?? "", type: type, description: try string("description"), path: path,
                              sha256: stored.sha256, size: stored.size, files: stored.files, tags: tags)
        let manifest = type == "uri_folder" ? try ContentID(hex: asset.sha256).map { try store.get($0) } : nil
        func content(_ version: String) throws -> RecordContent {
            asset.version = version
            var content = RecordContent(document: try Self.recordJSON(asset), message: "git-ml data \(name):\(version)\n")
            if let manifest { content.files["manifest.json"] = .data(manifest) }
            return content
        }
        guard !asset.version.isEmpty else {
            // No version given: the next one, never the same as a concurrent registration's.
            _ = try git { try ledger.writeNextVersion(.dataAsset, name: name, content) }
            return asset
        }
        do {
            try ledger.write(.dataAsset, name + "/" + asset.version, expecting: .absent) { _ in try content(asset.version) }
            return asset
        } catch let e as GitError where e.code == .exists {
            // Versions are immutable: registering the same bytes again is a no-op, other bytes a conflict.
            guard let existing = try git({ try ledger.head(.dataAsset, name + "/" + asset.version) }) else { throw WorkspaceError(.storage, "git: \(e)") }
            let old = try readDataAsset(commit: existing)
            if old.sha256 == asset.sha256 { return old }
            throw WorkspaceError(.invalidArgument, "data asset \(name):\(asset.version) is already registered with other bytes (\(old.sha256.prefix(12)))",
                                 hint: "give it a new version")
        } catch let e as GitError {
            throw WorkspaceError(.storage, "git: \(e.description)")
        }
    }

    func readDataAsset(commit: ObjectID) throws -> DataAsset {
        try git { try ledger.decode(DataAsset.self, .dataAsset, at: commit) }
    }

    /// Every version of a data asset, oldest first.
    public func dataAssetVersions(_ name: String) throws -> [DataAsset] {
        try git { try ledger.list(.dataAsset, under: name + "/") }
            .map { try readDataAsset(commit: $0.commit) }
            .sorted { Self.versionLess($0.version, $1.version) }
    }

    /// Every registered data asset version.
    public func listDataAssets() throws -> [DataAsset] {
        try git { try ledger.list(.dataAsset) }
            .map { try readDataAsset(commit: $0.commit) }
            .sorted { ($0.name, $0.version) < ($1.name, $1.version) }
    }

    /// `azureml:NAME:VERSION` or `azureml:NAME@latest` as a job input names it.
    func resolveDataAsset(_ reference: String, file: String, line: Int) throws -> DataAsset {
        var name = String(reference.dropFirst("azureml:".count))
        var version: String?
        if let at = name.firstIndex(of: "@") {
            name = String(name[..<at])
        } else if let colon = name.lastIndex(of: ":") {
            version = String(name[name.index(after: colon)...])
            name = String(name[..<colon])
        }
        let versions = try dataAssetVersions(name)
        guard let asset = version.map({ v in versions.first { $0.version == v } }) ?? versions.last else {
            let known = try listDataAssets().map { "azureml:\($0.name):\($0.version)" }
            throw WorkspaceError(.invalidArgument, "\(file):\(line): no data asset \(reference)" + (known.isEmpty ? "" : "; registered: \(known.joined(separator: ", "))"),
                                 hint: "register it with git ml data create -f data.yml")
        }
        return asset
    }
}
