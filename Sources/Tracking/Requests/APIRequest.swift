import Foundation
import Hummingbird
import HummingbirdCore
import Workspace

/// Reads an API request into its `Decodable` type: the JSON body of a POST, PATCH or DELETE,
/// the query of a GET, and the route's path parameters, merged. A field that is missing or
/// of the wrong type becomes MLflow's INVALID_PARAMETER_VALUE naming the field.
enum APIRequest {
    /// The largest body read (a log-batch of 1,000 metrics is far below it).
    static let maxBody = 16 << 20

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, context: some RequestContext) async throws -> T {
        let query = formQuery(request.uri); var path: [String: String] = [:]
        for (k, v) in context.parameters { path[String(k)] = String(v) }
        var body = Data()
        if request.method == .post || request.method == .patch || request.method == .delete {
            let buffer: ByteBuffer
            do { buffer = try await request.body.collect(upTo: maxBody) } catch {
                throw MLflowError(.invalidParameterValue, "The request body is larger than \(maxBody) bytes")
            }
            body = Data(buffer.readableBytesView)
        }
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { body = Data("{}".utf8) }
        body = NonFiniteTokens.quote(body)
        if !query.isEmpty || !path.isEmpty {
            // Query values join the body's fields (the body wins); the route's own path values win over both.
            guard var object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw MLflowError(.invalidParameterValue, "The request body is not a JSON object")
            }
            for (k, v) in query where object[k] == nil { object[k] = v }
            for (k, v) in path { object[k] = v }
            body = try JSONSerialization.data(withJSONObject: object)
        }
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch let error as DecodingError {
            throw mlflowError(error)
        } catch let error as MLflowError {
            throw error
        } catch {
            throw MLflowError(.invalidParameterValue, "The request body is not a JSON object")
        }
    }

    /// MLflow's wording for a field that is missing or malformed.
    static func mlflowError(_ error: DecodingError) -> MLflowError {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce("") { out, key in
                if let i = key.intValue { return out + "[\(i)]" }
                return out.isEmpty ? key.stringValue : out + "." + key.stringValue
            }
        }
        switch error {
        case .keyNotFound(let key, let context):
            return MLflowError(.invalidParameterValue, "Missing value for required parameter '\(path(context.codingPath + [key]))'")
        case .valueNotFound(_, let context):
            return MLflowError(.invalidParameterValue, "Missing value for required parameter '\(path(context.codingPath))'")
        case .typeMismatch(let type, let context):
            return MLflowError(.invalidParameterValue, "Invalid value for parameter '\(path(context.codingPath))': expected \(describe(type))")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return MLflowError(.invalidParameterValue, "The request body is not a JSON object") }
            return MLflowError(.invalidParameterValue, "Invalid value for parameter '\(path(context.codingPath))': \(context.debugDescription)")
        @unknown default:
            return MLflowError(.invalidParameterValue, "The request body cannot be read")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int64.Type, is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is [Any].Type: return "a list"
        default:
            let name = "\(type)"
            return name.hasPrefix("Array") ? "a list" : name.hasPrefix("Dictionary") ? "an object" : "a value of type \(name)"
        }
    }
}

/// A URL's query as a form encodes it (`application/x-www-form-urlencoded`, as Python's
/// requests sends `params`): `+` is a space, `%XX` a byte. `my+dir` is `my dir`.
func formQuery(_ uri: URI) -> [String: String] {
    var out: [String: String] = [:]
    for pair in (uri.query ?? "").split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        func decode(_ s: Substring) -> String {
            let spaced = s.replacingOccurrences(of: "+", with: " ")
            return spaced.removingPercentEncoding ?? spaced
        }
        out[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
    }
    return out
}

// MARK: field types MLflow's clients send

