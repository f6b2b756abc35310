import Foundation
import GitKit
import GRDB
import ObjectStore

/// Where things came from and where they went: a graph of code commits, runs, data
/// objects, environments and model versions, edges pointing from what was used to what
/// it made or fed (commit -> run, data -> run, run -> data, run -> model, model -> run).
public struct Lineage: Codable, Sendable {
    public enum Kind: String, Codable, Sendable { case commit, run, data, environment, model }

    public struct Node: Codable, Sendable, Equatable {
        /// `run:<id>`, `model:<name>:<version>`, `data:<sha256>`, `commit:<sha>`, `environment:<id>`.
        public var id: String
        public var kind: Kind
        public var label: String
        /// A line of detail: a run's status and command, a data object's size, a commit's subject.
        public var detail: String?
    }

    public struct Edge: Codable, Sendable, Hashable {
        public var from: String
        public var to: String
        /// What the link is: `code`, `input train`, `output outputs/model`, `registered from`.
        public var label: String
    }

    /// The node asked about.
    public var root: String
    public var nodes: [Node]
    public var edges: [Edge]
    /// Nodes upstream (what the root came from) and downstream (what came from the root), nearest first.
    public var upstream: [String]
    public var downstream: [String]
}

/// What `git ml lineage` and `git ml audit` can start from.
public enum LineageSubject: Sendable, Equatable, CustomStringConvertible {
    case model(name: String, version: String)
    case run(String)
    case data(sha256: String, name: String)
    case commit(String)

    public var description: String {
        switch self {
        case .model(let name, let version): return "model \(name):\(version)"
        case .run(let id): return "run \(id)"
        case .data(let sha, let name): return "data \(name)" + (name.hasPrefix(sha.prefix(12)) ? "" : " (sha256 \(sha.prefix(12)))")
        case .commit(let sha): return "commit \(sha.prefix(12))"
        }
    }
}

extension Workspace {
    /// Reads what a user named: `model:`, `run:`, `data:` or `commit:` first; else a model
    /// reference (`NAME:VERSION`, `NAME@ALIAS`), a 64-hex object id, a data pointer (or the
    /// path it describes), a run (id, prefix, name, `latest`), a commit.
    public func lineageSubject(_ text: String) throws -> LineageSubject {
        func model(_ t: String) throws -> LineageSubject {
            // A version named exactly may be a deleted one: its lineage and audit still hold.
            if let ref = ModelReference.parse(t), case .version(let v) = ref.selector {
                try Self.checkModelName(ref.name)
                let e = try modelEntry(name: ref.name, version: v, includeDeleted: true)
                return .model(name: e.model.name, version: e.model.version)
            }
            let e = try self.model(t)
            return .model(name: e.model.name, version: e.model.version)
        }
        if text.hasPrefix("model:") { return try model(String(text.dropFirst(6))) }
        if text.hasPrefix("azureml:") || text.hasPrefix("models:/") { return try model(text) }
        if text.hasPrefix("run:") { return .run(try resolveRun(String(text.dropFirst(4))).id) }
        if text.hasPrefix("commit:") { return .commit(try commitID(String(text.dropFirst(7)))) }
        let bare = text.hasPrefix("data:") ? String(text.dropFirst(5)) : text
        if bare.count == 64, bare.allSatisfy(\.isHexDigit) { return .data(sha256: bare.lowercased(), name: String(bare.prefix(12))) }
        let absolute = absolutePath(bare)
        for pointer in [absolute, absolute + DataPointer.suffix] where pointer.hasSuffix(DataPointer.suffix) {
            if let data = FileManager.default.contents(atPath: pointer) {
                let p = try DataPointer.parse(String(decoding: data, as: UTF8.self), file: relative(pointer))
                return .data(sha256: p.sha256, name: relative(String(pointer.dropLast(DataPointer.suffix.count))))
            }
        }
        if text.hasPrefix("data:") { throw WorkspaceError(.invalidArgument, "\(bare): not an object id nor a data pointer") }
        if text.contains(":") || text.contains("@"), let ref = ModelReference.parse(text),
           ModelNames.problem(with: ref.name, what: "") == nil, try git({ try ledger.head(.registeredModel, ref.name) }) != nil {
            return try model(text)
        }
        if let run = try? resolveRun(text) { return .run(run.id) }
        if let commit = try? commitID(text) { return .commit(commit) }
        throw WorkspaceError(.invalidArgument, "'\(ModelNames.printable(text))' names no model version, run, data pointer, object or commit here",
                             hint: "name it as model:NAME:VERSION, run:ID, data:SHA256 or commit:REV")
    }

