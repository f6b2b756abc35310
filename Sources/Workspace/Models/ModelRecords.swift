import Foundation

/// A registered model version: the `model.json` at the top of a model version's record
/// commit (`refs/ml/models/<name>/<version>`). Its bytes are an object (a file) or a
/// manifest (a folder) in the store; its first record's parent is the producing run's
/// commit (or, for a model registered from a folder, the commit HEAD was at).
///
/// The version's identity (name, version, type, artifact, source) never changes; its
/// description, tags and stage may, each change a record commit chained to the last.
public struct ModelVersion: Codable, Sendable, Equatable {
    public static let schemaVersion = 1

    /// The model's bytes.
    public struct Artifact: Codable, Sendable, Equatable {
        /// `uri_folder` (a manifest) or `uri_file`.
        public var type: String
        /// The file's SHA-256 or the folder's manifest id.
        public var sha256: String
        public var size: Int64
        public var files: Int
        /// A file model's name (`model.pkl`), the name it is restored under.
        public var fileName: String?
        enum CodingKeys: String, CodingKey { case type, sha256, size, files, fileName = "file_name" }

        /// True when `file_name` is one plain name: records come from other clones, and a
        /// name such as `../../.bashrc` must never decide where bytes are written.
        public var hasSafeFileName: Bool {
            guard let n = fileName else { return true }
            return !n.isEmpty && n != "." && n != ".." && !n.contains("/") && !n.contains("\0")
        }

        /// The name a file model is restored under: its `file_name` when that is safe, else `model`.
        public var restoredFileName: String { hasSafeFileName ? fileName ?? "model" : "model" }
    }

    /// Where the bytes came from.
    public struct Source: Codable, Sendable, Equatable {
        /// `run` (a run's output), `folder` (a file or folder on disk).
        public var kind: String
        /// The producing run and the commit of its record the model was made from.
        public var run: String?
        public var runCommit: String?
        /// The run output (`outputs`, `artifacts/outputs`, a named output) and the path inside it.
        public var output: String?
        public var path: String?
        /// A folder or file as given (relative to the work tree when inside it).
        public var folder: String?
        /// The model file (`model.yml`) it was created from, when it was.
        public var file: String?
        /// The commit HEAD pointed at when the model was registered.
        public var commit: String?
        /// The MLflow logged model (`m-...`) it was registered from through the API.
        public var loggedModel: String?
        /// The source as an MLflow client named it (`models:/m-...`, `runs:/RUN/model`).
        public var uri: String?
        enum CodingKeys: String, CodingKey {
            case kind, run, runCommit = "run_commit", output, path, folder, file, commit, loggedModel = "logged_model", uri
        }
        public init(kind: String) { self.kind = kind }
    }

    /// What an MLflow model folder's `MLmodel` says.
    public struct MLflowModel: Codable, Sendable, Equatable {
        public var flavors: JSONAny?
        /// `inputs`, `outputs` and `params` as MLflow writes them (JSON text).
        public var signature: JSONAny?
        /// `saved_input_example_info`, and the example itself when it is small JSON.
        public var inputExampleInfo: JSONAny?
        public var inputExample: JSONAny?
        /// `requirements.txt`, one requirement a line.
        public var requirements: [String]?
        public var modelUUID: String?
        public var mlflowVersion: String?
        public var runID: String?
        public var created: String?
        enum CodingKeys: String, CodingKey {
            case flavors, signature, inputExampleInfo = "input_example_info", inputExample = "input_example"
            case requirements, modelUUID = "model_uuid", mlflowVersion = "mlflow_version", runID = "run_id"
            case created = "utc_time_created"
        }
    }

    public var schema: Int = ModelVersion.schemaVersion
    public var name: String
    public var version: String
    /// `custom_model`, `mlflow_model` or `triton_model` (Azure ML's model types).
    public var type: String
    public var description: String?
    public var tags: [String: String] = [:]
    public var properties: [String: String] = [:]
    public var artifact: Artifact
    public var source: Source
    public var mlflow: MLflowModel?
    /// MLflow's stage (`None`, `Staging`, `Production`, `Archived`); nil: `None`.
    public var stage: String?
    /// Set when the version was deleted through the MLflow API; its number is never reused.
    public var deleted: Bool?
    public var created: Date
    public var updated: Date?
    public var user: String
    public var host: String
    public var gitmlVersion: String

    enum CodingKeys: String, CodingKey {
        case schema, name, version, type, description, tags, properties, artifact, source, mlflow, stage, deleted
        case created, updated, user, host
        case gitmlVersion = "gitml_version"
    }

    /// `NAME:VERSION`.
    public var reference: String { "\(name):\(version)" }
    public var isDeleted: Bool { deleted == true }
}

/// A registered model's own record (`refs/ml/registered-models/<name>`, `registered-model.json`):
/// its description and tags, as MLflow's registry keeps them beside the versions.
public struct RegisteredModel: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    public var tags: [String: String] = [:]
    public var created: Date
    public var updated: Date
    public var deleted: Bool?
}

/// An alias of a model (`production`, `champion`): `refs/ml/model-aliases/<name>/<alias>`,
/// `alias.json`. Each change is a record commit chained to the last, so `git log` of the
/// ref (or `git ml model alias log`) shows who moved it, when, from which version to which.
public struct ModelAlias: Codable, Sendable, Equatable {
    public var name: String
    public var alias: String
    /// The version it points at; nil once removed.
    public var version: String?
    /// The model version's record commit it pointed at when set.
    public var commit: String?
    public var user: String
    public var time: Date
}

/// One change of an alias, newest first in `aliasHistory`.
public struct ModelAliasChange: Codable, Sendable, Equatable {
    public var version: String?
    public var user: String
    public var time: Date
    public var commit: String
}

/// Any JSON value: the parts of an MLflow `MLmodel` a record keeps as they are (flavors,
/// signature), read from YAML or JSON.
public indirect enum JSONAny: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONAny])
    case object([String: JSONAny])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONAny].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONAny].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            if n.isFinite, n == n.rounded(), abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// A YAML tree as JSON, plain scalars read as YAML's core schema reads them.
    init(_ node: SpecNode) {
        switch node {
        case .null: self = .null
        case .scalar(let s, let quoted, _):
            if quoted { self = .string(s); return }
            switch s {
            case "true", "True", "TRUE": self = .bool(true)
            case "false", "False", "FALSE": self = .bool(false)
            default:
                if let n = Double(s), s.first.map({ $0.isNumber || $0 == "-" || $0 == "." }) == true, !s.contains("_") {
                    // Version-like text (3.11.5) does not parse as a number and stays a string.
                    self = .number(n)
                } else { self = .string(s) }
            }
        case .sequence(let items, _): self = .array(items.map(JSONAny.init))
        case .mapping(let entries, _):
            var o: [String: JSONAny] = [:]
            for e in entries { o[e.key] = JSONAny(e.value) }
            self = .object(o)
        }
    }

    public subscript(key: String) -> JSONAny? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
