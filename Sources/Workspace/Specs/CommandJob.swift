import Foundation

/// An Azure Machine Learning CLI v2 command job (`type: command`), as read from
/// its YAML file: the fields git-ml runs locally, checked key by key so that a
/// mistake names the file, the line, the key and what is accepted there.
public struct CommandJob: Sendable, Equatable {
    /// A literal input's value, rendered into the command as Azure renders it.
    public enum Literal: Sendable, Equatable {
        case string(String), integer(Int64), number(Double), boolean(Bool)

        public var rendered: String {
            switch self {
            case .string(let s): return s
            case .integer(let i): return String(i)
            case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
            case .boolean(let b): return b ? "True" : "False"
            }
        }
    }

    public enum Input: Sendable, Equatable {
        case literal(Literal)
        /// `uri_file`, `uri_folder`, `mlflow_model`, `custom_model`, or a typed literal with no value yet.
        case asset(type: String, path: String?, mode: String?, optional: Bool)
        case optional(type: String)
    }

    public struct Output: Sendable, Equatable {
        public var type: String
        public var mode: String?
    }

    public struct Distribution: Sendable, Equatable {
        public var type: String
        public var processCountPerInstance: Int?
        public var workerCount: Int?
    }

    public var file: String
    public var schema: String?
    public var name: String?
    public var displayName: String?
    public var experimentName: String?
    public var description: String?
    public var tags: [String: String] = [:]
    public var command: String
    public var commandLine: Int
    /// `code`, relative to the YAML file's folder (absolute paths kept).
    public var code: String?
    public var codeLine: Int = 0
    /// The environment as written: a name (`azureml:...`) or nil when given inline.
    public var environmentName: String?
    public var inlineEnvironment: SpecNode?
    public var environmentLine: Int = 0
    public var environmentVariables: [String: String] = [:]
    public var inputs: [String: Input] = [:]
    public var inputLines: [String: Int] = [:]
    public var outputs: [String: Output] = [:]
    public var compute: String?
    public var instanceCount: Int = 1
    public var distribution: Distribution?
    public var timeoutSeconds: Int?

    static let topKeys = ["$schema", "type", "name", "display_name", "experiment_name", "description", "tags", "command", "code",
                          "environment", "environment_variables", "inputs", "outputs", "compute", "resources", "distribution",
                          "limits", "services", "identity", "queue_settings", "properties", "is_deterministic"]
    static let assetTypes = ["uri_file", "uri_folder", "mlflow_model", "custom_model", "mltable", "triton_model"]
    static let literalTypes = ["string", "integer", "number", "boolean"]

