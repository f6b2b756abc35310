import Dispatch
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Tracking

/// Runs on the store's own executor, as every store method does.
extension TrackingStore {
    func currentQueueLabel() -> String? { StoreExecutor.current }
}

/// A second API mounted beside the tracking API, as the registry and the object server will be.
struct EchoGroup: RouteGroup {
    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/echo/:word") { _, context in context.parameters.get("word") ?? "" }
    }
}

@Suite("the tracking API as route groups and controllers: typed requests, the store off the cooperative pool")
struct RouteGroupTests {
    let tracking = TrackingTests()

    /// A store over a fresh repository (the caller removes the folder).
    func makeStore() throws -> (TrackingStore, String) {
        let dir = try tracking.repository()
        return (try TrackingStore(directory: dir, environment: ["HOME": NSHomeDirectory(), "USER": "test"]), dir)
    }

    @Test("the store's work runs on its own queue, not on Swift's cooperative pool")
    func storeRunsOnItsOwnQueue() async throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(await store.currentQueueLabel() == "git-ml.tracking-store")
        #expect(StoreExecutor.current == nil, "the test itself runs elsewhere")
        #expect(try await store.experiments(view: "ALL").map(\.name) == ["Default"])
    }

    @Test("git ml serve's application mounts several route groups on one router")
    func groupsSideBySide() async throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let app = buildApplication(groups: [TrackingAPI(store: store), EchoGroup()], host: "127.0.0.1", port: 0, token: "t")
        try await app.test(.router) { client in
            try await client.execute(uri: "/echo/hello", method: .get, headers: [.authorization: "Bearer t"]) { r in
                #expect(r.status == .ok && String(buffer: r.body) == "hello")
            }
            try await client.execute(uri: "/echo/hello", method: .get) { r in
                #expect(r.status == .unauthorized, "the token guards every group")
            }
            try await client.execute(uri: "/api/2.0/mlflow/experiments/search", method: .get, headers: [.authorization: "Bearer t"]) { r in
                #expect(r.status == .ok)
            }
        }
    }

    @Sendable static func message(_ r: TestResponse) -> String {
        (try? JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any])?["message"] as? String ?? ""
    }

    @Test("a missing or mistyped field is MLflow's INVALID_PARAMETER_VALUE naming the field")
    func typedRequests() async throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let app = buildApplication(store: store, host: "127.0.0.1", port: 0)
        try await app.test(.router) { client in
            var runID = ""
            try await client.execute(uri: "/api/2.0/mlflow/runs/create", method: .post, body: try tracking.body(["experiment_id": "0", "start_time": "1700000000000"])) { r in
                #expect(r.status == .ok, "an int64 may come as a string, as protobuf's JSON writes it")
                runID = ((tracking.object(r.body)["run"] as? [String: Any])?["info"] as? [String: Any])?["run_id"] as? String ?? ""
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-metric", method: .post, body: try tracking.body(["key": "loss", "value": 1])) { r in
                #expect(r.status == .badRequest && Self.message(r) == "Missing value for required parameter 'run_id'", "\(Self.message(r))")
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-metric", method: .post,
                                     body: try tracking.body(["run_id": runID, "key": "loss", "value": 1, "step": "x"])) { r in
                #expect(r.status == .badRequest && Self.message(r).contains("'step'"), "\(Self.message(r))")
                #expect(tracking.object(r.body)["error_code"] as? String == "INVALID_PARAMETER_VALUE")
            }
            let batch: [String: Any] = ["run_id": runID, "metrics": [["key": "a", "value": 1, "timestamp": 1, "step": 0],
                                                                     ["key": "b", "value": "high", "timestamp": 1, "step": 0]]]
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-batch", method: .post, body: try tracking.body(batch)) { r in
                #expect(r.status == .badRequest && Self.message(r).contains("'metrics[1].value'"), "\(Self.message(r))")
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/search", method: .post, body: try tracking.body(["experiment_ids": [0], "max_results": "10"])) { r in
                #expect(r.status == .ok, "experiment ids as numbers, max_results as a string: \(Self.message(r))")
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/set-tag", method: .post, body: try tracking.body(["run_id": runID, "key": "k"])) { r in
                #expect(r.status == .badRequest && Self.message(r) == "Missing value for required parameter 'value'", "\(Self.message(r))")
            }
            // Nothing of the refused requests was recorded.
            try await client.execute(uri: "/api/2.0/mlflow/runs/get?run_id=\(runID)", method: .get) { r in
                let data = (tracking.object(r.body)["run"] as? [String: Any])?["data"] as? [String: Any]
                #expect((data?["metrics"] as? [Any] ?? []).isEmpty, "\(data ?? [:])")
            }
        }
    }

    @Test("wrong types, numbers beyond 64 bits, bad page tokens and keys MLflow refuses get 400; bare NaN tokens are read as MLflow reads them")
    func untrustedValues() async throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let app = buildApplication(store: store, host: "127.0.0.1", port: 0)
        try await app.test(.router) { client in
            var runID = ""
            try await client.execute(uri: "/api/2.0/mlflow/runs/create", method: .post, body: try tracking.body(["experiment_id": "0"])) { r in
                runID = ((tracking.object(r.body)["run"] as? [String: Any])?["info"] as? [String: Any])?["run_id"] as? String ?? ""
            }
            let refused: [(String, String, String)] = [
                ("runs/log-metric", #"{"run_id": "RUN", "key": "m", "value": 1, "timestamp": 1, "step": 100000000000000000000}"#, "'step'"),
                ("runs/log-metric", #"{"run_id": "RUN", "key": "m", "value": 1, "timestamp": 1e30, "step": 0}"#, "'timestamp'"),
                ("runs/log-metric", #"{"run_id": "RUN", "key": "m", "value": true, "timestamp": 1, "step": 0}"#, "'value'"),
                ("runs/log-metric", #"{"run_id": "RUN", "key": "a\u0000b", "value": 1, "timestamp": 1, "step": 0}"#, "Invalid metric name: 'a\\u{0}b'"),
                ("runs/log-metric", #"{"run_id": "RUN", "key": "\u001b]0;owned\u0007", "value": 1}"#, "Invalid metric name"),
                ("runs/log-parameter", #"{"run_id": "RUN", "key": "", "value": "1"}"#, "Names must not be empty"),
                ("runs/set-tag", #"{"run_id": "RUN", "key": "../../x", "value": "1"}"#, "Invalid tag name"),
                ("runs/search", #"{"experiment_ids": ["0"], "page_token": "garbage"}"#, "Invalid page token"),
            ]
            for (path, body, expected) in refused {
                try await client.execute(uri: "/api/2.0/mlflow/" + path, method: .post, body: ByteBuffer(string: body.replacingOccurrences(of: "RUN", with: runID))) { r in
                    #expect(r.status == .badRequest && Self.message(r).contains(expected), "\(body): \(Self.message(r))")
                }
            }
            // Python's json module writes bare NaN and Infinity; MLflow's server reads them, and so does this one.
            let bare = #"{"run_id": "RUN", "metrics": [{"key": "nan", "value": NaN, "timestamp": 1, "step": 0}, {"key": "inf", "value": -Infinity, "timestamp": 1, "step": 0}], "tags": [{"key": "note", "value": "NaN stays a string"}]}"#
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-batch", method: .post, body: ByteBuffer(string: bare.replacingOccurrences(of: "RUN", with: runID))) { r in
                #expect(r.status == .ok, "\(Self.message(r))")
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/get?run_id=\(runID)", method: .get) { r in
                let data = (tracking.object(r.body)["run"] as? [String: Any])?["data"] as? [String: Any]
                let metrics = (data?["metrics"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) { $0[$1["key"] as! String] = "\($1["value"]!)" }
                #expect(metrics == ["nan": "NaN", "inf": "-Infinity"], "\(metrics)")
                let tags = (data?["tags"] as? [[String: Any]] ?? []).first { $0["key"] as? String == "note" }
                #expect(tags?["value"] as? String == "NaN stays a string")
            }
        }
    }
}
