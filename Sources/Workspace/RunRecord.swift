import Foundation

/// What a run is and what it did: the `run.json` at the top of a run commit's tree.
///
/// Written twice: once when the run starts (status `running`) and once when it
/// ends. The JSON keys are snake_case and documented in docs/formats.md.
public struct RunRecord: Codable, Sendable, Equatable {
    public static let schemaVersion = 1

    public enum Status: String, Codable, Sendable, CaseIterable {
        case queued, running, completed, failed, canceled
        case stoppedByPolicy = "stopped_by_policy"
        /// Derived, never written: the record says running but its git-ml process is gone.
        case lost
        public var isFinal: Bool { self != .running && self != .queued }
        /// MLflow's name for the status (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED), as the
        /// tracking API shows it and search filters compare it.
        public var mlflowName: String {
            switch self {
            case .running: return "RUNNING"
            case .queued: return "SCHEDULED"
            case .completed: return "FINISHED"
            case .failed, .lost: return "FAILED"
            case .canceled, .stoppedByPolicy: return "KILLED"
            }
        }
    }

    public struct Code: Codable, Sendable, Equatable {
        /// The commit HEAD pointed at when the run started.
        public var commit: String
        /// The tree the run saw: the commit's tree, or a snapshot of the dirty work tree.
        public var tree: String
        public var dirty: Bool
        public var branch: String?
        /// Paths that differed from `commit` (dirty runs only).
        public var changedPaths: [String]
        /// Untracked files with secret-looking names that the snapshot left out (names only).
        public var leftOut: [String]? = nil
        enum CodingKeys: String, CodingKey { case commit, tree, dirty, branch, changedPaths = "changed_paths", leftOut = "left_out" }
    }

    public struct MetricSummary: Codable, Sendable, Equatable {
        public var last: Double
        public var min: Double
        public var max: Double
        public var steps: Int
        public var lastStep: Int
        enum CodingKeys: String, CodingKey { case last, min, max, steps, lastStep = "last_step" }
    }

    public struct Output: Codable, Sendable, Equatable {
        /// `outputs` for the GITML_OUTPUTS folder, else the path given to `--output`.
        public var name: String
        /// Where it lies, relative to the checkout folder of `git ml checkout --outputs`.
        public var path: String
        /// `uri_folder` (stored as a manifest) or `uri_file`.
        public var type: String
        /// The manifest id (folders) or the file's SHA-256 (files).
        public var sha256: String
        public var size: Int64
        public var files: Int
    }

    public struct Resources: Codable, Sendable, Equatable {
        public var wallSeconds: Double
        public var cpuSeconds: Double
        public var peakMemoryBytes: Int64
        /// Time git-ml spent storing outputs, logs and the record after the command ended.
        public var recordSeconds: Double
        enum CodingKeys: String, CodingKey {
            case wallSeconds = "wall_seconds", cpuSeconds = "cpu_seconds", peakMemoryBytes = "peak_memory_bytes"
            case recordSeconds = "record_seconds"
        }
    }

    /// A job input: a literal value, or data hashed into the store.
    public struct Input: Codable, Sendable, Equatable {
        public var name: String
        /// `uri_file`, `uri_folder`, `mlflow_model`, `custom_model`, or a literal's type.
        public var type: String
        /// Literal inputs: the value as rendered into the command.
        public var value: String?
        /// Data inputs: the path as the job file gave it, or the asset (`azureml:NAME:VERSION`).
        public var path: String?
        public var asset: String?
        /// The file's SHA-256 or the folder's manifest id.
        public var sha256: String?
        public var size: Int64?
        public var files: Int?
        public init(name: String, type: String, value: String? = nil, path: String? = nil, asset: String? = nil,
                    sha256: String? = nil, size: Int64? = nil, files: Int? = nil) {
            self.name = name; self.type = type; self.value = value; self.path = path; self.asset = asset
            self.sha256 = sha256; self.size = size; self.files = files
        }
    }

    /// The environment a job ran in.
    public struct Environment: Codable, Sendable, Equatable {
        /// SHA-256 of the normalized spec and the files it names.
        public var id: String
        /// How the job named it (`azureml:AzureML-sklearn-1.5@latest`, `inline`, ...).
        public var name: String
        /// The `pip freeze` lock, an object in the store.
        public var lock: String?
        public var python: String?
        public init(id: String, name: String, lock: String? = nil, python: String? = nil) {
            self.id = id; self.name = name; self.lock = lock; self.python = python
        }
    }

