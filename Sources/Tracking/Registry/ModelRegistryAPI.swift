import Foundation
import Hummingbird
import Workspace

/// MLflow's model registry REST API (`registered-models/*`, `model-versions/*`, aliases)
/// over the git records of `git ml model`, so `mlflow.register_model` and
/// `log_model(registered_model_name=...)` register here. A route group of its own,
/// mounted beside the tracking API by `git ml serve` and by every run's server.
public struct ModelRegistryAPI<Store: RegistryBackend>: RouteGroup {
    let store: Store
    public init(store: Store) { self.store = store }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        let api = APIRoutes(router)
        let store = self.store

        // MARK: registered models
        api.on("registered-models/create", [.post], RegisteredModelRequest.self) { r in
            let name = try r.requireName()
            return ["registered_model": encode(try await store.createRegisteredModel(name: name, description: r.description, tags: r.tags.dictionary))]
        }
        api.on("registered-models/get", [.get], RegisteredModelRequest.self) { r in
            ["registered_model": encode(try await store.registeredModel(try r.requireName()))]
        }
        api.on("registered-models/update", [.patch], RegisteredModelRequest.self) { r in
            let description = r.description
            return ["registered_model": encode(try await store.updateRegisteredModel(try r.requireName()) { m in
                if let description { m.description = description }
            })]
        }
        api.on("registered-models/rename", [.post], RegisteredModelRequest.self) { r in
            _ = try await store.registeredModel(try r.requireName())
            throw MLflowError(.invalidParameterValue, "git-ml keeps each model's versions under its name (refs/ml/models/<name>/), so a registered model is not renamed; register the versions under the new name")
        }
        api.on("registered-models/delete", [.delete], RegisteredModelRequest.self) { r in
            try await store.deleteRegisteredModel(try r.requireName())
            return [:]
        }
        api.on("registered-models/search", [.get, .post], SearchRegistryRequest.self) { r in
            let filter = try RegistryFilter.parse(r.filter ?? "", names: ["name"])
            let max = Int(r.max_results?.value ?? 100)
            guard (1...1000).contains(max) else {
                throw MLflowError(.invalidParameterValue, "Invalid value for max_results: it must be at most 1000, got \(max)")
            }
            var models = try await store.registeredModels().filter { filter.matches(["name": $0.model.name], tags: $0.model.tags) }
            let order = r.order_by?.values.first ?? "name ASC"
            let descending = order.uppercased().hasSuffix(" DESC")
            switch order.split(separator: " ").first.map(String.init) ?? "name" {
            case "name": models.sort { descending ? $0.model.name > $1.model.name : $0.model.name < $1.model.name }
            case "last_updated_timestamp", "timestamp":
                models.sort { descending ? $0.model.updated > $1.model.updated : $0.model.updated < $1.model.updated }
            case let key: throw MLflowError(.invalidParameterValue, "Invalid order_by key '\(key)': use name or last_updated_timestamp")
            }
            return try page(models.map(encode), key: "registered_models", size: max, token: r.page_token)
        }
        api.on("registered-models/get-latest-versions", [.post, .get], LatestVersionsRequest.self) { r in
            let model = try await store.registeredModel(try r.requireName())
            let stages = Set((r.stages?.values ?? []).map { canonicalStage($0) ?? $0 })
            return ["model_versions": model.latest.filter { stages.isEmpty || stages.contains($0.entry.model.stage ?? "None") }.map(encode)]
        }
        api.on("registered-models/set-tag", [.post], TagRequest.self) { r in
            let key = try r.requireKey(), value = r.value ?? ""
            _ = try await store.updateRegisteredModel(try r.requireName()) { $0.tags[key] = value }
            return [:]
        }
        api.on("registered-models/delete-tag", [.delete], TagRequest.self) { r in
            let key = try r.requireKey()
            _ = try await store.updateRegisteredModel(try r.requireName()) { $0.tags[key] = nil }
            return [:]
        }
        api.on("registered-models/alias", [.post], AliasRequest.self) { r in
            try await store.setAlias(name: try r.requireName(), alias: try r.requireAlias(), version: try r.requireVersion())
            return [:]
        }
        api.on("registered-models/alias", [.delete], AliasRequest.self) { r in
            try await store.deleteAlias(name: try r.requireName(), alias: try r.requireAlias())
            return [:]
        }
        api.on("registered-models/alias", [.get], AliasRequest.self) { r in
            ["model_version": encode(try await store.modelVersion(name: try r.requireName(), alias: try r.requireAlias()))]
        }

