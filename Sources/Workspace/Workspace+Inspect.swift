import Foundation
import GitKit
import ObjectStore

/// Where a run's log is: a file still being written, or the stored bytes.
public enum RunLog {
    case live(path: String)
    case stored(Data)
    case none
}

/// The differences between two runs.
public struct RunDiff: Sendable {
    public struct Change: Sendable, Equatable {
        public var key: String
        public var old: String?
        public var new: String?
    }
    public struct OutputChange: Sendable, Equatable {
        public var path: String
        public var kind: String   // added, deleted, modified
    }
    public var a: RunRecord
    public var b: RunRecord
    public var params: [Change]
    public var metrics: [Change]
    /// Job inputs (data by SHA-256, literals by value) and the environment (by id), where they differ.
    public var inputs: [Change]
    public var code: [FileChange]
    public var patch: String?
    public var outputs: [OutputChange]
}

extension Workspace {
    /// The log of a run: live while it runs here, stored once it has ended.
    public func log(of record: RunRecord) throws -> RunLog {
        if record.status == .running {
            let path = liveFolder(record.id) + "/logs/output.log"
            if FileManager.default.fileExists(atPath: path) { return .live(path: path) }
        }
        let (_, commit) = try resolveRun(record.id)
        let tree = try git { try repository.readCommit(commit).tree }
        guard let data = try git({ try repository.readFile(in: tree, path: "logs/output.log") }) else { return .none }
        return .stored(data)
    }

    /// The stored series file (`metrics.jsonl` of a finished record: one normalized line per
    /// point, in the order logged), or nil for a running run or one without metrics.
    public func storedMetricSeries(of record: RunRecord) throws -> Data? {
        guard record.status != .running, let commit = try git({ try ledger.head(.run, record.id) }) else { return nil }
        let tree = try git { try repository.readCommit(commit).tree }
        return try git { try repository.readFile(in: tree, path: "metrics.jsonl") }
    }

    /// The job file a run ran (after `--set`), as its record keeps it (`job.yaml`).
    public func jobSpec(of id: String) throws -> Data? {
        guard let commit = try git({ try ledger.head(.run, id) }) else { return nil }
        let tree = try git { try repository.readCommit(commit).tree }
        return try git { try repository.readFile(in: tree, path: "job.yaml") }
    }

    /// The metric series of a run, in the order logged.
    public func metricSeries(of record: RunRecord) throws -> [MetricPoint] {
        var parser = MetricsParser()
        if record.status == .running, let data = FileManager.default.contents(atPath: liveFolder(record.id) + "/metrics.jsonl") {
            parser.feed(data)
            return parser.points
        }
        guard let commit = try git({ try ledger.head(.run, record.id) }) else { return [] }
        let tree = try git { try repository.readCommit(commit).tree }
        if let data = try git({ try repository.readFile(in: tree, path: "metrics.jsonl") }) {
            parser.feed(data)
            parser.finish()
        }
        return parser.points
    }

    /// Params, metrics, code and outputs that differ between two runs.
    public func diffRuns(_ a: RunRecord, _ b: RunRecord, patch: Bool) throws -> RunDiff {
        func changes(_ x: [String: String], _ y: [String: String]) -> [RunDiff.Change] {
            Set(x.keys).union(y.keys).sorted().compactMap { k in x[k] == y[k] ? nil : .init(key: k, old: x[k], new: y[k]) }
        }
        let params = changes(a.params, b.params)
        let metrics = changes(a.metrics.mapValues { RunFormatting.number($0.last) }, b.metrics.mapValues { RunFormatting.number($0.last) })
        var code: [FileChange] = []
        var text: String?
        if a.code.tree != b.code.tree, let ta = ObjectID(hex: a.code.tree), let tb = ObjectID(hex: b.code.tree) {
            let d = try git { try repository.diff(from: ta, to: tb, patch: patch) }
            code = d.changes
            text = d.patch
        }
        let outputs = try outputFiles(a).diff(against: outputFiles(b))
        func inputs(_ r: RunRecord) -> [String: String] {
            var out: [String: String] = [:]
            for i in r.inputs ?? [] { out[i.name] = i.sha256.map { "sha256 " + $0.prefix(12) } ?? i.value ?? "" }
            if let env = r.environment { out["(environment)"] = "\(env.name) \(env.id.prefix(12))" }
            return out
        }
        return RunDiff(a: a, b: b, params: params, metrics: metrics, inputs: changes(inputs(a), inputs(b)), code: code, patch: text, outputs: outputs)
    }