    /// Reads a command job from YAML text (after `--set` overrides).
    public static func parse(_ root: SpecNode, file: String) throws -> CommandJob {
        let reader = SpecReader(file: file)
        guard case .mapping = root else { throw reader.fail(root.line, "a job file is a mapping of keys (type, command, code, ...)") }
        try reader.allowed(root, topKeys)

        let type = try reader.string(root["type"], "type") ?? "command"
        guard type == "command" else {
            throw reader.fail(root["type"]?.line ?? root.line, "type '\(type)' is not a command job; git ml run -f runs type: command")
        }
        guard let commandNode = root["command"], let command = try reader.string(commandNode, "command"), !command.isEmpty else {
            throw reader.fail(root.line, "missing 'command': the shell command the job runs")
        }
        var job = CommandJob(file: file, command: command, commandLine: commandNode.line)
        job.schema = try reader.string(root["$schema"], "$schema")
        job.name = try reader.string(root["name"], "name")
        job.displayName = try reader.string(root["display_name"], "display_name")
        job.experimentName = try reader.string(root["experiment_name"], "experiment_name")
        job.description = try reader.string(root["description"], "description")
        job.tags = try reader.stringMap(root["tags"], "tags")
        job.code = try reader.string(root["code"], "code")
        job.codeLine = root["code"]?.line ?? 0
        job.compute = try reader.string(root["compute"], "compute")
        job.environmentVariables = try reader.stringMap(root["environment_variables"], "environment_variables")
        if let env = root["environment"] {
            job.environmentLine = env.line
            switch env {
            case .scalar(let s, _, _): job.environmentName = s
            case .mapping: job.inlineEnvironment = env
            case .null: break
            default: throw reader.fail(env.line, "'environment' is a name (azureml:NAME@latest) or an inline environment")
            }
        }
        if let resources = root["resources"] {
            try reader.allowed(resources, ["instance_count", "instance_type", "properties", "shm_size", "docker_args"], in: "resources")
            job.instanceCount = try reader.int(resources["instance_count"], "resources.instance_count") ?? 1
        }
        if let d = root["distribution"] {
            try reader.allowed(d, ["type", "process_count_per_instance", "worker_count", "parameter_server_count"], in: "distribution")
            let t = try reader.string(d["type"], "distribution.type") ?? ""
            guard ["pytorch", "mpi", "tensorflow"].contains(t) else {
                throw reader.fail(d["type"]?.line ?? d.line, "distribution.type must be pytorch, mpi or tensorflow, not '\(t)'")
            }
            job.distribution = Distribution(type: t, processCountPerInstance: try reader.int(d["process_count_per_instance"], "distribution.process_count_per_instance"),
                                            workerCount: try reader.int(d["worker_count"], "distribution.worker_count"))
        }
        if let limits = root["limits"] {
            try reader.allowed(limits, ["timeout"], in: "limits")
            job.timeoutSeconds = try reader.int(limits["timeout"], "limits.timeout")
        }
        if case .mapping(let inputs, _)? = root["inputs"] {
            for e in inputs {
                job.inputLines[e.key] = e.line
                switch e.value {
                case .scalar(let s, let quoted, _):
                    job.inputs[e.key] = .literal(quoted ? .string(s) : Self.literal(s))
                case .null:
                    job.inputs[e.key] = .optional(type: "string")
                case .mapping:
                    try reader.allowed(e.value, ["type", "path", "mode", "default", "optional", "description", "value", "min", "max", "enum", "datastore"], in: "inputs.\(e.key)")
                    let t = try reader.string(e.value["type"], "inputs.\(e.key).type") ?? "uri_folder"
                    let optional = (try reader.string(e.value["optional"], "optional")).map { ["true", "True", "yes"].contains($0) } ?? false
                    if literalTypes.contains(t) {
                        if let v = try reader.string(e.value["value"], "value") ?? reader.string(e.value["default"], "default") {
                            job.inputs[e.key] = .literal(Self.typedLiteral(v, t))
                        } else {
                            job.inputs[e.key] = .optional(type: t)
                        }
                    } else if assetTypes.contains(t) {
                        let path = try reader.string(e.value["path"], "inputs.\(e.key).path")
                        if path == nil && !optional { throw reader.fail(e.line, "input '\(e.key)' of type \(t) needs a path") }
                        job.inputs[e.key] = .asset(type: t, path: path, mode: try reader.string(e.value["mode"], "mode"), optional: optional)
                    } else {
                        throw reader.fail(e.value["type"]?.line ?? e.line, "input '\(e.key)' has unknown type '\(t)'; accepted: \((literalTypes + assetTypes).joined(separator: ", "))")
                    }
                default:
                    throw reader.fail(e.line, "input '\(e.key)' must be a value or a mapping with type and path")
                }
            }
        }
        if case .mapping(let outputs, _)? = root["outputs"] {
            for e in outputs {
                switch e.value {
                case .null: job.outputs[e.key] = Output(type: "uri_folder", mode: nil)
                case .mapping(let m, _) where m.isEmpty: job.outputs[e.key] = Output(type: "uri_folder", mode: nil)
                case .mapping:
                    try reader.allowed(e.value, ["type", "mode", "path", "description", "name", "version"], in: "outputs.\(e.key)")
                    job.outputs[e.key] = Output(type: try reader.string(e.value["type"], "type") ?? "uri_folder", mode: try reader.string(e.value["mode"], "mode"))
                default:
                    throw reader.fail(e.line, "output '\(e.key)' must be empty or a mapping with type")
                }
            }
        }
        return job
    }

    static func literal(_ s: String) -> Literal {
        if let i = Int64(s) { return .integer(i) }
        if let d = Double(s), s.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .number(d) }
        if ["true", "True", "TRUE"].contains(s) { return .boolean(true) }
        if ["false", "False", "FALSE"].contains(s) { return .boolean(false) }
        return .string(s)
    }

    static func typedLiteral(_ s: String, _ type: String) -> Literal {
        switch type {
        case "integer": return Int64(s).map { .integer($0) } ?? .string(s)
        case "number": return Double(s).map { .number($0) } ?? .string(s)
        case "boolean": return .boolean(["true", "True", "TRUE", "yes"].contains(s))
        default: return .string(s)
        }
    }
}