        // MARK: model versions
        api.on("model-versions/create", [.post], CreateModelVersionRequest.self) { r in
            guard let name = r.name, !name.isEmpty else { throw missing("name") }
            guard let source = r.source, !source.isEmpty else { throw missing("source") }
            let v = try await store.createModelVersion(name: name, source: source, runID: r.run_id, modelID: r.model_id,
                                                       description: r.description, tags: r.tags.dictionary)
            return ["model_version": encode(v)]
        }
        api.on("model-versions/get", [.get], VersionRequest.self) { r in
            ["model_version": encode(try await store.modelVersion(name: try r.requireName(), version: try r.requireVersion()))]
        }
        api.on("model-versions/update", [.patch], VersionRequest.self) { r in
            let description = r.description
            return ["model_version": encode(try await store.updateModelVersion(name: try r.requireName(), version: try r.requireVersion()) { m in
                if let description { m.description = description }
            })]
        }
        api.on("model-versions/transition-stage", [.post], VersionRequest.self) { r in
            guard let given = r.stage, let stage = canonicalStage(given) else {
                throw MLflowError(.invalidParameterValue, "Invalid Model Version stage: \(r.stage ?? ""). Value must be one of None, Staging, Production, Archived.")
            }
            let name = try r.requireName(), version = try r.requireVersion()
            if r.archive_existing_versions == true {
                guard stage == "Staging" || stage == "Production" else {
                    throw MLflowError(.invalidParameterValue, "Model version transition cannot archive existing model versions because '\(stage)' is not an Active stage. Valid stages are Staging and Production.")
                }
                for other in try await store.modelVersions(name: name)
                where other.entry.model.version != version && other.entry.model.stage == stage {
                    _ = try await store.updateModelVersion(name: name, version: other.entry.model.version) { $0.stage = "Archived" }
                }
            }
            return ["model_version": encode(try await store.updateModelVersion(name: name, version: version) { $0.stage = stage })]
        }
        api.on("model-versions/delete", [.delete], VersionRequest.self) { r in
            try await store.deleteModelVersion(name: try r.requireName(), version: try r.requireVersion())
            return [:]
        }
        api.on("model-versions/search", [.get, .post], SearchRegistryRequest.self) { r in
            let filter = try RegistryFilter.parse(r.filter ?? "", names: ["name", "run_id", "source_path", "version_number"])
            let max = Int(r.max_results?.value ?? 200_000)
            guard (1...200_000).contains(max) else {
                throw MLflowError(.invalidParameterValue, "Invalid value for max_results: it must be at most 200000, got \(max)")
            }
            let name = filter.equality("name")
            var versions = try await store.modelVersions(name: name).filter { v in
                let m = v.entry.model
                return filter.matches(["name": m.name, "run_id": m.source.run ?? "", "source_path": m.source.uri ?? "",
                                       "version_number": m.version], tags: m.tags)
            }
            // MLflow's default: last_updated_timestamp DESC, name ASC, version_number DESC; order_by keys first.
            let orders = try (r.order_by?.values ?? []).map { try VersionOrder($0) }
            versions.sort { a, b in
                for o in orders + [VersionOrder(key: "last_updated_timestamp", descending: true), VersionOrder(key: "name", descending: false),
                                   VersionOrder(key: "version_number", descending: true)] {
                    let c = o.compare(a.entry.model, b.entry.model)
                    if c != .orderedSame { return c == .orderedAscending }
                }
                return false
            }
            return try page(versions.map(encode), key: "model_versions", size: max, token: r.page_token)
        }
        api.on("model-versions/get-download-uri", [.get], VersionRequest.self) { r in
            ["artifact_uri": try await store.downloadURI(name: try r.requireName(), version: try r.requireVersion())]
        }
        api.on("model-versions/set-tag", [.post], TagRequest.self) { r in
            let key = try r.requireKey(), value = r.value ?? ""
            _ = try await store.updateModelVersion(name: try r.requireName(), version: try r.requireVersion()) { $0.tags[key] = value }
            return [:]
        }
        api.on("model-versions/delete-tag", [.delete], TagRequest.self) { r in
            let key = try r.requireKey()
            _ = try await store.updateModelVersion(name: try r.requireName(), version: try r.requireVersion()) { $0.tags[key] = nil }
            return [:]
        }
    }
}

