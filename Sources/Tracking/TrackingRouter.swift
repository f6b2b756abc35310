import Foundation
import Hummingbird
import Logging
import Workspace

/// The MLflow REST API (`/api/2.0/mlflow/...` and `/ajax-api/2.0/mlflow/...`)
/// answered from the git records. Tests build the same router.
///
/// With a `token`, every request must carry `Authorization: Bearer <token>` (what the
/// mlflow client sends from MLFLOW_TRACKING_TOKEN); others get 401 UNAUTHENTICATED.
public func buildRouter(store: TrackingStore, token: String? = nil) -> Router<BasicRequestContext> {
    let router = Router()
    if let token { router.add(middleware: BearerToken(token: token)) }
    router.get("/health") { _, _ in "OK" }
    for prefix in ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"] {
        let api = router.group(RouterPath(prefix))
        func route(_ path: String, _ methods: [HTTPRequest.Method], _ handler: @escaping @Sendable (Fields) async throws -> [String: Any]) {
            for method in methods {
                api.on(RouterPath(path), method: method) { request, context in
                    var fields = try await Fields.read(request, context: context)
                    for (k, v) in context.parameters { fields.values[String(k)] = String(v) }
                    return try json(try await handler(fields))
                }
            }
        }

        // Experiments
        route("experiments/create", [.post]) { f in
            ["experiment_id": try await store.createExperiment(name: try f.string("name"), tags: try f.keyValues("tags"))]
        }
        route("experiments/get", [.get, .post]) { f in
            ["experiment": encode(try await store.experiment(id: try f.string("experiment_id")))]
        }
        route("experiments/get-by-name", [.get, .post]) { f in
            ["experiment": encode(try await store.experiment(name: try f.string("experiment_name")))]
        }
        route("experiments/search", [.get, .post]) { f in
            let all = try await store.experiments(view: f.optionalString("view_type") ?? "ACTIVE_ONLY")
            let max = try f.optionalInt("max_results") ?? 1000
            return ["experiments": all.prefix(max).map(encode)]
        }
        route("experiments/update", [.post]) { f in
            let name = try f.string("new_name")
            try await store.updateExperiment(id: try f.string("experiment_id")) { $0.name = name }
            return [:]
        }
        route("experiments/delete", [.post]) { f in
            try await store.updateExperiment(id: try f.string("experiment_id")) { $0.lifecycleStage = "deleted" }
            return [:]
        }
        route("experiments/restore", [.post]) { f in
            try await store.updateExperiment(id: try f.string("experiment_id")) { $0.lifecycleStage = "active" }
            return [:]
        }
        route("experiments/set-experiment-tag", [.post]) { f in
            let key = try f.string("key"), value = try f.string("value")
            try await store.updateExperiment(id: try f.string("experiment_id")) { $0.tags[key] = value }
            return [:]
        }

        // Runs
        route("runs/create", [.post]) { f in
            let run = try await store.createRun(experimentID: f.optionalString("experiment_id") ?? "0", name: f.optionalString("run_name"),
                                                startTime: try f.optionalInt64("start_time"), tags: try f.keyValues("tags"))
            return ["run": encode(run)]
        }
        route("runs/get", [.get, .post]) { f in
            ["run": encode(try await store.run(try f.runID()))]
        }
        route("runs/update", [.post]) { f in
            let run = try await store.update(try f.runID(), status: f.optionalString("status"), endTime: try f.optionalInt64("end_time"),
                                             name: f.optionalString("run_name"))
            return ["run_info": encodeInfo(run)]
        }
        route("runs/delete", [.post]) { f in
            try await store.setLifecycle(try f.runID(), deleted: true)
            return [:]
        }
        route("runs/restore", [.post]) { f in
            try await store.setLifecycle(try f.runID(), deleted: false)
            return [:]
        }
        route("runs/log-metric", [.post]) { f in
            let point = try f.metric(f.values)
            if f.values["model_id"] != nil {
                try await store.logDeduplicated(try f.runID(), metrics: [point], params: [:], tags: [:])
            } else {
                try await store.log(try f.runID(), metrics: [point])
            }
            return [:]
        }
        route("runs/log-parameter", [.post]) { f in
            try await store.log(try f.runID(), params: [try f.string("key"): try f.string("value")])
            return [:]
        }
        route("runs/set-tag", [.post]) { f in
            try await store.log(try f.runID(), tags: [try f.string("key"): try f.string("value")])
            return [:]
        }
        route("runs/delete-tag", [.post]) { f in
            let id = try f.runID(), key = try f.string("key")
            guard try await store.run(id).tags[key] != nil else {
                throw MLflowError(.resourceDoesNotExist, "No tag with name: \(key) in run with id \(id)")
            }
            try await store.log(id, tags: [key: nil])
            return [:]
        }
        route("runs/log-batch", [.post]) { f in
            let metrics = try f.list("metrics").map { try f.metric($0) }
            let params = try f.keyValues("params"), tags = try f.keyValues("tags")
            if metrics.count > 1000 || params.count > 100 || tags.count > 100 || metrics.count + params.count + tags.count > 1000 {
                throw MLflowError(.invalidParameterValue,
                                  "A batch logging request can contain at most 1000 metrics, 100 params and 100 tags, 1000 in all")
            }
            if try f.list("metrics").contains(where: { ($0 as? [String: Any])?["model_id"] != nil }) {
                try await store.logDeduplicated(try f.runID(), metrics: metrics, params: params, tags: tags)
            } else {
                try await store.log(try f.runID(), metrics: metrics, params: params, tags: tags.mapValues { Optional($0) })
            }
            return [:]
        }
        route("runs/log-inputs", [.post]) { f in
            // Datasets are kept as run tags (mlflow.gitml.dataset.<name>.<digest>), shown back as dataset_inputs.
            var tags: [String: String?] = [:]
            for item in try f.list("datasets") {
                guard let input = item as? [String: Any], let dataset = input["dataset"] as? [String: Any],
                      let name = dataset["name"] as? String, let digest = dataset["digest"] as? String else {
                    throw MLflowError(.invalidParameterValue, "Invalid value for parameter 'datasets': each needs dataset.name and dataset.digest")
                }
                let data = try JSONSerialization.data(withJSONObject: input, options: [.sortedKeys])
                tags[datasetTagPrefix + name + "." + digest] = String(decoding: data, as: UTF8.self)
            }
            try await store.log(try f.runID(), tags: tags)
            return [:]
        }
        route("runs/outputs", [.post]) { f in
            // A model output is its logged model, which already names its run.
            let id = try f.runID()
            for item in try f.list("models") {
                guard let model = (item as? [String: Any])?["model_id"] as? String else {
                    throw MLflowError(.invalidParameterValue, "Invalid value for parameter 'models': each needs model_id")
                }
                guard try await store.loggedModel(model).runID == id else {
                    throw MLflowError(.invalidParameterValue, "Logged model \(model) belongs to another run")
                }
            }
            return [:]
        }
        route("runs/log-model", [.post]) { f in
            // As MLflow does: the model's MLmodel JSON is appended to the mlflow.log-model.history tag.
            let id = try f.runID(), model = try f.string("model_json")
            guard let object = try? JSONSerialization.jsonObject(with: Data(model.utf8)) else {
                throw MLflowError(.invalidParameterValue, "Invalid value for parameter 'model_json': not JSON")
            }
            var history = (try await store.run(id).tags[logModelHistoryTag]).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [Any] } ?? []
            history.append(object)
            let data = try JSONSerialization.data(withJSONObject: history, options: [.sortedKeys])
            try await store.log(id, tags: [logModelHistoryTag: String(decoding: data, as: UTF8.self)])
            return [:]
        }
        route("runs/search", [.post]) { f in
            let ids = try f.list("experiment_ids").map { v -> String in
                guard let s = v as? String ?? (v as? NSNumber)?.stringValue else {
                    throw MLflowError(.invalidParameterValue, "Invalid value for parameter 'experiment_ids': expected strings")
                }
                return s
            }
            let max = try f.optionalInt("max_results") ?? 1000
            guard (1...50000).contains(max) else {
                throw MLflowError(.invalidParameterValue, "Invalid value \(max) for parameter 'max_results': it must be at most 50000")
            }
            let offset = f.optionalString("page_token").flatMap { Int($0) } ?? 0
            let orderBy = try f.list("order_by").map { v -> String in
                guard let s = v as? String else { throw MLflowError(.invalidParameterValue, "Invalid value for parameter 'order_by': expected strings") }
                return s
            }
            let (runs, next) = try await store.searchRuns(experimentIDs: ids, view: f.optionalString("run_view_type") ?? "ACTIVE_ONLY",
                                                          filter: f.optionalString("filter"), orderBy: orderBy, maxResults: max, offset: offset)
            var out: [String: Any] = [:]
            if !runs.isEmpty { out["runs"] = runs.map(encode) }
            if let next { out["next_page_token"] = String(next) }
            return out
        }
        for method in [HTTPRequest.Method.get, .post] {
            // Written out by hand: a history can hold hundreds of thousands of points.
            api.on("metrics/get-history", method: method) { request, context in
                let f = try await Fields.read(request, context: context)
                let body = try await store.metricHistoryJSON(try f.runID(), key: try f.string("metric_key"))
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
            }
        }
        route("artifacts/list", [.get]) { f in
            let run = try await store.run(try f.runID())
            let folder = try artifactPath(f.optionalString("path") ?? "")
            let (_, entries) = try await store.listArtifacts("\(run.experimentID)/\(run.id)/artifacts/\(folder)")
            return ["root_uri": artifactURI(run), "files": entries.map(encodeArtifact)]
        }

        // Logged models (MLflow 3's log_model): files in the run's artifacts under the model's name.
        route("logged-models", [.post]) { f in
            let model = try await store.createLoggedModel(experimentID: f.optionalString("experiment_id") ?? "0", name: f.optionalString("name"),
                                                          runID: f.optionalString("source_run_id"), modelType: f.optionalString("model_type"),
                                                          params: try f.keyValues("params"), tags: try f.keyValues("tags"))
            return ["model": encode(model)]
        }
        route("logged-models/search", [.post, .get]) { f in
            let ids = try f.list("experiment_ids").compactMap { $0 as? String }
            let models = try await store.loggedModels(experimentIDs: ids)
            return ["models": models.prefix(try f.optionalInt("max_results") ?? 100).map(encode)]
        }
        route("logged-models/:model_id", [.get]) { f in
            ["model": encode(try await store.loggedModel(try f.string("model_id")))]
        }
        route("logged-models/:model_id", [.patch]) { f in
            let status = f.optionalString("status") ?? "LOGGED_MODEL_READY"
            return ["model": encode(try await store.updateLoggedModel(try f.string("model_id")) { $0.status = status })]
        }
        route("logged-models/:model_id", [.delete]) { f in
            let model = try await store.loggedModel(try f.string("model_id"))
            try await store.log(model.runID, tags: [LoggedModel.tagPrefix + model.id: nil])
            return [:]
        }
        route("logged-models/:model_id/tags", [.patch]) { f in
            let tags = try f.keyValues("tags")
            _ = try await store.updateLoggedModel(try f.string("model_id")) { $0.tags.merge(tags) { _, new in new } }
            return [:]
        }
        route("logged-models/:model_id/tags/:tag_key", [.delete]) { f in
            let key = try f.string("tag_key")
            _ = try await store.updateLoggedModel(try f.string("model_id")) { $0.tags[key] = nil }
            return [:]
        }
        route("logged-models/:model_id/params", [.post]) { f in
            let params = try f.keyValues("params")
            _ = try await store.updateLoggedModel(try f.string("model_id")) { $0.params.merge(params) { _, new in new } }
            return [:]
        }
    }

    // The artifact proxy: `mlflow-artifacts:/<experiment>/<run>/artifacts/...` URIs resolve here.
    let artifacts = router.group("/api/2.0/mlflow-artifacts/artifacts")
    artifacts.get { request, _ in
        let path = try artifactPath(request.uri.queryParameters["path"].map(String.init) ?? "")
        let (folder, entries) = try await store.listArtifacts(path)
        // Listed relative to the folder asked for; a file names itself.
        let files = entries.map { e -> [String: Any] in
            var out = encodeArtifact(e)
            out["path"] = e.path == folder ? String(folder.split(separator: "/").last ?? "") : String(e.path.dropFirst(folder.isEmpty ? 0 : folder.count + 1))
            return out
        }
        return try json(["files": files])
    }
    artifacts.get("**") { request, context in
        let (record, path, _) = try await store.artifactTarget(context.parameters.getCatchAll().joined(separator: "/"))
        let file = try await store.artifactFile(record, path: path)
        let body = try await FileIO().loadFile(path: file, context: context)
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
    }
    artifacts.put("**") { request, context in
        let (record, path, _) = try await store.artifactTarget(context.parameters.getCatchAll().joined(separator: "/"))
        let target = try await store.artifactUploadPath(record, path: path)
        // Written beside the target and renamed over it: a reader never sees half a file.
        let temporary = (target as NSString).deletingLastPathComponent + "/.gitml-upload-" + UUID().uuidString
        do {
            try await FileIO().writeFile(contents: request.body, path: temporary, context: context)
            guard rename(temporary, target) == 0 else {
                throw MLflowError(.internalError, "cannot store artifact \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(temporary)
            throw error
        }
        return try json([:])
    }
    return router
}

/// The request's fields: the JSON body of a POST, or the query of a GET.
struct Fields: Sendable {
    /// Decoded JSON values; Sendable as they are plain property-list values.
    nonisolated(unsafe) var values: [String: Any]
    static let maxBody = 16 << 20

    static func read(_ request: Request, context: BasicRequestContext) async throws -> Fields {
        var values: [String: Any] = [:]
        for (k, v) in request.uri.queryParameters { values[String(k)] = String(v) }
        if request.method == .post || request.method == .patch || request.method == .delete {
            let buffer: ByteBuffer
            do { buffer = try await request.body.collect(upTo: maxBody) } catch {
                throw MLflowError(.invalidParameterValue, "The request body is larger than \(maxBody) bytes")
            }
            if buffer.readableBytes > 0 {
                guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
                    throw MLflowError(.invalidParameterValue, "The request body is not a JSON object")
                }
                values.merge(object) { _, body in body }
            }
        }
        return Fields(values: values)
    }

    func optionalString(_ key: String) -> String? { values[key] as? String }

    func string(_ key: String) throws -> String {
        guard let value = values[key] else { throw MLflowError(.invalidParameterValue, "Missing value for required parameter '\(key)'") }
        guard let s = optionalString(key) else { throw MLflowError(.invalidParameterValue, "Invalid value \(value) for parameter '\(key)': expected a string") }
        return s
    }

    func runID() throws -> String {
        if let id = optionalString("run_id") ?? optionalString("run_uuid") { return id }
        throw MLflowError(.invalidParameterValue, "Missing value for required parameter 'run_id'")
    }

    func optionalInt64(_ key: String) throws -> Int64? {
        guard let value = values[key] else { return nil }
        if let n = value as? NSNumber { return n.int64Value }
        if let s = value as? String, let v = Int64(s) { return v }
        throw MLflowError(.invalidParameterValue, "Invalid value \(value) for parameter '\(key)': expected an integer")
    }

    func optionalInt(_ key: String) throws -> Int? { try optionalInt64(key).map { Int($0) } }

    func list(_ key: String) throws -> [Any] {
        guard let value = values[key] else { return [] }
        guard let list = value as? [Any] else { throw MLflowError(.invalidParameterValue, "Invalid value for parameter '\(key)': expected a list") }
        return list
    }

    /// A list of `{"key": ..., "value": ...}` objects.
    func keyValues(_ key: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for item in try list(key) {
            guard let o = item as? [String: Any], let k = o["key"] as? String else {
                throw MLflowError(.invalidParameterValue, "Invalid value for parameter '\(key)': expected objects with 'key' and 'value'")
            }
            out[k] = (o["value"] as? String) ?? (o["value"] as? NSNumber)?.stringValue ?? ""
        }
        return out
    }

    /// `{"key", "value", "timestamp", "step"}`; the value may be a number or NaN/Infinity as MLflow's client sends them.
    func metric(_ item: Any) throws -> MetricPoint {
        guard let o = item as? [String: Any], let key = o["key"] as? String, !key.isEmpty else {
            throw MLflowError(.invalidParameterValue, "Missing value for required parameter 'key'")
        }
        let value: Double
        switch o["value"] {
        case let n as NSNumber: value = n.doubleValue
        case let s as String where Double(s) != nil || ["NaN", "Infinity", "-Infinity"].contains(s):
            value = s == "NaN" ? .nan : s == "Infinity" ? .infinity : s == "-Infinity" ? -.infinity : Double(s)!
        default: throw MLflowError(.invalidParameterValue, "Invalid value \(o["value"] ?? "null") for parameter 'value' of metric '\(key)': expected a number")
        }
        let timestamp = (o["timestamp"] as? NSNumber)?.int64Value ?? Int64(Date().timeIntervalSince1970 * 1000)
        let step = (o["step"] as? NSNumber)?.intValue ?? 0
        return MetricPoint(key: key, value: value, step: step, timestamp: timestamp)
    }
}

