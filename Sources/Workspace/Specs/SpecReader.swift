import Foundation

/// Reads the values of one YAML spec (a job, a sweep, an environment, a model or data
/// asset file), every error naming the file and line, the key, and what is accepted
/// there. The one set of checks the spec parsers share, so that they word a mistake
/// the same way.
struct SpecReader {
    /// The file as the user named it, for messages.
    let file: String

    func fail(_ line: Int, _ message: String, hint: String? = nil) -> WorkspaceError {
        WorkspaceError(.badConfig, "\(file):\(line): \(message)", hint: hint)
    }

    /// `node` is a mapping whose keys are all in `keys`; `place` names it in messages
    /// ("inputs.x", "a sweep job"; nil at a file's top level, checked to be a mapping before).
    func allowed(_ node: SpecNode, _ keys: [String], in place: String? = nil, hints: [String: String] = [:]) throws {
        guard case .mapping(let entries, _) = node else { throw fail(node.line, "'\(place ?? "")' must be a mapping") }
        let within = place.map { " in \($0)" } ?? ""
        for e in entries where !keys.contains(e.key) {
            throw fail(e.line, "unknown key '\(e.key)'\(within); accepted here: \(keys.joined(separator: ", "))", hint: hints[e.key])
        }
    }

    /// A single value, or nil when absent or null.
    func string(_ node: SpecNode?, _ key: String) throws -> String? {
        guard let node else { return nil }
        switch node {
        case .scalar(let s, _, _): return s
        case .null: return nil
        default: throw fail(node.line, "'\(key)' must be a single value")
        }
    }

    /// A mapping of names to single values (tags, environment variables).
    func stringMap(_ node: SpecNode?, _ key: String) throws -> [String: String] {
        guard let node else { return [:] }
        if case .null = node { return [:] }
        guard case .mapping(let m, _) = node else { throw fail(node.line, "'\(key)' must be a mapping of names to values") }
        var out: [String: String] = [:]
        for e in m { out[e.key] = try string(e.value, "\(key).\(e.key)") ?? "" }
        return out
    }

    /// A whole number, at least `min` when given.
    func int(_ node: SpecNode?, _ key: String, min: Int? = nil) throws -> Int? {
        guard let node, let s = try string(node, key) else { return nil }
        guard let v = Int(s) else { throw fail(node.line, "'\(key)' must be a whole number, not '\(s)'") }
        if let min, v < min { throw fail(node.line, "'\(key)' must be at least \(min), not \(v)") }
        return v
    }

    /// A finite number that `place` needs.
    func number(_ node: SpecNode?, _ key: String, in place: String) throws -> Double {
        guard let node, let s = try string(node, key) else { throw fail(node?.line ?? 0, "\(place) needs '\(key)'") }
        guard let v = Double(s), v.isFinite else { throw fail(node.line, "'\(key)' in \(place) must be a number, not '\(s)'") }
        return v
    }
}