    /// Every output file of a run, by its checkout path, with its SHA-256 (or link target).
    func outputFiles(_ r: RunRecord) throws -> [String: String] {
        var files: [String: String] = [:]
        for o in r.outputs {
            guard let id = ContentID(hex: o.sha256) else { continue }
            if o.type == "uri_file" {
                files[o.path] = o.sha256
            } else {
                for e in try store.manifest(id).entries {
                    files[o.path.isEmpty ? e.path : o.path + "/" + e.path] = e.sha256?.hex ?? "link:" + (e.target ?? "")
                }
            }
        }
        return files
    }

    /// Writes the exact code a run saw (its commit, or its dirty snapshot) into `directory`.
    public func checkoutCode(of record: RunRecord, into directory: String) throws {
        try requireEmptyFolder(directory)
        guard let tree = ObjectID(hex: record.code.tree) else { throw WorkspaceError(.storage, "run \(record.id) has no code tree") }
        try git { try repository.materialize(tree: tree, into: directory) }
    }

    /// Writes a run's outputs into `directory`: the GITML_OUTPUTS folder at its
    /// top, each `--output PATH` at PATH.
    /// A failure leaves the folder as it was (empty, or not there).
    public func checkoutOutputs(of record: RunRecord, into directory: String) throws {
        try fillingEmptyFolder(directory) { try writeOutputs(of: record, into: directory) }
    }

    /// Runs `body` to write into `directory`, which must be new or empty; a failure leaves
    /// the folder as it was (empty, or not there).
    func fillingEmptyFolder(_ directory: String, _ body: () throws -> Void) throws {
        try requireEmptyFolder(directory)
        let existed = FileManager.default.fileExists(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do { try body() } catch {
            if existed {
                for item in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                    try? FileManager.default.removeItem(atPath: directory + "/" + item)
                }
            } else {
                try? FileManager.default.removeItem(atPath: directory)
            }
            throw error
        }
    }

    private func writeOutputs(of record: RunRecord, into directory: String) throws {
        for o in record.outputs {
            guard let id = ContentID(hex: o.sha256) else { continue }
            let target = o.path.isEmpty ? directory : directory + "/" + o.path
            do {
                if o.type == "uri_file" { try store.checkout(id, to: target) } else { try store.checkoutFolder(manifest: id, to: target) }
            } catch let e as StoreError {
                throw WorkspaceError(.storage, "cannot restore output \(o.name) of run \(record.id): \(e.message)",
                                     hint: Self.damageHint(e))
            }
        }
    }

    /// What to do about a store failure met while restoring bytes.
    static func damageHint(_ e: StoreError) -> String {
        switch e.code {
        case .corruptObject: return "nothing was restored from it; `git ml fsck` lists every damaged object; copy a good one from a clone that has it (.git/ml/objects)"
        case .missingObject: return "copy it from a clone that has it (.git/ml/objects); `git ml fsck` checks the store"
        default: return "`git ml fsck` checks the store"
        }
    }

    func requireEmptyFolder(_ directory: String) throws {
        if let items = try? FileManager.default.contentsOfDirectory(atPath: directory), !items.isEmpty {
            throw WorkspaceError(.invalidArgument, "\(directory) is not empty; git ml checkout writes only into a new or empty folder",
                                 hint: "name a new folder")
        }
    }
}

extension Dictionary where Key == String, Value == String {
    func diff(against other: [String: String]) -> [RunDiff.OutputChange] {
        Set(keys).union(other.keys).sorted().compactMap { k in
            switch (self[k], other[k]) {
            case (nil, _?): return .init(path: k, kind: "added")
            case (_?, nil): return .init(path: k, kind: "deleted")
            case let (x?, y?) where x != y: return .init(path: k, kind: "modified")
            default: return nil
            }
        }
    }
}
