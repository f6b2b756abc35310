import Foundation
import GitKit
import ObjectStore

/// Where a git remote's objects go, and why: an object remote configured by name, or the
/// one that follows from the git remote's URL.
public struct ObjectRemoteInfo: Sendable, Codable, Equatable {
    /// The name (a git remote's name, or a name of its own).
    public var name: String
    /// `dir` or `lfs`.
    public var type: String
    /// The folder or the LFS endpoint.
    public var location: String
    /// Where the setting comes from: `git config`, `.mlops/config.yaml`, or `git remote` (followed from its URL).
    public var source: String
}

extension Workspace {
    /// Object remotes set in git config (`ml.remote.<name>.type` and `.path` or `.url`).
    func objectRemotesInGitConfig() -> [String: WorkspaceConfig.ObjectRemoteSetting] {
        var types: [String: String] = [:], locations: [String: String] = [:]
        for (key, value) in repository.configEntries(matching: "^ml\\.remote\\.") {
            let parts = key.split(separator: ".")
            guard parts.count >= 4 else { continue }
            let name = parts[2..<(parts.count - 1)].joined(separator: ".")
            switch parts.last! {
            case "type": types[name] = value
            case "path", "url": locations[name] = value
            default: continue
            }
        }
        var out: [String: WorkspaceConfig.ObjectRemoteSetting] = [:]
        for (name, type) in types { if let location = locations[name] { out[name] = .init(type: type, location: location) } }
        return out
    }