func json(_ object: [String: Any]) throws -> Response {
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.encode(object))))
}

func encode(_ e: Experiment) -> [String: Any] {
    ["experiment_id": e.id, "name": e.name, "artifact_location": "gitml:/experiments/\(e.id)", "lifecycle_stage": e.lifecycleStage,
     "creation_time": e.creationTime, "last_update_time": e.lastUpdateTime,
     "tags": e.tags.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] }]
}

let datasetTagPrefix = "mlflow.gitml.dataset."
let logModelHistoryTag = "mlflow.log-model.history"

/// A run's artifacts as MLflow's artifact proxy names them; the client resolves it against
/// the tracking URI to `/api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts`.
func artifactURI(_ r: RunView) -> String { "mlflow-artifacts:/\(r.experimentID)/\(r.id)/artifacts" }

func artifactPath(_ given: String) throws -> String {
    guard let clean = Workspace.validArtifactPath(given) else {
        throw MLflowError(.invalidParameterValue, "Invalid artifact path '\(given)': '.' and '..' are not allowed")
    }
    return clean
}

func encodeArtifact(_ e: ArtifactEntry) -> [String: Any] {
    var out: [String: Any] = ["path": e.path, "is_dir": e.isDirectory]
    if let size = e.size { out["file_size"] = size }
    return out
}

