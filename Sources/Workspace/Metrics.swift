import Foundation

/// One value of a metric.
public struct MetricPoint: Sendable, Equatable {
    public var key: String
    public var value: Double
    public var step: Int
    /// Milliseconds since 1970, as MLflow keeps them.
    public var timestamp: Int64
    public init(key: String, value: Double, step: Int, timestamp: Int64) {
        self.key = key
        self.value = value
        self.step = step
        self.timestamp = timestamp
    }
}

/// Reads the JSON-lines metrics file a run appends to (`GITML_METRICS`).
///
/// Accepted lines: `{"key": "loss", "value": 0.3, "step": 1, "timestamp": 1700000000000}`
/// (step and timestamp optional), `{"param": "lr", "value": "0.1"}` and
/// `{"tag": "team", "value": "vision"}` (a null value removes the tag). Anything else (not JSON, NaN, a missing
/// key, a non-numeric value) is skipped and counted; the run goes on.
public struct MetricsParser: Sendable {
    public private(set) var points: [MetricPoint] = []
    public private(set) var params: [String: String] = [:]
    public private(set) var tags: [String: String] = [:]
    /// Tags removed by a `{"tag": k, "value": null}` line (MLflow's delete-tag).
    public private(set) var deletedTags: Set<String> = []
    public private(set) var skipped = 0
    var pending = Data()
    var stepCounters: [String: Int] = [:]

    public init() {}

    /// Feeds newly appended bytes; complete lines are parsed, a trailing partial
    /// line waits for the rest. Returns the metric points found in this feed.
    @discardableResult
    public mutating func feed(_ data: Data) -> [MetricPoint] {
        pending.append(data)
        var fresh: [MetricPoint] = []
        while let newline = pending.firstIndex(of: 0x0A) {
            let line = pending[pending.startIndex..<newline]
            pending = Data(pending[(newline + 1)...])
            if let p = parse(line) { fresh.append(p) }
        }
        return fresh
    }

    /// Parses what is left without a final newline (at the end of a run).
    @discardableResult
    public mutating func finish() -> [MetricPoint] {
        guard !pending.isEmpty else { return [] }
        let rest = pending
        pending = Data()
        return parse(rest).map { [$0] } ?? []
    }

    mutating func parse(_ line: Data) -> MetricPoint? {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { skipped += 1; return nil }
        // Non-finite values are accepted spelled as MLflow spells them ("NaN", "Infinity", "-Infinity").
        let spelled: Double? = switch object["value"] as? String { case "NaN": .nan; case "Infinity": .infinity; case "-Infinity": -.infinity; default: nil }
        if let key = object["key"] as? String, !key.isEmpty,
           let value = spelled ?? (object["value"] as? NSNumber).map(\.doubleValue).flatMap({ $0.isFinite ? $0 : nil }) {
            let step: Int
            if let s = object["step"] as? NSNumber { step = s.intValue } else { step = stepCounters[key, default: 0] }
            stepCounters[key] = step + 1
            let ts = (object["timestamp"] as? NSNumber)?.int64Value ?? Int64(Date().timeIntervalSince1970 * 1000)
            let point = MetricPoint(key: key, value: value, step: step, timestamp: ts)
            points.append(point)
            return point
        }
        if let key = object["param"] as? String, !key.isEmpty, let value = object["value"] {
            params[key] = Self.text(value)
            return nil
        }
        if let key = object["tag"] as? String, !key.isEmpty, let value = object["value"] {
            if value is NSNull {
                tags[key] = nil
                deletedTags.insert(key)
                return nil
            }
            deletedTags.remove(key)
            tags[key] = Self.text(value)
            return nil
        }
        skipped += 1
        return nil
    }

    static func text(_ value: Any) -> String {
        if let s = value as? String { return s }
        if let n = value as? NSNumber { return n.stringValue }
        return String(describing: value)
    }

    /// last / min / max / count per key.
    public var summary: [String: RunRecord.MetricSummary] {
        var out: [String: RunRecord.MetricSummary] = [:]
        for p in points {
            if var s = out[p.key] {
                s.last = p.value; s.min = Swift.min(s.min, p.value); s.max = Swift.max(s.max, p.value)
                s.steps += 1; s.lastStep = p.step
                out[p.key] = s
            } else {
                out[p.key] = .init(last: p.value, min: p.value, max: p.value, steps: 1, lastStep: p.step)
            }
        }
        return out
    }

    /// The series as stored in a run's tree (`metrics.jsonl`): one normalized line per point.
    public func seriesFile() -> Data {
        var out = ""
        for p in points {
            out += "{\"key\":\(Self.jsonString(p.key)),\"value\":\(Self.number(p.value)),\"step\":\(p.step),\"timestamp\":\(p.timestamp)}\n"
        }
        return Data(out.utf8)
    }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "\"NaN\"" }
        if v.isInfinite { return v > 0 ? "\"Infinity\"" : "\"-Infinity\"" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    static func jsonString(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}
