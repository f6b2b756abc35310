import Foundation
import Yams

/// A YAML document as a tree that remembers where each value came from, so that
/// every spec error can say file:line, and `--set a.b=c` can change any field.
public indirect enum SpecNode: Sendable, Equatable {
    case scalar(String, quoted: Bool, line: Int)
    case mapping([(key: String, value: SpecNode, line: Int)], line: Int)
    case sequence([SpecNode], line: Int)
    case null(line: Int)

    public static func == (a: SpecNode, b: SpecNode) -> Bool {
        switch (a, b) {
        case let (.scalar(x, q1, _), .scalar(y, q2, _)): return x == y && q1 == q2
        case let (.mapping(x, _), .mapping(y, _)): return x.map(\.key) == y.map(\.key) && zip(x, y).allSatisfy { $0.value == $1.value }
        case let (.sequence(x, _), .sequence(y, _)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    public var line: Int {
        switch self {
        case .scalar(_, _, let l), .mapping(_, let l), .sequence(_, let l), .null(let l): return l
        }
    }

    /// Parses the bytes of a YAML file, within `YAMLGuard`'s limits (UTF-8, size, depth,
    /// aliases, unique keys); an error names the file and line.
    public static func parse(_ data: Data, file: String) throws -> SpecNode {
        try parse(try YAMLGuard.text(data, file: file), file: file, checked: true)
    }

    /// Parses YAML text; a syntax error names the file, line and column.
    public static func parse(_ text: String, file: String, checked: Bool = false) throws -> SpecNode {
        if !checked { try YAMLGuard.check(text, file: file) }
        do {
            guard let node = try Yams.compose(yaml: text, .basic) else { return .null(line: 1) }
            return convert(node)
        } catch let error as YamlError {
            throw WorkspaceError(.badConfig, "\(file):\(WorkspaceConfig.describe(error))", hint: "fix the YAML syntax")
        }
    }

    static func convert(_ node: Node) -> SpecNode {
        let line = node.mark?.line ?? 0
        switch node {
        case .scalar(let s):
            if s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) { return .null(line: line) }
            return .scalar(s.string, quoted: s.style != .plain, line: line)
        case .mapping(let m):
            return .mapping(m.map { (key: $0.key.string ?? "", value: convert($0.value), line: $0.key.mark?.line ?? line) }, line: line)
        case .sequence(let seq):
            return .sequence(seq.map(convert), line: line)
        }
    }

    /// The value under `key` of a mapping.
    public subscript(key: String) -> SpecNode? {
        guard case .mapping(let entries, _) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    /// Sets the value at a dotted path (`inputs.data.path`), creating mappings on the way.
    public mutating func set(path: [String], to value: SpecNode) {
        guard let first = path.first else { self = value; return }
        var entries: [(key: String, value: SpecNode, line: Int)]
        let line = self.line
        if case .mapping(let e, _) = self { entries = e } else { entries = [] }
        if let i = entries.firstIndex(where: { $0.key == first }) {
            var child = entries[i].value
            child.set(path: Array(path.dropFirst()), to: value)
            entries[i].value = child
        } else {
            var child = SpecNode.null(line: 0)
            child.set(path: Array(path.dropFirst()), to: value)
            entries.append((first, child, 0))
        }
        self = .mapping(entries, line: line)
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// Removes a key of a mapping (nothing when absent).
    public mutating func remove(_ key: String) {
        guard case .mapping(var entries, let line) = self else { return }
        entries.removeAll { $0.key == key }
        self = .mapping(entries, line: line)
    }

    /// Applies `key.path=value` overrides, as `az ml job create --set` does; the
    /// value is read as a YAML scalar (a number stays a number).
    public mutating func apply(overrides: [String]) throws {
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
                throw WorkspaceError(.invalidArgument, "--set \(o): expected key.path=value, e.g. --set inputs.lr=0.1")
            }
            let path = o[..<eq].split(separator: ".").map(String.init)
            let text = String(o[o.index(after: eq)...])
            set(path: path, to: text.isEmpty ? .null(line: 0) : .scalar(text, quoted: false, line: 0))
        }
    }
}
