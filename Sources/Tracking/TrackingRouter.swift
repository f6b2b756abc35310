import Foundation
import Hummingbird
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
                    let fields = try await Fields.read(request, context: context)
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
        route("runs/log-metric", [.post]) { f in
            try await store.log(try f.runID(), metrics: [try f.metric(f.values)])
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
        route("runs/log-batch", [.post]) { f in
            let metrics = try f.list("metrics").map { try f.metric($0) }
            let params = try f.keyValues("params"), tags = try f.keyValues("tags")
            if metrics.count > 1000 || params.count > 100 || tags.count > 100 || metrics.count + params.count + tags.count > 1000 {
                throw MLflowError(.invalidParameterValue,
                                  "A batch logging request can contain at most 1000 metrics, 100 params and 100 tags, 1000 in all")
            }
            try await store.log(try f.runID(), metrics: metrics, params: params, tags: tags)
            return [:]
        }
        route("runs/search", [.post]) { f in
            let ids = try f.list("experiment_ids").map { v -> String in
                guard let s = v as? String ?? (v as? NSNumber)?.stringValue else {
                    throw MLflowError(.invalidParameterValue, "Invalid value for parameter 'experiment_ids': expected strings")
                }
                return s
            }
            let runs = try await store.searchRuns(experimentIDs: ids, maxResults: try f.optionalInt("max_results") ?? 1000)
            return runs.isEmpty ? [:] : ["runs": runs.map(encode)]
        }
        route("metrics/get-history", [.get, .post]) { f in
            let points = try await store.metricHistory(try f.runID(), key: try f.string("metric_key"))
            return ["metrics": points.map(encodeMetric)]
        }
    }
    return router
}

/// The request's fields: the JSON body of a POST, or the query of a GET.
struct Fields: Sendable {
    /// Decoded JSON values; Sendable as they are plain property-list values.
    nonisolated(unsafe) let values: [String: Any]
    static let maxBody = 16 << 20

    static func read(_ request: Request, context: BasicRequestContext) async throws -> Fields {
        var values: [String: Any] = [:]
        for (k, v) in request.uri.queryParameters { values[String(k)] = String(v) }
        if request.method == .post {
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
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

func encode(_ e: Experiment) -> [String: Any] {
    ["experiment_id": e.id, "name": e.name, "artifact_location": "gitml:/experiments/\(e.id)", "lifecycle_stage": e.lifecycleStage,
     "creation_time": e.creationTime, "last_update_time": e.lastUpdateTime,
     "tags": e.tags.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] }]
}

func encodeInfo(_ r: RunView) -> [String: Any] {
    var info: [String: Any] = ["run_id": r.id, "run_uuid": r.id, "run_name": r.name, "experiment_id": r.experimentID, "user_id": r.user,
                               "status": r.status, "start_time": r.startTime, "artifact_uri": "gitml:/runs/\(r.id)/artifacts",
                               "lifecycle_stage": "active"]
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
    return ["info": encodeInfo(r),
            "data": ["metrics": latest.values.sorted { $0.key < $1.key }.map(encodeMetric),
                     "params": r.params.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] },
                     "tags": tags.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] }],
            "inputs": [String: Any]()]
}

/// The tracking server as a Hummingbird application on `host:port` (0: a free port,
/// reported to `onRunning`).
public func buildApplication(store: TrackingStore, host: String, port: Int, token: String? = nil,
                             onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
    Application(router: buildRouter(store: store, token: token), configuration: .init(address: .hostname(host, port: port), serverName: "git-ml"),
                onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) })
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
