import Foundation
import ObjectStore
import Synchronization
import Workspace

/// This machine as a compute target: a resolved job runs in its live folder, with its
/// code copied from the run's code snapshot, inputs hashed into the store and handed over
/// read-only, named outputs collected, `./outputs` and `./logs` kept as artifacts, its
/// environment built once, its processes started as the distribution asks, and stopped
/// at its timeout.
public struct LocalCompute: ComputeTarget {
    let workspace: Workspace

    public init(workspace: Workspace) { self.workspace = workspace }

    public var name: String { "local" }

    public func run(_ job: ResolvedJob, observer: JobObserver) throws -> RunRecord {
        if job.runsInPlace && job.processes.count == 1 && job.timeoutSeconds == nil {
            return try RunExecutor(workspace: workspace).execute(job.run, observer: observer)
        }
        var launch = LaunchPlan()
        launch.processes = job.processes
        launch.timeoutSeconds = job.timeoutSeconds
        launch.stopRequest = job.stopRequest
        if job.stopRequest != nil { launch.tickInterval = 0.05 }
        let linked = Mutex<[(path: String, ctime: Int64)]>([])
        let workspace = self.workspace
        launch.prepare = { live, isCanceled in
            if let compute = job.run.compute, compute != "local" {
                observer.stage("compute \(compute) is not attached here; the job runs on this machine")
            }
            if let workFolder = job.workFolder {
                if let code = job.code {
                    try workspace.materializeCode(of: live.record, code: code, into: workFolder)
                }
                for sub in ["outputs", "logs"] {
                    try FileManager.default.createDirectory(atPath: workFolder + "/" + sub, withIntermediateDirectories: true)
                }
            }
            for path in job.folders {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            }
            // Inputs: into the store (hashed once, unchanged data found by the stat cache), then handed over read-only.
            var records = live.record.inputs ?? []
            for input in job.inputs {
                let stored: StoredData
                switch input.source {
                case .path(let absolute, _):
                    observer.stage("storing input \(input.name) (\(workspace.relative(absolute)))")
                    do {
                        stored = try workspace.storeData(at: absolute, progress: { observer.storing($0) })
                    } catch let e as WorkspaceError {
                        throw StageError(reason: "input \(input.name): \(e.message)", detail: "")
                    }
                case .asset(let asset, _):
                    stored = StoredData(type: asset.type, sha256: asset.sha256, size: asset.size, files: asset.files)
                case .model(let model, _):
                    stored = StoredData(type: model.artifact.type, sha256: model.artifact.sha256, size: model.artifact.size,
                                        files: model.artifact.type == "uri_file" ? nil : model.artifact.files)
                }
                try workspace.materializeInput(stored, at: input.target)
                if let i = records.firstIndex(where: { $0.name == input.name }) {
                    records[i].sha256 = stored.sha256
                    records[i].size = stored.size
                    records[i].files = stored.files
                }
            }
            // Change times are taken once every input is in place: inputs sharing an object share
            // its inode, and handing over a later one touches the earlier one's change time.
            for input in job.inputs { linked.withLock { $0 += Self.changeTimes(input.target) } }
            live.update { $0.inputs = records.isEmpty ? nil : records }

            var variables = job.variables
            if let env = job.environment {
                let realized = try EnvironmentBuilder(workspace: workspace).realize(env.spec, line: { observer.buildOutput($0) }, isCanceled: isCanceled,
                    waiting: { observer.stage("waiting for another build of environment \(env.id.prefix(12))") },
                    starting: { observer.stage("building environment \(env.reference) (\(env.id.prefix(12)))") })
                live.update { $0.environment = RunRecord.Environment(id: realized.id, name: env.reference, lock: realized.lock, python: realized.python) }
                variables.merge(realized.variables(basePath: workspace.environment["PATH"])) { _, new in new }
            }
            return variables
        }
        launch.finish = {
            // A job that wrote to its read-only inputs (possible for root) damaged store objects: say so.
            for (path, ctime) in linked.withLock({ $0 }) where Self.changeTime(path) != ctime {
                return "the job changed its read-only input \(path.split(separator: "/").suffix(2).joined(separator: "/")); run git ml fsck"
            }
            return nil
        }
        defer {
            if let scratch = job.scratch {
                // Inputs are read-only folders; make them removable again.
                if FileManager.default.fileExists(atPath: scratch + "/inputs") { try? workspace.lockFolders(scratch + "/inputs", writable: true) }
                try? FileManager.default.removeItem(atPath: scratch)
            }
        }
        return try RunExecutor(workspace: workspace).execute(job.run, plan: launch, observer: observer)
    }

    static func changeTimes(_ root: String) -> [(String, Int64)] {
        var st = stat()
        guard lstat(root, &st) == 0 else { return [] }
        if st.st_mode & S_IFMT != S_IFDIR { return [(root, changeTime(root))] }
        return ((try? ObjectStore.walk(root)) ?? []).filter { !$0.isLink }.map { ($0.absolute, changeTime($0.absolute)) }
    }

    static func changeTime(_ path: String) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return -1 }
        return Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }

}
