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

    @Test("the store's work runs on its own queue, not on Swift's cooperative pool")
    func storeRunsOnItsOwnQueue() async throws {
        let dir = try tracking.repository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try TrackingStore(directory: dir, environment: ["HOME": NSHomeDirectory(), "USER": "test"])
        #expect(await store.currentQueueLabel() == "git-ml.tracking-store")
        #expect(StoreExecutor.current == nil, "the test itself runs elsewhere")
        #expect(try await store.experiments(view: "ALL").map(\.name) == ["Default"])
    }

    @Test("git ml serve's application mounts several route groups on one router")
    func groupsSideBySide() async throws {
        let dir = try tracking.repository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try TrackingStore(directory: dir, environment: ["HOME": NSHomeDirectory(), "USER": "test"])
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
        let dir = try tracking.repository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try TrackingStore(directory: dir, environment: ["HOME": NSHomeDirectory(), "USER": "test"])
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
}
