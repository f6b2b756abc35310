import Foundation
import Yams

/// `.mlops/config.yaml`: the settings a team commits with its code.
public struct WorkspaceConfig: Sendable, Equatable {
    /// The experiment a run joins when `--experiment` is not given.
    public var experiment = "Default"
    /// Whether the pre-push hook also pushes `refs/ml/*` and `refs/notes/ml`.
    public var pushRecords = true
    /// How environments are built.
    public var environments = Environments()
    /// Whether untracked files with secret-looking names (`.env`, `*.pem`, ...) go into
    /// run snapshots; by default they are left out, named in a warning and in the record.
    public var snapshotSecrets = false
    /// `remotes:`: object remotes by name (a git remote's name, or a name of their own).
    public var remotes: [String: ObjectRemoteSetting] = [:]

    /// Where one object remote keeps objects: `type: dir` with `path`, or `type: lfs` with `url`.
    public struct ObjectRemoteSetting: Sendable, Equatable, Codable {
        public var type: String
        public var location: String
        public init(type: String, location: String) {
            self.type = type
            self.location = location
        }
    }

    /// `environments:` settings.
    public struct Environments: Sendable, Equatable {
        /// Which tool installs packages into a new environment.
        public enum Installer: String, Sendable, CaseIterable {
            /// uv when git-ml finds it (on PATH, GITML_UV, or its own tool folder), else pip.
            case auto
            /// uv, or an error saying how to get it.
            case uv
            /// pip, as `python -m venv` brings it.
            case pip
        }
        public var installer = Installer.auto
        /// Lets git-ml install uv from PyPI into its own tool folder the first time it needs it.
        public var fetchUV = false
        public init() {}
    }

    public static let keys = ["experiment", "push_records", "environments", "snapshot_secrets", "remotes"]
    public init() {}

    public static let template = """
    # git-ml workspace settings (docs/config.md). Committed with your code.

    # The experiment runs join unless `git ml run --experiment NAME` says otherwise.
    experiment: Default

    # The pre-push hook also publishes run records and models (refs/ml/ledger/<writer>) to the
    # same remote, and sends the objects they and the pushed data pointers name before the refs.
    push_records: true

    # Object remotes by git remote name (docs/sharing.md). Without one, a remote that is a
    # folder or file:// URL keeps objects in its git folder (ml/objects), and an http(s)
    # remote uses its Git LFS storage.
    # remotes:
    #   origin: {type: dir, path: /mnt/team/ml-objects}

    # Untracked files with secret-looking names (.env, *.pem, *.key, id_rsa*, .netrc,
    # credentials*) are left out of run snapshots; true takes them in like any other file.
    snapshot_secrets: false

    # How environments (virtualenvs under .git/ml/envs) are built: installer auto uses uv
    # when it is found (PATH, GITML_UV, or git-ml's tool folder) and pip otherwise;
    # fetch_uv lets git-ml install uv from PyPI into its tool folder once.
    environments:
      installer: auto
      fetch_uv: false

    """

    /// Parses the file; an unknown key or a wrong type names the file and line.
    public static func parse(_ text: String, file: String) throws -> WorkspaceConfig {
        var config = WorkspaceConfig()
        let node: Node?
        try YAMLGuard.check(text, file: file)
        do {
            // The basic resolver: no implicit-tag regexes to compile (3 ms of ICU start-up
            // on every command); each setting is typed below, where its key is known.
            node = try Yams.compose(yaml: text, .basic)
        } catch let error as YamlError {
            throw WorkspaceError(.badConfig, "\(file): \(Self.describe(error))", hint: "fix the YAML syntax; see docs/config.md")
        }
        guard let node else { return config }
        guard let mapping = node.mapping else {
            throw WorkspaceError(.badConfig, "\(file):\(node.mark.map { "\($0.line)" } ?? "1"): expected a mapping of settings (\(keys.joined(separator: ", ")))")
        }
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            let line = keyNode.mark?.line ?? 0
            switch key {
            case "experiment":
                guard let s = value.string, !s.isEmpty else {
                    throw WorkspaceError(.badConfig, "\(file):\(line): 'experiment' must be a non-empty string")
                }
                config.experiment = s
            case "push_records":
                guard let b = value.bool else {
                    throw WorkspaceError(.badConfig, "\(file):\(line): 'push_records' must be true or false")
                }
                config.pushRecords = b
            case "snapshot_secrets":
                guard let b = value.bool else {
                    throw WorkspaceError(.badConfig, "\(file):\(line): 'snapshot_secrets' must be true or false")
                }
                config.snapshotSecrets = b
            case "environments":
                guard let settings = value.mapping else {
                    throw WorkspaceError(.badConfig, "\(file):\(line): 'environments' must be a mapping (installer, fetch_uv)")
                }
                for (innerKey, innerValue) in settings {
                    let inner = innerKey.string ?? "", innerLine = innerKey.mark?.line ?? line
                    switch inner {
                    case "installer":
                        guard let text = innerValue.string, let installer = Environments.Installer(rawValue: text) else {
                            throw WorkspaceError(.badConfig, "\(file):\(innerLine): 'environments.installer' must be one of \(Environments.Installer.allCases.map(\.rawValue).joined(separator: ", "))")
                        }
                        config.environments.installer = installer
                    case "fetch_uv":
                        guard let b = innerValue.bool else {
                            throw WorkspaceError(.badConfig, "\(file):\(innerLine): 'environments.fetch_uv' must be true or false")
                        }
                        config.environments.fetchUV = b
                    default:
                        throw WorkspaceError(.badConfig, "\(file):\(innerLine): unknown key '\(inner)' in environments; accepted here: installer, fetch_uv")
                    }
                }
            case "remotes":
                guard let remotes = value.mapping else {
                    throw WorkspaceError(.badConfig, "\(file):\(line): 'remotes' must be a mapping of names to {type, path or url}")
                }
                for (nameNode, spec) in remotes {
                    let name = nameNode.string ?? "", at = nameNode.mark?.line ?? line
                    guard spec.mapping != nil, let type = spec["type"]?.string else {
                        throw WorkspaceError(.badConfig, "\(file):\(at): remote '\(name)' needs 'type' (dir or lfs) and 'path' or 'url'")
                    }
                    switch type {
                    case "dir":
                        guard let path = spec["path"]?.string, !path.isEmpty else {
                            throw WorkspaceError(.badConfig, "\(file):\(at): remote '\(name)' of type dir needs 'path'")
                        }
                        config.remotes[name] = ObjectRemoteSetting(type: type, location: path)
                    case "lfs":
                        guard let url = spec["url"]?.string, url.hasPrefix("http://") || url.hasPrefix("https://") else {
                            throw WorkspaceError(.badConfig, "\(file):\(at): remote '\(name)' of type lfs needs 'url' (http:// or https://)")
                        }
                        config.remotes[name] = ObjectRemoteSetting(type: type, location: url)
                    default:
                        throw WorkspaceError(.badConfig, "\(file):\(at): remote '\(name)' has type '\(type)'; git-ml has dir and lfs")
                    }
                }
            default:
                throw WorkspaceError(.badConfig, "\(file):\(line): unknown key '\(key)'; accepted here: \(keys.joined(separator: ", "))")
            }
        }
        return config
    }

    static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
            return "\(mark.line):\(mark.column): \(problem)\(context.map { " \($0.text)" } ?? "")"
        default:
            return "\(error)".split(separator: "\n").first.map(String.init) ?? "invalid YAML"
        }
    }
}