/// One `order_by` clause of a model version search: `name`, `version_number`, `creation_timestamp`,
/// `last_updated_timestamp`, `current_stage`, `source`, `run_id`, then `ASC` or `DESC`.
struct VersionOrder {
    let key: String
    let descending: Bool

    init(key: String, descending: Bool) { self.key = key; self.descending = descending }

    init(_ text: String) throws {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        let keys = ["name", "version_number", "creation_timestamp", "last_updated_timestamp", "timestamp", "current_stage", "source", "run_id"]
        guard let first = parts.first, keys.contains(String(first)), parts.count <= 2,
              parts.count == 1 || ["ASC", "DESC"].contains(parts[1].uppercased()) else {
            throw MLflowError(.invalidParameterValue, "Invalid order_by clause '\(text)': use one of \(keys.joined(separator: ", ")), then ASC or DESC")
        }
        key = first == "timestamp" ? "last_updated_timestamp" : String(first)
        descending = parts.count == 2 && parts[1].uppercased() == "DESC"
    }

    /// Ascending comparison, turned over for DESC.
    func compare(_ a: ModelVersion, _ b: ModelVersion) -> ComparisonResult {
        func cmp<T: Comparable>(_ x: T, _ y: T) -> ComparisonResult { x < y ? .orderedAscending : x > y ? .orderedDescending : .orderedSame }
        let c: ComparisonResult
        switch key {
        case "name": c = cmp(a.name, b.name)
        case "version_number": c = cmp(Int(a.version) ?? 0, Int(b.version) ?? 0)
        case "creation_timestamp": c = cmp(a.created, b.created)
        case "last_updated_timestamp": c = cmp(a.updated ?? a.created, b.updated ?? b.created)
        case "current_stage": c = cmp(a.stage ?? "None", b.stage ?? "None")
        case "source": c = cmp(a.source.uri ?? "", b.source.uri ?? "")
        default: c = cmp(a.source.run ?? "", b.source.run ?? "")
        }
        guard descending else { return c }
        return c == .orderedAscending ? .orderedDescending : c == .orderedDescending ? .orderedAscending : .orderedSame
    }
}

/// MLflow's stage names, matched without regard to case.
func canonicalStage(_ given: String) -> String? {
    ["None", "Staging", "Production", "Archived"].first { $0.lowercased() == given.lowercased() }
}

func missing(_ field: String) -> MLflowError {
    MLflowError(.invalidParameterValue, "Missing value for required parameter '\(field)'. See the API docs for more information about request parameters.")
}

/// One page of a listing; the token is the offset of the next page.
func page(_ items: [[String: Any]], key: String, size: Int, token: String?) throws -> [String: Any] {
    var offset = 0
    if let token, !token.isEmpty {
        guard let data = Data(base64Encoded: token), let n = Int(String(decoding: data, as: UTF8.self)), n >= 0 else {
            throw MLflowError(.invalidParameterValue, "Invalid page token '\(token)'")
        }
        offset = n
    }
    let slice = items.dropFirst(offset).prefix(size)
    var out: [String: Any] = [key: Array(slice)]
    if offset + slice.count < items.count { out["next_page_token"] = Data(String(offset + slice.count).utf8).base64EncodedString() }
    return out
}

// MARK: JSON

func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

