import Foundation
import Workspace

/// What `git ml run -f job.yml` was asked.
public struct JobRequest: Sendable {
    public var file: String
    public var overrides: [String] = []
    public var name: String?
    public var experiment: String?
    public var tags: [String: String] = [:]
    /// Sign the final record commit (`git ml run --sign`).
    public var sign = false
    public init(file: String) { self.file = file }
}

/// Binds a command job to a run: the paths its inputs and outputs get in the run's live
/// folder, its command rendered with them, its processes, the record it will write.
/// Nothing is read or written here; the compute target readies and runs the result.
public struct JobResolver {
    let workspace: Workspace

    public init(workspace: Workspace) { self.workspace = workspace }

    public func resolve(_ plan: JobPlan, request: JobRequest, id: String = RunID.make(at: Date())) throws -> ResolvedJob {
        let job = plan.job
        let folder = workspace.liveFolder(id)
        let codeDir = folder + "/code"

        // Every path the command can name is known before the run starts.
        var rendered = plan.literals
        var inputRecords: [RunRecord.Input] = []
        var inputs: [ResolvedJob.Input] = []
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
            case .model(let model, let reference):
                fileName = model.artifact.restoredFileName
                inputRecords.append(.init(name: name, type: type, path: reference, asset: "azureml:" + model.reference,
                                          sha256: model.artifact.sha256, size: model.artifact.size, files: model.artifact.files))
            }
            if type == "uri_file" { target += "/" + fileName }
            if case .model(let model, _) = source, model.artifact.type == "uri_file" { target += "/" + fileName }
            rendered[name] = target
            inputs.append(.init(name: name, source: source, target: target))
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
        run.sign = request.sign
        run.outputsFolder = codeDir + "/outputs"
        run.recordedWorkingDirectory = plan.code ?? ""
        run.collected = collected
        if processes.count > 1 {
            for i in processes.indices { run.logFiles["std_log_process_\(i).txt"] = processes[i].logPath }
        }

        var resolved = ResolvedJob(run: run)
        resolved.workFolder = codeDir
        resolved.code = plan.code
        resolved.inputs = inputs
        resolved.folders = outputPaths.values.sorted() + (processes.count > 1 ? [folder + "/user_logs"] : [])
        resolved.environment = plan.environment
        resolved.variables = job.environmentVariables
        resolved.processes = processes
        resolved.timeoutSeconds = job.timeoutSeconds
        resolved.scratch = folder
        return resolved
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
