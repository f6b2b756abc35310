import Foundation
import ObjectStore
import Synchronization
import Workspace

/// What `git ml run -f job.yml` was asked.
public struct JobRequest: Sendable {
    public var file: String
    public var overrides: [String] = []
    public var name: String?
    public var experiment: String?
    public var tags: [String: String] = [:]
    public init(file: String) { self.file = file }
}

/// Reports specific to jobs, beside a run's.
public protocol JobObserver: RunObserver {
    /// A stage of readying the job began (hashing inputs, building the environment).
    func stage(_ message: String)
    /// A line of an environment build's output.
    func buildOutput(_ line: String)
}

/// Runs an Azure ML command job locally: in a writable copy of its code folder
/// taken from the run's code snapshot, with inputs hashed into the store and handed
/// over read-only, named outputs collected, `./outputs` and `./logs` kept as
/// artifacts, its environment built once, its processes started as the
/// distribution asks, and stopped at `limits.timeout`.
public struct JobRunner {
    let workspace: Workspace

    public init(workspace: Workspace) { self.workspace = workspace }

    public func execute(_ request: JobRequest, observer: JobObserver) throws -> RunRecord {
        let plan = try workspace.planJob(file: request.file, overrides: request.overrides)
        let job = plan.job
        let id = RunID.make(at: Date())
        let folder = workspace.liveFolder(id)
        let codeDir = folder + "/code"

        // Every path the command can name is known before the run starts.
        var rendered = plan.literals
        var inputRecords: [RunRecord.Input] = []
        var inputTargets: [(name: String, source: JobPlan.DataSource, path: String)] = []
        for name in job.inputs.keys.sorted() {
            if let value = plan.literals[name] {
                inputRecords.append(.init(name: name, type: Self.literalType(job.inputs[name]!), value: value))
            }
            guard let source = plan.dataInputs[name], case .asset(let type, _, _, _) = job.inputs[name]! else { continue }
            var target = folder + "/inputs/" + name
            let fileName: String
            switch source {
            case .path(let absolute, let given):
                fileName = String(absolute.split(separator: "/").last ?? "data")
                inputRecords.append(.init(name: name, type: type, path: given))
            case .asset(let asset, let reference):
                fileName = String(asset.path.split(separator: "/").last ?? Substring(asset.name))
                inputRecords.append(.init(name: name, type: type, path: asset.path, asset: reference,
                                          sha256: asset.sha256, size: asset.size, files: asset.files))
            }
            if type == "uri_file" { target += "/" + fileName }
            rendered[name] = target
            inputTargets.append((name, source, target))
        }
        var outputPaths: [String: String] = [:]
        var collected = [CollectedOutput(name: "artifacts/outputs", path: "artifacts/outputs", absolute: codeDir + "/outputs"),
                         CollectedOutput(name: "artifacts/logs", path: "artifacts/logs", absolute: codeDir + "/logs")]
        for name in job.outputs.keys.sorted() {
            let path = folder + "/named-outputs/" + name
            outputPaths[name] = path
            collected.append(CollectedOutput(name: name, path: "named-outputs/" + name, absolute: path))
        }
        let optional = Set(job.inputs.compactMap { name, input -> String? in
            switch input {
            case .optional: return name
            case .asset(_, nil, _, true): return name
            default: return nil
            }
        })
        let command = try JobExpressions.render(job.command, inputs: rendered, outputs: outputPaths, optional: optional,
                                                file: plan.file, line: job.commandLine)

        let processes = try Self.processes(for: job, logFolder: folder + "/user_logs")
        var run = RunRequest(command: ["/bin/sh", "-c", command], workingDirectory: codeDir)
        run.id = id
        run.name = request.name ?? job.displayName ?? job.name
        run.experiment = request.experiment ?? job.experimentName
        run.tags = job.tags.merging(request.tags) { _, new in new }
        run.params = plan.literals
        run.compute = job.compute ?? "local"
        run.inputs = inputRecords
        run.job = RunRecord.Job(file: plan.file, overrides: plan.overrides, code: plan.code, processes: processes.count,
                                distribution: job.distribution?.type, timeoutSeconds: job.timeoutSeconds)
        run.jobSpec = plan.specText
        run.outputsFolder = codeDir + "/outputs"
        run.recordedWorkingDirectory = plan.code ?? ""
        run.collected = collected
        if processes.count > 1 {
            for i in processes.indices { run.logFiles["std_log_process_\(i).txt"] = processes[i].logPath }
        }

        var launch = LaunchPlan()
        launch.processes = processes
        launch.timeoutSeconds = job.timeoutSeconds
        let linked = Mutex<[(path: String, ctime: Int64)]>([])
        let workspace = self.workspace
        let environmentSpec = plan.environment
        let jobVariables = job.environmentVariables
        launch.prepare = { live, isCanceled in
            if let compute = job.compute, compute != "local" {
                observer.stage("compute \(compute) is not attached here; the job runs on this machine")
            }
            if let code = plan.code {
                try workspace.materializeCode(of: live.record, code: code, into: codeDir)
            }
            for sub in ["outputs", "logs"] {
                try FileManager.default.createDirectory(atPath: codeDir + "/" + sub, withIntermediateDirectories: true)
            }
            for path in outputPaths.values where !path.isEmpty {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            }
            if processes.count > 1 {
                try FileManager.default.createDirectory(atPath: folder + "/user_logs", withIntermediateDirectories: true)
            }
            // Inputs: into the store (hashed once, unchanged data found by the stat cache), then handed over read-only.
            var records = live.record.inputs ?? []
            for (name, source, target) in inputTargets {
                let stored: StoredData
                switch source {
                case .path(let absolute, _):
                    observer.stage("storing input \(name) (\(workspace.relative(absolute)))")
                    do {
                        stored = try workspace.storeData(at: absolute, progress: { observer.storing($0) })
                    } catch let e as WorkspaceError {
                        throw StageError(reason: "input \(name): \(e.message)", detail: "")
                    }
                case .asset(let asset, _):
                    stored = StoredData(type: asset.type, sha256: asset.sha256, size: asset.size, files: asset.files)
                }
                try workspace.materializeInput(stored, at: target)
                if let i = records.firstIndex(where: { $0.name == name }) {
                    records[i].sha256 = stored.sha256
                    records[i].size = stored.size
                    records[i].files = stored.files
                }
                linked.withLock { $0 += Self.changeTimes(target) }
            }
            live.update { $0.inputs = records.isEmpty ? nil : records }

            var variables = jobVariables
            if let env = environmentSpec {
                for w in env.spec.warnings { observer.stage("environment \(env.reference): \(w)") }
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
            // Inputs are read-only folders; make them removable again.
            if FileManager.default.fileExists(atPath: folder + "/inputs") { try? workspace.lockFolders(folder + "/inputs", writable: true) }
            try? FileManager.default.removeItem(atPath: folder)
        }
        return try RunExecutor(workspace: workspace).execute(run, plan: launch, observer: observer)
    }

    static func literalType(_ input: CommandJob.Input) -> String {
        guard case .literal(let l) = input else { return "string" }
        switch l {
        case .string: return "string"
        case .integer: return "integer"
        case .number: return "number"
        case .boolean: return "boolean"
        }
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

    /// One process per rank of the job's distribution, with the variables its framework reads.
    static func processes(for job: CommandJob, logFolder: String) throws -> [LaunchPlan.Process] {
        guard let d = job.distribution else { return [LaunchPlan.Process()] }
        let nodes = max(1, job.instanceCount)
        func log(_ i: Int) -> String { logFolder + "/std_log_process_\(i).txt" }
        switch d.type {
        case "tensorflow":
            let workers = d.workerCount ?? nodes
            let ports = try freePorts(workers)
            let cluster = ports.map { "\"127.0.0.1:\($0)\"" }.joined(separator: ",")
            return (0..<workers).map { i in
                LaunchPlan.Process(environment: ["TF_CONFIG": "{\"cluster\":{\"worker\":[\(cluster)]},\"task\":{\"type\":\"worker\",\"index\":\(i)}}",
                                                 "RANK": String(i), "WORLD_SIZE": String(workers)], logPath: log(i))
            }
        default:
            let perNode = max(1, d.processCountPerInstance ?? 1)
            let world = perNode * nodes
            let port = try freePorts(1)[0]
            return (0..<world).map { i in
                var env = ["RANK": String(i), "LOCAL_RANK": String(i % perNode), "NODE_RANK": String(i / perNode),
                           "GROUP_RANK": String(i / perNode), "WORLD_SIZE": String(world), "LOCAL_WORLD_SIZE": String(perNode),
                           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": String(port)]
                if d.type == "mpi" {
                    env["OMPI_COMM_WORLD_RANK"] = String(i)
                    env["OMPI_COMM_WORLD_SIZE"] = String(world)
                    env["OMPI_COMM_WORLD_LOCAL_RANK"] = String(i % perNode)
                    env["OMPI_COMM_WORLD_LOCAL_SIZE"] = String(perNode)
                    env["OMPI_COMM_WORLD_NODE_RANK"] = String(i / perNode)
                }
                return LaunchPlan.Process(environment: env, logPath: log(i))
            }
        }
    }

    /// Ports free on 127.0.0.1 now (the kernel's choice of an ephemeral port).
    static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw StageError(reason: "cannot open a socket for the job's rendezvous port", detail: "") }
            sockets.append(fd)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = 0
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
            }
            guard ok else { throw StageError(reason: "cannot find a free port for the job's rendezvous", detail: "") }
            ports.append(Int(UInt16(bigEndian: addr.sin_port)))
        }
        return ports
    }
}