func encode(_ v: ModelVersionView) -> [String: Any] {
    let m = v.entry.model
    var out: [String: Any] = [
        "name": m.name, "version": m.version, "creation_timestamp": ms(m.created), "last_updated_timestamp": ms(m.updated ?? m.created),
        "current_stage": m.stage ?? "None", "status": "READY", "run_link": "",
        "source": m.source.uri ?? m.source.folder.map { "file://" + ($0.hasPrefix("/") ? $0 : v.workTree + "/" + $0) } ?? "",
        "tags": m.tags.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] },
        "aliases": v.entry.aliases, "user_id": m.user,
    ]
    if let d = m.description { out["description"] = d }
    if let run = m.source.run { out["run_id"] = run }
    if let id = m.source.loggedModel { out["model_id"] = id }
    return out
}

func encode(_ r: RegisteredModelView) -> [String: Any] {
    var out: [String: Any] = [
        "name": r.model.name, "creation_timestamp": ms(r.model.created), "last_updated_timestamp": ms(r.model.updated),
        "tags": r.model.tags.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] },
        "aliases": r.aliases.map { ["alias": $0.alias, "version": $0.version] },
        "latest_versions": r.latest.map(encode),
    ]
    if let d = r.model.description, !d.isEmpty { out["description"] = d }
    return out
}

// MARK: requests

/// A list sent as repeated query keys or a JSON array; one value alone is a list of one.
struct StringList: Decodable, Sendable {
    let values: [String]
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) { values = [one] } else { values = try c.decode([String].self) }
    }
}

protocol NamedRequest {
    var name: String? { get }
}

extension NamedRequest {
    func requireName() throws -> String {
        guard let name, !name.isEmpty else { throw missing("name") }
        return name
    }
}

struct RegisteredModelRequest: Decodable, Sendable, NamedRequest {
    let name: String?
    let description: String?
    let tags: [KeyValue]?
    let new_name: String?
}

struct LatestVersionsRequest: Decodable, Sendable, NamedRequest {
    let name: String?
    let stages: StringList?
}

struct SearchRegistryRequest: Decodable, Sendable {
    let filter: String?
    let max_results: IntegerField?
    let order_by: StringList?
    let page_token: String?
}

struct TagRequest: Decodable, Sendable, NamedRequest {
    let name: String?
    let version: LenientString?
    let key: String?
    let value: String?
    func requireKey() throws -> String {
        guard let key, !key.isEmpty else { throw missing("key") }
        return key
    }
    func requireVersion() throws -> String {
        guard let v = version?.value, !v.isEmpty else { throw missing("version") }
        return v
    }
}

struct AliasRequest: Decodable, Sendable, NamedRequest {
    let name: String?
    let alias: String?
    let version: LenientString?
    func requireAlias() throws -> String {
        guard let alias, !alias.isEmpty else { throw missing("alias") }
        return alias
    }
    func requireVersion() throws -> String {
        guard let v = version?.value, !v.isEmpty else { throw missing("version") }
        return v
    }
}

struct VersionRequest: Decodable, Sendable, NamedRequest {
    let name: String?
    let version: LenientString?
    let description: String?
    let stage: String?
    let archive_existing_versions: Bool?
    func requireVersion() throws -> String {
        guard let v = version?.value, !v.isEmpty else { throw missing("version") }
        return v
    }
}

struct CreateModelVersionRequest: Decodable, Sendable {
    let name: String?
    let source: String?
    let run_id: String?
    let model_id: String?
    let description: String?
    let tags: [KeyValue]?
    let run_link: String?
}

/// The registry's search filter: `name`, `run_id`, `source_path`, `version_number` and
/// `tags.<key>` (or ``tag.`key` ``) compared with `=`, `!=`, `LIKE`, `ILIKE` or `IN (...)`,
/// clauses joined by `AND`, as MLflow's registry reads them.
struct RegistryFilter {
    struct Clause { var column: String; var tag: Bool; var op: String; var values: [String] }
    var clauses: [Clause] = []