    func commitID(_ rev: String) throws -> String {
        do { return try repository.resolveCommit(rev).hex } catch {
            throw WorkspaceError(.invalidArgument, "\(rev): no such commit in this repository")
        }
    }

    /// The lineage of a subject: everything upstream and downstream of it, as far as records go.
    /// Downstream questions are answered from the query index (runs by input, output and commit).
    public func lineage(of subject: LineageSubject, upstream: Bool = true, downstream: Bool = true, depth: Int = 50) throws -> Lineage {
        var walker = LineageWalker(workspace: self)
        let root = try walker.node(for: subject)
        let up = upstream ? try walker.walk(from: root, depth: depth, upward: true) : []
        let down = downstream ? try walker.walk(from: root, depth: depth, upward: false) : []
        let keep = Set([root] + up + down)
        let edges = walker.edges.filter { keep.contains($0.from) && keep.contains($0.to) }
            .sorted { ($0.from, $0.to, $0.label) < ($1.from, $1.to, $1.label) }
        return Lineage(root: root, nodes: walker.nodes.values.filter { keep.contains($0.id) }.sorted { $0.id < $1.id },
                       edges: edges, upstream: up, downstream: down)
    }
}

/// Walks records breadth first, adding nodes and edges as it goes.
struct LineageWalker {
    let workspace: Workspace
    var nodes: [String: Lineage.Node] = [:]
    var edges: Set<Lineage.Edge> = []
    var records: [String: RunRecord] = [:]
    var models: [ModelEntry]?
    var index: RunIndex?

    init(workspace: Workspace) { self.workspace = workspace }

    mutating func node(for subject: LineageSubject) throws -> String {
        switch subject {
        case .model(let name, let version): return try modelNode(try workspace.modelEntry(name: name, version: version, includeDeleted: true))
        case .run(let id): return try runNode(id)
        case .data(let sha, let name): return dataNode(sha, label: name)
        case .commit(let sha): return commitNode(sha)
        }
    }

    mutating func modelNode(_ e: ModelEntry) throws -> String {
        let id = "model:\(e.model.reference)"
        if nodes[id] == nil {
            nodes[id] = .init(id: id, kind: .model, label: e.model.reference,
                              detail: "\(e.model.type), \(e.model.artifact.files) file(s), sha256 \(e.model.artifact.sha256.prefix(12))" +
                                (e.aliases.isEmpty ? "" : ", @" + e.aliases.joined(separator: " @")))
        }
        return id
    }

    mutating func record(_ id: String) throws -> RunRecord {
        if let r = records[id] { return r }
        guard let r = try workspace.record(id: id) else {
            throw WorkspaceError(.invalidArgument, "run \(id) is not recorded here", hint: "git ml pull fetches records from the remote")
        }
        records[id] = r
        return r
    }

    mutating func runNode(_ id: String) throws -> String {
        let node = "run:\(id)"
        if nodes[node] == nil {
            let r = try? record(id)
            nodes[node] = .init(id: node, kind: .run, label: r.map { "\($0.name) (\(id.prefix(12)))" } ?? id,
                                detail: r.map { "\($0.status.rawValue), \($0.command.joined(separator: " ").prefix(80))" })
        }
        return node
    }