func encode(_ m: LoggedModel) -> [String: Any] {
    var info: [String: Any] = ["model_id": m.id, "experiment_id": m.experimentID, "name": m.name, "source_run_id": m.runID,
                               "creation_timestamp_ms": m.creationTime, "last_updated_timestamp_ms": m.lastUpdateTime,
                               "artifact_uri": "mlflow-artifacts:/\(m.experimentID)/models/\(m.id)/artifacts", "status": m.status,
                               "tags": m.tags.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] }]
    if let type = m.modelType { info["model_type"] = type }
    return ["info": info, "data": ["params": m.params.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] }, "metrics": [Any]()]]
}

func encodeInfo(_ r: RunView) -> [String: Any] {
    var info: [String: Any] = ["run_id": r.id, "run_uuid": r.id, "run_name": r.name, "experiment_id": r.experimentID, "user_id": r.user,
                               "status": r.status, "start_time": r.startTime, "artifact_uri": artifactURI(r),
                               "lifecycle_stage": r.lifecycleStage]
    if let end = r.endTime { info["end_time"] = end }
    return info
}

/// MLflow sends and returns non-finite values as the strings NaN, Infinity and -Infinity.
func encodeValue(_ v: Double) -> Any {
    if v.isNaN { return "NaN" }
    if v.isInfinite { return v > 0 ? "Infinity" : "-Infinity" }
    return v
}