    /// Where a job run came from: its file (relative to the work tree) and the `--set` overrides.
    public struct Job: Codable, Sendable, Equatable {
        public var file: String
        public var overrides: [String]
        /// The `code` folder, relative to the work tree's top; nil when the job gives none (it ran in an empty folder).
        public var code: String?
        public var processes: Int
        public var distribution: String?
        public var timeoutSeconds: Int?
        enum CodingKeys: String, CodingKey {
            case file, overrides, code, processes, distribution
            case timeoutSeconds = "timeout_seconds"
        }
        public init(file: String, overrides: [String], code: String?, processes: Int, distribution: String?, timeoutSeconds: Int?) {
            self.file = file; self.overrides = overrides; self.code = code; self.processes = processes
            self.distribution = distribution; self.timeoutSeconds = timeoutSeconds
        }
    }

    public var schema: Int = RunRecord.schemaVersion
    public var id: String
    public var name: String
    public var experiment: String
    public var kind: String = "command"
    public var parent: String?
    public var status: Status
    public var statusReason: String?
    public var exitCode: Int32?
    public var startTime: Date
    public var endTime: Date?
    public var user: String
    public var host: String
    public var pid: Int32
    public var command: [String]
    /// The folder the command ran in, relative to the work tree's top ("" for the top).
    public var workingDirectory: String
    public var code: Code
    public var params: [String: String]
    public var tags: [String: String]
    public var metrics: [String: MetricSummary]
    /// Lines of the metrics file that were skipped as malformed.
    public var metricsSkipped: Int
    public var outputs: [Output]
    public var resources: Resources?
    public var compute: String = "local"
    public var job: Job?
    public var inputs: [Input]?
    public var environment: Environment?
    /// `deleted` when the run was deleted through the tracking API (MLflow's lifecycle
    /// stage); absent for an active run. A deleted run is kept and can be restored.
    public var lifecycleStage: String?
    public var gitmlVersion: String
    /// A sweep's parent run: its search space, sampler, policy, trials and best trial.
    public var sweep: SweepSummary? = nil
    /// A sweep trial's number within its sweep (from 0).
    public var trialIndex: Int? = nil

    enum CodingKeys: String, CodingKey {
        case schema, id, name, experiment, kind, parent, status
        case statusReason = "status_reason", exitCode = "exit_code"
        case startTime = "start_time", endTime = "end_time"
        case user, host, pid, command
        case workingDirectory = "working_directory"
        case code, params, tags, metrics
        case metricsSkipped = "metrics_skipped"
        case outputs, resources, compute, job, inputs, environment
        case lifecycleStage = "lifecycle_stage"
        case gitmlVersion = "gitml_version"
        case sweep, trialIndex = "trial_index"
    }

    public var duration: TimeInterval? { endTime.map { $0.timeIntervalSince(startTime) } }

    // MARK: JSON

    public func encoded(pretty: Bool = true) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Timestamps.format(date))
        }
        return try e.encode(self)
    }

    public static func decode(_ data: Data) throws -> RunRecord {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = Timestamps.parse(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a timestamp: \(text)")
            }
            return date
        }
        return try d.decode(RunRecord.self, from: data)
    }
}

/// RFC 3339 timestamps in UTC with milliseconds: `2026-11-29T14:20:03.512Z`.
public enum Timestamps {
    public static func format(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var t = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(ms % 1000))
    }

    public static func parse(_ text: String) -> Date? {
        // yyyy-mm-ddThh:mm:ss(.fff)Z
        let u = Array(text.utf8)
        guard u.count >= 20, u.last == UInt8(ascii: "Z") else { return nil }
        func num(_ a: Int, _ b: Int) -> Int? {
            var v = 0
            for i in a..<b { guard (48...57).contains(u[i]) else { return nil }; v = v * 10 + Int(u[i] - 48) }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 7), let d = num(8, 10), let h = num(11, 13), let mi = num(14, 16), let s = num(17, 19)
        else { return nil }
        var ms = 0.0
        if u.count > 21, u[19] == UInt8(ascii: ".") , let f = num(20, u.count - 1) {
            ms = Double(f) / pow(10, Double(u.count - 21))
        }
        var parts = tm()
        parts.tm_year = Int32(y - 1900); parts.tm_mon = Int32(mo - 1); parts.tm_mday = Int32(d)
        parts.tm_hour = Int32(h); parts.tm_min = Int32(mi); parts.tm_sec = Int32(s)
        return Date(timeIntervalSince1970: Double(timegm(&parts)) + ms)
    }
}