    mutating func dataNode(_ sha: String, label: String? = nil) -> String {
        let node = "data:\(sha)"
        if nodes[node] == nil || (label != nil && nodes[node]!.label == String(sha.prefix(12))) {
            nodes[node] = .init(id: node, kind: .data, label: label ?? String(sha.prefix(12)), detail: "sha256 \(sha)")
        }
        return node
    }

    mutating func commitNode(_ sha: String) -> String {
        let node = "commit:\(sha)"
        if nodes[node] == nil {
            let info = ObjectID(hex: sha).flatMap { try? workspace.repository.readCommit($0) }
            nodes[node] = .init(id: node, kind: .commit, label: String(sha.prefix(10)),
                                detail: info.map { String($0.message.split(separator: "\n").first ?? "") + " (\($0.author.name))" } ?? "not in this repository")
        }
        return node
    }

    mutating func environmentNode(_ env: RunRecord.Environment) -> String {
        let node = "environment:\(env.id)"
        if nodes[node] == nil {
            nodes[node] = .init(id: node, kind: .environment, label: "\(env.name) (\(env.id.prefix(12)))",
                                detail: env.lock.map { "lock \($0.prefix(12))" + (env.python.map { ", Python \($0)" } ?? "") })
        }
        return node
    }

    mutating func link(_ from: String, _ to: String, _ label: String) { edges.insert(.init(from: from, to: to, label: label)) }

    /// A model node's version, deleted ones too (they stay in the lineage of what used them).
    func modelEntry(_ key: String) throws -> ModelEntry {
        let colon = key.lastIndex(of: ":")!
        return try workspace.modelEntry(name: String(key[..<colon]), version: String(key[key.index(after: colon)...]), includeDeleted: true)
    }

    mutating func allModels() throws -> [ModelEntry] {
        if let models { return models }
        let all = try workspace.listModels(includeDeleted: true)
        models = all
        return all
    }

    mutating func openIndex() throws -> RunIndex {
        if let index { return index }
        let (opened, _) = try workspace.openIndex()
        index = opened
        return opened
    }

    /// Breadth first from `root`; the nodes met, nearest first.
    mutating func walk(from root: String, depth: Int, upward: Bool) throws -> [String] {
        var seen: Set<String> = [root]
        var order: [String] = []
        var frontier = [root]
        var level = 0
        while !frontier.isEmpty, level < depth, seen.count < 5_000 {
            var next: [String] = []
            for node in frontier {
                for n in try (upward ? parents(of: node) : children(of: node)) where seen.insert(n).inserted {
                    order.append(n)
                    next.append(n)
                }
            }
            frontier = next
            level += 1
        }
        return order
    }

    /// What a node came from.
    mutating func parents(of node: String) throws -> [String] {
        let (kind, key) = split(node)
        var out: [String] = []
        switch kind {
        case "model":
            let e = try modelEntry(key)
            if let run = e.model.source.run {
                let r = try runNode(run)
                link(r, node, "registered from " + [e.model.source.output, e.model.source.path].compactMap { $0 }.joined(separator: "/"))
                out.append(r)
            } else if let commit = e.model.source.commit {
                let c = commitNode(commit)
                link(c, node, "registered at (from \(e.model.source.folder ?? "a folder"))")
                out.append(c)
            }
        case "run":
            guard let r = try? record(key) else { return [] }
            let c = commitNode(r.code.commit)
            link(c, node, r.code.dirty ? "code (dirty, \(r.code.changedPaths.count) changed)" : "code")
            out.append(c)
            if let env = r.environment {
                let e = environmentNode(env)
                link(e, node, "environment")
                out.append(e)
            }
            for input in r.inputs ?? [] {
                guard let sha = input.sha256 else { continue }
                if let asset = input.asset, let ref = ModelReference.parse(asset), input.type.hasSuffix("_model"),
                   let m = try? workspace.modelEntry(name: ref.name, version: { if case .version(let v) = ref.selector { return v }; return "" }(), includeDeleted: true) {
                    let n = try modelNode(m)
                    link(n, node, "input \(input.name)")
                    out.append(n)
                    continue
                }
                let d = dataNode(sha, label: input.asset ?? input.path ?? input.name)
                link(d, node, "input \(input.name)")
                out.append(d)
            }
        case "data":
            // The runs that wrote these bytes: a whole output, or one file of one.
            let index = try openIndex()
            let producers = try index.queue.read { db in
                try Row.fetchAll(db, sql: "SELECT run_id, name FROM run_outputs WHERE sha256 = ? UNION SELECT run_id, path FROM output_files WHERE sha256 = ?",
                                 arguments: [key, key]).map { ($0[0] as String, $0[1] as String) }
            }
            for (run, name) in producers {
                let r = try runNode(run)
                link(r, node, "output \(name)")
                out.append(r)
            }
        default: break
        }
        return out
    }

