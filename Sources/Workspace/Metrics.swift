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
        var consumed = 0
        let bytes = pending
        bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress else { return }
            var start = 0
            // Lines are found with memchr and read in place; what is left is kept once at the end.
            while start < raw.count, let hit = memchr(base + start, 0x0A, raw.count - start) {
                let end = base.distance(to: UnsafeRawPointer(hit))
                let line = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                if let p = Self.fastPoint(line) {
                    stepCounters[p.key] = p.step + 1
                    points.append(p)
                    fresh.append(p)
                } else if let p = parse(Data(line)) {
                    fresh.append(p)
                }
                start = end + 1
            }
            consumed = start
        }
        pending.removeSubrange(pending.startIndex..<(pending.startIndex + consumed))
        return fresh
    }

    /// Adds points, params and tags known already (what a caller has just appended to the
    /// file itself), as if their lines had been read.
    public mutating func add(points new: [MetricPoint], params newParams: [String: String], tags newTags: [String: String?]) {
        for p in new {
            stepCounters[p.key] = p.step + 1
            points.append(p)
        }
        params.merge(newParams) { _, v in v }
        for (k, v) in newTags {
            if let v { tags[k] = v; deletedTags.remove(k) } else { tags[k] = nil; deletedTags.insert(k) }
        }
    }

    /// The line for a point, as `seriesFile` writes it (and the fast path reads it).
    public static func line(_ p: MetricPoint) -> String {
        "{\"key\":\(jsonString(p.key)),\"value\":\(number(p.value)),\"step\":\(p.step),\"timestamp\":\(p.timestamp)}\n"
    }

    /// Reads a line in the normalized form `line(_:)` writes without a JSON parser; nil
    /// for any other form (which the general parser then reads).
    static func fastPoint(_ line: UnsafeRawBufferPointer) -> MetricPoint? {
        var c = ByteCursor(bytes: line.bindMemory(to: UInt8.self))
        guard c.expect("{\"key\":\""), let key = c.plainString(), c.expect(",\"value\":") else { return nil }
        let value: Double
        if c.expect("\"NaN\"") { value = .nan }
        else if c.expect("\"Infinity\"") { value = .infinity }
        else if c.expect("\"-Infinity\"") { value = -.infinity }
        else {
            guard let v = c.number() else { return nil }
            value = v
        }
        guard c.expect(",\"step\":"), let step = c.integer(), c.expect(",\"timestamp\":"), let ts = c.integer(), c.expect("}"), c.atEndIgnoringSpace() else {
            return nil
        }
        return MetricPoint(key: key, value: value, step: Int(step), timestamp: ts)
    }

    static func fastPoint(_ line: Data) -> MetricPoint? {
        line.withUnsafeBytes { fastPoint($0) }
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
        for p in points { out += Self.line(p) }
        return Data(out.utf8)
    }

    public static func number(_ v: Double) -> String {
        if v.isNaN { return "\"NaN\"" }
        if v.isInfinite { return v > 0 ? "\"Infinity\"" : "\"-Infinity\"" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    public static func jsonString(_ s: String) -> String {
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C && $0 < 0x7F }) { return "\"" + s + "\"" }
        let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}

/// Reads a normalized metrics line in place (no boxing of the position, no copies).
struct ByteCursor {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    mutating func expect(_ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard i + n <= bytes.count, memcmp(bytes.baseAddress! + i, text.utf8Start, n) == 0 else { return false }
        i += n
        return true
    }

    /// A string with no escapes up to its closing quote.
    mutating func plainString() -> String? {
        let start = i
        while i < bytes.count, bytes[i] != 0x22 {
            if bytes[i] == 0x5C || bytes[i] < 0x20 { return nil }
            i += 1
        }
        guard i < bytes.count, i > start else { return nil }
        defer { i += 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    }

    mutating func number() -> Double? {
        let start = i
        while i < bytes.count, (bytes[i] >= 0x30 && bytes[i] <= 0x39) || bytes[i] == 0x2D || bytes[i] == 0x2B || bytes[i] == 0x2E || bytes[i] == 0x65 || bytes[i] == 0x45 {
            i += 1
        }
        guard i > start, i - start < 64 else { return nil }
        // strtod on a small terminated copy.
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: i - start + 1) { buffer -> Double? in
            for k in 0..<(i - start) { buffer[k] = CChar(bitPattern: bytes[start + k]) }
            buffer[i - start] = 0
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(buffer.baseAddress!, &end)
            return end == buffer.baseAddress! + (i - start) ? v : nil
        }
    }

    mutating func integer() -> Int64? {
        var negative = false
        if i < bytes.count, bytes[i] == 0x2D { negative = true; i += 1 }
        let start = i
        var v: Int64 = 0
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39, i - start < 18 {
            v = v * 10 + Int64(bytes[i] - 0x30)
            i += 1
        }
        guard i > start, i >= bytes.count || bytes[i] < 0x30 || bytes[i] > 0x39 else { return nil }
        return negative ? -v : v
    }

    mutating func atEndIgnoringSpace() -> Bool {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0D { i += 1 }
        return i == bytes.count
    }
}
