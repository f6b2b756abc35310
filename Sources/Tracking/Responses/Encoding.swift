import Foundation
import Hummingbird
import Workspace

// MLflow's JSON for experiments, runs, metrics, artifacts and logged models. Written as
// plain values for JSONWriter (Foundation's serializer took three quarters of a search's time).

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