    /// What came from a node.
    mutating func children(of node: String) throws -> [String] {
        let (kind, key) = split(node)
        var out: [String] = []
        let index = try openIndex()
        func consumers(of sha: String, from source: String, kind label: String = "input") throws {
            let rows = try index.queue.read { db in
                try Row.fetchAll(db, sql: "SELECT run_id, name FROM run_inputs WHERE sha256 = ?", arguments: [sha]).map { ($0[0] as String, $0[1] as String) }
            }
            for (run, name) in rows {
                let r = try runNode(run)
                link(source, r, "\(label) \(name)")
                out.append(r)
            }
        }
        switch kind {
        case "commit":
            let runs = try index.queue.read { db in try String.fetchAll(db, sql: "SELECT id FROM runs WHERE \"commit\" = ?", arguments: [key]) }
            for run in runs {
                let r = try runNode(run)
                link(node, r, "code")
                out.append(r)
            }
            for m in try allModels() where m.model.source.run == nil && m.model.source.commit == key {
                let n = try modelNode(m)
                link(node, n, "registered at")
                out.append(n)
            }
        case "data":
            try consumers(of: key, from: node)
            for m in try allModels() where m.model.artifact.sha256 == key {
                let n = try modelNode(m)
                link(node, n, "registered as")
                out.append(n)
            }
        case "run":
            let r = try record(key)
            for o in r.outputs {
                // Outputs are data nodes only when something used them, so a run's lineage stays readable.
                let files = try index.queue.read { db in
                    try Row.fetchAll(db, sql: """
                        SELECT i.run_id, i.name, f.path, f.sha256 FROM output_files f JOIN run_inputs i ON i.sha256 = f.sha256
                        WHERE f.run_id = ? AND f.path LIKE ? ESCAPE '\\'
                        UNION SELECT i.run_id, i.name, ?, i.sha256 FROM run_inputs i WHERE i.sha256 = ?
                        """, arguments: [key, Self.likePrefix(o.name + "/"), o.name, o.sha256])
                        .map { ($0[0] as String, $0[1] as String, $0[2] as String, $0[3] as String) }
                }
                for (run, input, path, sha) in files where run != key {
                    let d = dataNode(sha, label: "\(path) of \(key.prefix(12))")
                    link(node, d, "output \(path)")
                    let consumer = try runNode(run)
                    link(d, consumer, "input \(input)")
                    out.append(d)
                }
            }
            for m in try allModels() where m.model.source.run == key {
                let n = try modelNode(m)
                link(node, n, "registered from " + [m.model.source.output, m.model.source.path].compactMap { $0 }.joined(separator: "/"))
                out.append(n)
            }
        case "model":
            let e = try modelEntry(key)
            try consumers(of: e.model.artifact.sha256, from: node)
        default: break
        }
        return out
    }

    static func likePrefix(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
    }

    func split(_ node: String) -> (String, String) {
        let colon = node.firstIndex(of: ":")!
        return (String(node[..<colon]), String(node[node.index(after: colon)...]))
    }
}