    /// The git remotes of the repository, by name, with their URLs.
    func gitRemotes() -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in repository.configEntries(matching: "^remote\\..*\\.url$") {
            out[String(key.dropFirst("remote.".count).dropLast(".url".count))] = value
        }
        return out
    }

    /// Every object remote: those configured (git config first, then `.mlops/config.yaml`),
    /// and for each git remote without one, what its URL implies.
    public func objectRemotes() throws -> [ObjectRemoteInfo] {
        var out: [String: ObjectRemoteInfo] = [:]
        for (name, r) in try config().remotes { out[name] = ObjectRemoteInfo(name: name, type: r.type, location: r.location, source: ".mlops/config.yaml") }
        for (name, r) in objectRemotesInGitConfig() { out[name] = ObjectRemoteInfo(name: name, type: r.type, location: r.location, source: "git config") }
        for (name, url) in gitRemotes() where out[name] == nil {
            if let implied = impliedObjectRemote(name: name, url: url) { out[name] = implied }
        }
        return out.values.sorted { $0.name < $1.name }
    }

    /// The object remote for `name`: configured, or implied by the git remote of that name.
    public func objectRemote(named name: String) throws -> ObjectRemoteInfo {
        if let r = objectRemotesInGitConfig()[name] { return ObjectRemoteInfo(name: name, type: r.type, location: r.location, source: "git config") }
        if let r = try config().remotes[name] { return ObjectRemoteInfo(name: name, type: r.type, location: r.location, source: ".mlops/config.yaml") }
        // A URL or path given instead of a remote's name (`git push /srv/repo.git main`).
        if gitRemotes()[name] == nil, Self.looksLikeURL(name), let implied = impliedObjectRemote(name: name, url: name) { return implied }
        guard let url = gitRemotes()[name] else {
            throw WorkspaceError(.invalidArgument, "no remote named '\(name)' (neither a git remote nor an object remote)",
                                 hint: "add one: git remote add \(name) URL, or git ml remote add \(name) dir PATH")
        }
        guard let implied = impliedObjectRemote(name: name, url: url) else {
            throw WorkspaceError(.invalidArgument, "git remote '\(name)' (\(url)) implies no object remote: git-ml reaches objects through a folder or over http(s)",
                                 hint: "name one: git ml remote add \(name) lfs https://HOST/PATH.git/info/lfs, or git ml remote add \(name) dir PATH")
        }
        return implied
    }

    static func looksLikeURL(_ s: String) -> Bool { s.contains("/") || s.contains(":") }

    /// The name a remote's local state goes by (`.git/ml/remotes/<key>.sync`,
    /// `refs/ml-remote/<key>/`): its own name, or for a URL given instead, `url-` and a digest of it.
    func remoteKey(_ remote: String) -> String {
        if gitRemotes()[remote] != nil, !remote.contains(".."), remote.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) { return remote }
        return "url-" + FileHashing.sha256(Data(remote.utf8)).hex.prefix(16)
    }

    /// A folder or `file://` remote keeps objects in its git folder (`ml/objects`); an
    /// http(s) remote in its Git LFS storage (`lfs.url`, `remote.<name>.lfsurl`, or
    /// `<url>.git/info/lfs` as Git LFS derives it).
    func impliedObjectRemote(name: String, url: String) -> ObjectRemoteInfo? {
        if url.hasPrefix("http://") || url.hasPrefix("https://") {
            let lfs = repository.configString("remote.\(name).lfsurl") ?? repository.configString("lfs.url")
                ?? (url.hasSuffix(".git") ? url + "/info/lfs" : (url.hasSuffix("/") ? String(url.dropLast()) : url) + ".git/info/lfs")
            return ObjectRemoteInfo(name: name, type: "lfs", location: lfs, source: "git remote")
        }
        var path: String
        if url.hasPrefix("file://") { path = String(url.dropFirst("file://".count)) }
        else if url.hasPrefix("/") || url.hasPrefix(".") || !url.contains(":") { path = url }
        else { return nil }
        if !path.hasPrefix("/") { path = (workTree as NSString).appendingPathComponent(path) }
        path = (path as NSString).standardizingPath
        var isDir: ObjCBool = false
        let gitFolder = FileManager.default.fileExists(atPath: path + "/.git", isDirectory: &isDir) && isDir.boolValue ? path + "/.git" : path
        return ObjectRemoteInfo(name: name, type: "dir", location: gitFolder + "/ml/objects", source: "git remote")
    }

    /// Saves an object remote in git config (`ml.remote.<name>.*`), after checking that it can be used.
    public func addObjectRemote(name: String, type: String, location: String) throws -> ObjectRemoteInfo {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw WorkspaceError(.invalidArgument, "remote name '\(name)' may hold letters, digits, '-', '_' and '.' only")
        }
        var location = location
        switch type {
        case "dir":
            location = absolutePath(location)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: location, isDirectory: &isDir), !isDir.boolValue {
                throw WorkspaceError(.invalidArgument, "\(location) is a file, not a folder")
            }
            do { try FileManager.default.createDirectory(atPath: location, withIntermediateDirectories: true) } catch {
                throw WorkspaceError(.invalidArgument, "cannot make the folder \(location): \(error.localizedDescription)")
            }
        case "lfs":
            guard location.hasPrefix("http://") || location.hasPrefix("https://") else {
                throw WorkspaceError(.invalidArgument, "an lfs remote needs an http:// or https:// URL, not '\(location)'")
            }
        default:
            throw WorkspaceError(.invalidArgument, "unknown remote type '\(type)'; git-ml has dir and lfs")
        }
        try git {
            try repository.setConfig("ml.remote.\(name).type", type)
            try repository.setConfig("ml.remote.\(name).\(type == "dir" ? "path" : "url")", location)
        }
        return ObjectRemoteInfo(name: name, type: type, location: location, source: "git config")
    }

    /// The backend for an object remote.
    public func makeObjectRemote(_ info: ObjectRemoteInfo) -> any ObjectRemote {
        switch info.type {
        case "lfs":
            let program = gitProgram
            return LFSRemote(url: info.location, credentials: { url, rejected in program.credential(for: url, rejected: rejected) })
        default:
            return DirRemote(path: info.location)
        }
    }
}

extension GitProgram {
    /// Asks git's credential helpers for a username and password for `url` (`git credential
    /// fill`); tells them first when the last pair was refused (`git credential reject`).
    func credential(for url: String, rejected: (username: String, password: String)?) -> (username: String, password: String)? {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, let host = parsed.host else { return nil }
        var description = "protocol=\(scheme)\nhost=\(host)\(parsed.port.map { ":\($0)" } ?? "")\n"
        if !parsed.path.isEmpty { description += "path=\(parsed.path.dropFirst())\n" }
        if let rejected {
            _ = try? run(["credential", "reject"], input: Data((description + "username=\(rejected.username)\npassword=\(rejected.password)\n\n").utf8))
            return nil
        }
        guard let result = try? run(["credential", "fill"], input: Data((description + "\n").utf8)), result.succeeded else { return nil }
        var user: String?, password: String?
        for line in result.output.split(separator: "\n") {
            if line.hasPrefix("username=") { user = String(line.dropFirst(9)) }
            if line.hasPrefix("password=") { password = String(line.dropFirst(9)) }
        }
        guard let password else { return nil }
        return (user ?? "", password)
    }
}