/// An integer as MLflow's clients send one: a JSON number, or digits in a string
/// (protobuf's JSON for int64, and every query value).
struct IntegerField: Decodable, Sendable {
    let value: Int64
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int64.self) { value = n; return }
        if let s = try? c.decode(String.self), let n = Int64(s) { value = n; return }
        if let d = try? c.decode(Double.self), d == d.rounded(), abs(d) < 9.2e18 { value = Int64(d); return }
        throw DecodingError.typeMismatch(Int64.self, .init(codingPath: decoder.codingPath, debugDescription: "expected an integer"))
    }
}

/// A string that a client may also send as a number (tag and param values in key-value lists).
struct LenientString: Decodable, Sendable {
    let value: String
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { value = s; return }
        if let n = try? c.decode(Int64.self) { value = String(n); return }
        if let d = try? c.decode(Double.self) { value = "\(d)"; return }
        if c.decodeNil() { value = ""; return }
        throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath, debugDescription: "expected a string"))
    }
}

/// `{"key": ..., "value": ...}`, as params and tags are listed.
struct KeyValue: Decodable, Sendable {
    let key: String
    let value: String
    enum CodingKeys: String, CodingKey { case key, value }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.decode(String.self, forKey: .key)
        value = try c.decodeIfPresent(LenientString.self, forKey: .value)?.value ?? ""
    }
}

extension Optional where Wrapped == [KeyValue] {
    /// The pairs as a dictionary (a later key wins).
    var dictionary: [String: String] {
        var out: [String: String] = [:]
        for pair in self ?? [] { out[pair.key] = pair.value }
        return out
    }
}

/// A metric point as MLflow's client sends it: the value a number, or NaN/Infinity/-Infinity as strings.
struct MetricField: Decodable, Sendable {
    let point: MetricPoint
    /// Set when the point belongs to a logged model (MLflow 3 logs those twice; they are kept once).
    let modelID: String?
    enum CodingKeys: String, CodingKey { case key, value, timestamp, step, model_id }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let key = try c.decode(String.self, forKey: .key)
        guard !key.isEmpty else {
            throw DecodingError.keyNotFound(CodingKeys.key, .init(codingPath: c.codingPath, debugDescription: "empty metric key"))
        }
        let value: Double
        if let n = try? c.decode(Double.self, forKey: .value) {
            value = n
        } else if let s = try? c.decode(String.self, forKey: .value), let v = Self.special(s) {
            value = v
        } else {
            throw DecodingError.typeMismatch(Double.self, .init(codingPath: c.codingPath + [CodingKeys.value],
                                                                debugDescription: "expected a number for metric '\(key)'"))
        }
        let timestamp = try c.decodeIfPresent(IntegerField.self, forKey: .timestamp)?.value ?? Int64(Date().timeIntervalSince1970 * 1000)
        let step = Int(try c.decodeIfPresent(IntegerField.self, forKey: .step)?.value ?? 0)
        point = MetricPoint(key: key, value: value, step: step, timestamp: timestamp)
        modelID = try c.decodeIfPresent(String.self, forKey: .model_id)
    }

    static func special(_ s: String) -> Double? {
        switch s {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(s)
        }
    }
}

/// A run named by `run_id` or its older spelling `run_uuid`.
struct RunReference: Decodable, Sendable {
    let runID: String
    enum CodingKeys: String, CodingKey { case run_id, run_uuid }
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let id = try c.decodeIfPresent(String.self, forKey: .run_id) ?? c.decodeIfPresent(String.self, forKey: .run_uuid) else {
            throw DecodingError.keyNotFound(CodingKeys.run_id, .init(codingPath: c.codingPath, debugDescription: "no run id"))
        }
        runID = id
    }
}

/// Any JSON value, kept as it came (a dataset input is stored as the client sent it).
enum JSONValue: Decodable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    subscript(key: String) -> JSONValue? { if case .object(let o) = self { return o[key] }; return nil }
    var string: String? { if case .string(let s) = self { return s }; return nil }

    /// Plain Foundation values, for the response writer.
    var plain: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return b
        case .number(let n): return n
        case .string(let s): return s
        case .array(let a): return a.map(\.plain)
        case .object(let o): return o.mapValues(\.plain)
        }
    }
}