func encodeMetric(_ p: MetricPoint) -> [String: Any] {
    ["key": p.key, "value": encodeValue(p.value), "timestamp": p.timestamp, "step": p.step]
}

func encode(_ r: RunView) -> [String: Any] {
    // The latest value of each metric, as MLflow's run data shows.
    var latest: [String: MetricPoint] = [:]
    for p in r.metrics {
        if let old = latest[p.key], (old.step, old.timestamp) > (p.step, p.timestamp) { continue }
        latest[p.key] = p
    }
    var tags = r.tags
    tags["mlflow.runName"] = tags["mlflow.runName"] ?? r.name
    var datasets: [Any] = [], models: [Any] = []
    for (key, value) in tags.sorted(by: { $0.key < $1.key }) {
        if key.hasPrefix(datasetTagPrefix), let input = try? JSONSerialization.jsonObject(with: Data(value.utf8)) {
            datasets.append(input)
        } else if key.hasPrefix(LoggedModel.tagPrefix) {
            models.append(["model_id": String(key.dropFirst(LoggedModel.tagPrefix.count)), "step": 0])
        }
    }
    return ["info": encodeInfo(r),
            "data": ["metrics": latest.values.sorted { $0.key < $1.key }.map(encodeMetric),
                     "params": r.params.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] },
                     "tags": tags.filter { !$0.key.hasPrefix(datasetTagPrefix) && !$0.key.hasPrefix(LoggedModel.tagPrefix) }
                        .sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] }],
            "inputs": ["dataset_inputs": datasets],
            "outputs": ["model_outputs": models]]
}

