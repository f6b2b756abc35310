import Foundation
import GitKit
import ObjectStore

/// An experiment as MLflow's API shows it. Runs name their experiment; an
/// experiment created, renamed, tagged or deleted through the API is also
/// recorded on `refs/ml/experiments/<id>`.
public struct Experiment: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    /// `active` or `deleted`.
    public var lifecycleStage: String
    public var tags: [String: String]
    /// Milliseconds since 1970.
    public var creationTime: Int64
    public var lastUpdateTime: Int64

    enum CodingKeys: String, CodingKey {
        case id, name, tags
        case lifecycleStage = "lifecycle_stage", creationTime = "creation_time", lastUpdateTime = "last_update_time"
    }

    public init(id: String, name: String, lifecycleStage: String = "active", tags: [String: String] = [:], creationTime: Int64, lastUpdateTime: Int64) {
        self.id = id; self.name = name; self.lifecycleStage = lifecycleStage; self.tags = tags
        self.creationTime = creationTime; self.lastUpdateTime = lastUpdateTime
    }
}

extension Workspace {
    /// An experiment's id follows from its name (`Default` is `0`, as in MLflow), so every
    /// clone gives the same name the same id without coordination.
    public static func experimentID(for name: String) -> String {
        if name == "Default" { return "0" }
        let digest = FileHashing.sha256(Data(name.utf8)).hex
        var value: UInt64 = 0
        for c in digest.prefix(13) { value = value * 16 + UInt64(c.hexDigitValue ?? 0) }
        return String(value)
    }

    /// Experiments recorded on refs, and those that runs name (Default always).
    public func experiments() throws -> [Experiment] {
        var byID: [String: Experiment] = [:]
        for (_, commit) in try git({ try ledger.list(.experiment) }) {
            // One unreadable record does not hide the others (fsck names it).
            if let e = try? git({ try ledger.decode(Experiment.self, .experiment, at: commit) }) { byID[e.id] = e }
        }
        var names = Set(["Default", (try? config().experiment) ?? "Default"])
        var firstSeen: [String: Int64] = [:]
        for (name, start) in try experimentsOfRuns() {
            names.insert(name)
            firstSeen[name] = start
        }
        for name in names {
            let id = Self.experimentID(for: name)
            if byID[id] == nil {
                let t = firstSeen[name] ?? 0
                byID[id] = Experiment(id: id, name: name, creationTime: t, lastUpdateTime: t)
            }
        }
        return byID.values.sorted { $0.creationTime == $1.creationTime ? $0.name < $1.name : $0.creationTime < $1.creationTime }
    }

    public func experiment(id: String) throws -> Experiment? { try experiments().first { $0.id == id } }
    public func experiment(named name: String) throws -> Experiment? { try experiments().first { $0.name == name } }

    /// Records an experiment (created, renamed, tagged, deleted or restored) on its ref.
    public func saveExperiment(_ experiment: Experiment) throws {
        let document = try Self.recordJSON(experiment)
        try git {
            try ledger.write(.experiment, experiment.id, expecting: .latest) { _ in
                RecordContent(document: document, message: "git-ml experiment \(experiment.id): \(experiment.name)\n")
            }
        }
    }

    /// Appends lines (formatted already) to a live run's metrics file in one write. Returns
    /// the file's size just before and just after; when they differ by exactly the bytes
    /// written, no other writer got in between and the lines start at `before`.
    @discardableResult
    public func appendToMetrics(metricsPath: String, data: Data) throws -> (before: Int64, after: Int64) {
        let fd = openFile(metricsPath, O_WRONLY | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WorkspaceError(.storage, "cannot append to \(metricsPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let before = Int64(st.st_size)
        let ok = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) == $0.count }
        guard ok else { throw WorkspaceError(.storage, "cannot append to \(metricsPath): \(String(cString: strerror(errno)))") }
        fstat(fd, &st)
        return (before, Int64(st.st_size))
    }
}