    static func parse(_ text: String, names: Set<String>) throws -> RegistryFilter {
        var filter = RegistryFilter()
        let chars = Array(text)
        var i = 0
        func fail(_ message: String) -> MLflowError { MLflowError(.invalidParameterValue, "Invalid filter '\(text)': \(message)") }
        func space() { while i < chars.count, chars[i].isWhitespace { i += 1 } }
        func word() -> String {
            var w = ""
            while i < chars.count, chars[i].isLetter || chars[i].isNumber || "_.".contains(chars[i]) { w.append(chars[i]); i += 1 }
            return w
        }
        func quoted() throws -> String {
            guard i < chars.count, "'\"`".contains(chars[i]) else { throw fail("expected a quoted value at column \(i + 1)") }
            let q = chars[i]; i += 1
            var s = ""
            while i < chars.count, chars[i] != q { s.append(chars[i]); i += 1 }
            guard i < chars.count else { throw fail("a quote is not closed") }
            i += 1
            return s
        }
        space()
        while i < chars.count {
            var column = word(), tag = false
            let lower = column.lowercased()
            if lower == "tags." || lower == "tag." || ((lower.hasPrefix("tags.") || lower.hasPrefix("tag.")) && column.count > 5) {
                tag = true
                column = String(column.drop { $0 != "." }.dropFirst())
                if column.isEmpty { column = try quoted() }
            } else if !names.contains(lower) {
                throw fail("unknown column '\(column)'; use \(names.sorted().joined(separator: ", ")) or tags.<key>")
            } else { column = lower }
            space()
            var op = ""
            if i < chars.count, "=!<>".contains(chars[i]) {
                while i < chars.count, "=!<>".contains(chars[i]) { op.append(chars[i]); i += 1 }
            } else {
                op = word().uppercased()
                if op == "NOT" { space(); op = "NOT " + word().uppercased() }
            }
            guard ["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"].contains(op) else { throw fail("unknown comparison '\(op)'") }
            space()
            var values: [String] = []
            if op.hasSuffix("IN") {
                guard i < chars.count, chars[i] == "(" else { throw fail("IN takes a list in parentheses") }
                i += 1
                repeat { space(); values.append(try quoted()); space() } while i < chars.count && chars[i] == "," && { i += 1; return true }()
                guard i < chars.count, chars[i] == ")" else { throw fail("a list is not closed") }
                i += 1
            } else {
                values = [try quoted()]
            }
            filter.clauses.append(Clause(column: column, tag: tag, op: op, values: values))
            space()
            if i < chars.count {
                guard word().uppercased() == "AND" else { throw fail("clauses are joined with AND") }
                space()
            }
        }
        return filter
    }

    /// The value a clause `column = 'x'` asks for, when there is one.
    func equality(_ column: String) -> String? {
        clauses.first { !$0.tag && $0.column == column && $0.op == "=" }?.values.first
    }

    func matches(_ attributes: [String: String], tags: [String: String]) -> Bool {
        clauses.allSatisfy { c in
            let value = c.tag ? tags[c.column] : attributes[c.column]
            switch c.op {
            case "=": return value == c.values[0]
            case "!=": return value != c.values[0]
            case "IN": return value.map(c.values.contains) ?? false
            case "NOT IN": return value.map { !c.values.contains($0) } ?? true
            case "LIKE": return value.map { Self.like($0, c.values[0], caseless: false) } ?? false
            default: return value.map { Self.like($0, c.values[0], caseless: true) } ?? false
            }
        }
    }

    /// SQL LIKE: `%` any run of characters, `_` one character.
    static func like(_ text: String, _ pattern: String, caseless: Bool) -> Bool {
        let t = Array(caseless ? text.lowercased() : text), p = Array(caseless ? pattern.lowercased() : pattern)
        var memo = [[Bool?]](repeating: [Bool?](repeating: nil, count: p.count + 1), count: t.count + 1)
        func go(_ i: Int, _ j: Int) -> Bool {
            if let m = memo[i][j] { return m }
            let r: Bool
            if j == p.count { r = i == t.count }
            else if p[j] == "%" { r = go(i, j + 1) || (i < t.count && go(i + 1, j)) }
            else { r = i < t.count && (p[j] == "_" || p[j] == t[i]) && go(i + 1, j + 1) }
            memo[i][j] = r
            return r
        }
        return go(0, 0)
    }
}
