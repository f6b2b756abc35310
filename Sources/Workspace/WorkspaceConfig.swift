import Foundation
import Yams

/// `.mlops/config.yaml`: the settings a team commits with its code.
public struct WorkspaceConfig: Sendable, Equatable {
    /// The experiment a run joins when `--experiment` is not given.
    public var experiment = "Default"
    /// Whether the pre-push hook also pushes `refs/ml/*` and `refs/notes/ml`.
    public var pushRecords = true

    public static let keys = ["experiment", "push_records"]
    public init() {}

    public static let template = """
    # git-ml workspace settings (docs/config.md). Committed with your code.

    # The experiment runs join unless `git ml run --experiment NAME` says otherwise.
    experiment: Default

    # The pre-push hook also pushes run records (refs/ml/*, refs/notes/ml) to the same remote.
    push_records: true

    """

    /// Parses the file; an unknown key or a wrong type names the file and line.
    public static func parse(_ text: String, file: String) throws -> WorkspaceConfig {
        var config = WorkspaceConfig()
        let node: Node?
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
