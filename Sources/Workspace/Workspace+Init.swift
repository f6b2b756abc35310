import Foundation

/// What `git ml init` did.
public struct InitReport: Sendable, Codable {
    public enum HookAction: String, Sendable, Codable {
        /// Written where there was none.
        case installed
        /// Ours, rewritten with this version's text.
        case updated
        /// Already this version's text.
        case unchanged
        /// The user's own hook moved to `<name>.local`; ours runs it first.
        case chained
    }
    public struct Hook: Sendable, Codable {
        public var name: String
        public var path: String
        public var action: HookAction
    }
    public var configPath: String
    public var createdConfig: Bool
    public var stateDirectory: String
    public var hooks: [Hook]
    enum CodingKeys: String, CodingKey { case configPath = "config_path", createdConfig = "created_config", stateDirectory = "state_directory", hooks }
}

extension Workspace {
    /// The hooks git-ml installs, by name, with their text.
    static let hooks: [(name: String, text: String)] = [("pre-push", EmbeddedAssets.prePushHook)]
    static let hookMarker = "# git-ml: "

    /// Where git looks for hooks: `core.hooksPath` if set, else `.git/hooks`.
    public var hooksDirectory: String {
        if let configured = repository.configString("core.hooksPath"), !configured.isEmpty {
            let expanded = configured.hasPrefix("~/") ? (environment["HOME"] ?? "") + configured.dropFirst(1) : configured
            return expanded.hasPrefix("/") ? expanded : workTree + "/" + expanded
        }
        return repository.commonDirectory + "/hooks"
    }

    /// Creates `.mlops/config.yaml` and `.git/ml/`, and installs the hooks
    /// without clobbering a hook the user already has. Safe to run again.
    public func initialize() throws -> InitReport {
        let fm = FileManager.default
        let configPath = workTree + "/.mlops/config.yaml"
        var created = false
        if !fm.fileExists(atPath: configPath) {
            try fm.createDirectory(atPath: workTree + "/.mlops", withIntermediateDirectories: true)
            try writeFileAtomically(Data(WorkspaceConfig.template.utf8), to: configPath)
            created = true
        } else {
            _ = try config()  // a broken config is reported now, not at the first run
        }
        for sub in ["objects", "runs", "cache"] {
            try fm.createDirectory(atPath: stateDirectory + "/" + sub, withIntermediateDirectories: true)
        }
        let dir = hooksDirectory
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var installed: [InitReport.Hook] = []
        for (name, text) in Self.hooks {
            let path = dir + "/" + name
            let action: InitReport.HookAction
            if let existing = fm.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) {
                if existing == text {
                    action = .unchanged
                } else if existing.contains(Self.hookMarker + name) {
                    action = .updated
                } else {
                    let chained = path + ".local"
                    if fm.fileExists(atPath: chained) {
                        throw WorkspaceError(.invalidArgument, "\(path) is not git-ml's and \(chained) exists too; git ml init will not overwrite either",
                                             hint: "merge them into \(chained) and delete \(path), then run git ml init again")
                    }
                    guard rename(path, chained) == 0 else {
                        throw WorkspaceError(.storage, "cannot move \(path) to \(chained): \(String(cString: strerror(errno)))")
                    }
                    chmod(chained, 0o755)
                    action = .chained
                }
            } else {
                action = .installed
            }
            if action != .unchanged { try writeFileAtomically(Data(text.utf8), to: path, mode: 0o755) }
            chmod(path, 0o755)
            installed.append(.init(name: name, path: relative(path), action: action))
        }
        return InitReport(configPath: relative(configPath), createdConfig: created, stateDirectory: relative(stateDirectory), hooks: installed)
    }
}