/// The tracking server as a Hummingbird application on `host:port` (0: a free port,
/// reported to `onRunning`).
public func buildApplication(store: TrackingStore, host: String, port: Int, token: String? = nil, logger: Logger? = nil,
                             onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
    Application(router: buildRouter(store: store, token: token), configuration: .init(address: .hostname(host, port: port), serverName: "git-ml"),
                onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
}

/// Refuses requests without the server's bearer token.
struct BearerToken: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let given = request.headers[.authorization], given == "Bearer " + token else {
            return try MLflowError(.unauthenticated, "This server needs 'Authorization: Bearer <token>' (set MLFLOW_TRACKING_TOKEN)")
                .response(from: request, context: context)
        }
        return try await next(request, context)
    }
}

/// `{"metrics": [...]}` for get-history, written into bytes directly.
func encodeHistory(_ points: [MetricPoint]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(points.count * 72 + 16)
    out += Array("{\"metrics\":[".utf8)
    var lastKey = "", keyBytes: [UInt8] = []
    let timestampBytes = Array(",\"timestamp\":".utf8), valueBytes = Array(",\"value\":".utf8)
    func integer(_ v: Int64) {
        if v < 0 { out.append(0x2D) }
        var m = v.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat { d[n] = UInt8(0x30 + m % 10); m /= 10; n += 1 } while m > 0
            for k in stride(from: n - 1, through: 0, by: -1) { out.append(d[k]) }
        }
    }
    for (i, p) in points.enumerated() {
        if i > 0 { out.append(0x2C) }
        if p.key != lastKey || i == 0 {
            lastKey = p.key
            keyBytes = Array(("{\"key\":" + MetricsParser.jsonString(p.key) + ",\"step\":").utf8)
        }
        out += keyBytes
        integer(Int64(p.step))
        out += timestampBytes
        integer(p.timestamp)
        out += valueBytes
        if p.value.isFinite, p.value == p.value.rounded(), abs(p.value) < 1e15 {
            integer(Int64(p.value))
        } else {
            out += Array(MetricsParser.number(p.value).utf8)
        }
        out.append(0x7D)
    }
    out += Array("]}".utf8)
    return out
}
