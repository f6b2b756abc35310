import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Tracking

/// The tracking router in process (the same app `git ml serve` runs), over a real repository.
@Suite("the MLflow REST API: errors, limits and semantics")
struct TrackingTests {
    func repository() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gitml-trk-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "git init -q && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m first"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        try p.run()
        p.waitUntilExit()
        return dir
    }

    func body(_ object: [String: Any]) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
    }

    func object(_ buffer: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any]) ?? [:]
    }

    @Test("unknown ids, bad bodies and changed params get MLflow's error codes; the server goes on")
    func errors() async throws {
        let dir = try repository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try TrackingStore(directory: dir, environment: ["HOME": NSHomeDirectory(), "USER": "test"])
        let app = buildApplication(store: store, host: "127.0.0.1", port: 0)
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/2.0/mlflow/runs/get?run_id=01nosuchrun", method: .get) { r in
                #expect(r.status == .notFound)
                #expect(object(r.body)["error_code"] as? String == "RESOURCE_DOES_NOT_EXIST")
            }
            try await client.execute(uri: "/api/2.0/mlflow/experiments/get?experiment_id=42", method: .get) { r in
                #expect(r.status == .notFound)
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/create", method: .post, body: ByteBuffer(string: "not json")) { r in
                #expect(r.status == .badRequest)
                #expect(object(r.body)["error_code"] as? String == "INVALID_PARAMETER_VALUE")
            }
            try await client.execute(uri: "/api/2.0/mlflow/experiments/create", method: .post, body: try body(["name": 7.5])) { r in
                #expect(r.status == .badRequest)
                #expect((object(r.body)["message"] as? String)?.contains("'name'") == true)
            }
            // Over the 16 MB limit: refused with MLflow's code, and the next request is answered.
            let huge = ByteBuffer(bytes: [UInt8](repeating: 0x20, count: APIRequest.maxBody + 1))
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-batch", method: .post, body: huge) { r in
                #expect(r.status == .badRequest)
                #expect(object(r.body)["error_code"] as? String == "INVALID_PARAMETER_VALUE")
                #expect((object(r.body)["message"] as? String)?.contains("larger than") == true)
            }
            var runID = ""
            try await client.execute(uri: "/api/2.0/mlflow/runs/create", method: .post, body: try body(["experiment_id": "0", "run_name": "api"])) { r in
                #expect(r.status == .ok)
                runID = ((object(r.body)["run"] as? [String: Any])?["info"] as? [String: Any])?["run_id"] as? String ?? ""
            }
            #expect(runID.count == 26)
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-parameter", method: .post, body: try body(["run_id": runID, "key": "lr", "value": "0.1"])) { r in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-parameter", method: .post, body: try body(["run_id": runID, "key": "lr", "value": "0.2"])) { r in
                #expect(r.status == .badRequest)
                #expect((object(r.body)["message"] as? String)?.contains("Changing param values is not allowed") == true)
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-metric", method: .post,
                                     body: try body(["run_id": runID, "key": "loss", "value": "NaN", "timestamp": 1, "step": 0])) { r in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-metric", method: .post,
                                     body: try body(["run_id": runID, "key": "loss", "value": "high"])) { r in
                #expect(r.status == .badRequest)
            }
            let tooMany = (0..<1001).map { ["key": "m", "value": $0, "timestamp": 1, "step": $0] }
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-batch", method: .post, body: try body(["run_id": runID, "metrics": tooMany])) { r in
                #expect(r.status == .badRequest)
            }
            try await client.execute(uri: "/ajax-api/2.0/mlflow/metrics/get-history?run_id=\(runID)&metric_key=loss", method: .get) { r in
                let metrics = object(r.body)["metrics"] as? [[String: Any]]
                #expect(metrics?.count == 1)
                #expect(metrics?.first?["value"] as? String == "NaN", "NaN is returned as MLflow returns it")
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/update", method: .post, body: try body(["run_id": runID, "status": "FINISHED"])) { r in
                #expect((object(r.body)["run_info"] as? [String: Any])?["status"] as? String == "FINISHED")
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/log-metric", method: .post,
                                     body: try body(["run_id": runID, "key": "late", "value": 1, "timestamp": 1])) { r in
                #expect(r.status == .badRequest, "a finished run takes no more metrics")
            }
            try await client.execute(uri: "/api/2.0/mlflow/runs/get?run_id=\(runID)", method: .get) { r in
                let run = object(r.body)["run"] as? [String: Any]
                let params = (run?["data"] as? [String: Any])?["params"] as? [[String: Any]]
                #expect(params?.first?["value"] as? String == "0.1")
            }
        }
    }

    @Test("with a token, a request without it gets 401 and one with it is answered")
    func bearerToken() async throws {
        let dir = try repository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try TrackingStore(directory: dir, environment: ["HOME": NSHomeDirectory(), "USER": "test"])
        let app = buildApplication(store: store, host: "127.0.0.1", port: 0, token: "s3cret")
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/2.0/mlflow/experiments/search", method: .get) { r in
                #expect(r.status == .unauthorized)
                #expect(object(r.body)["error_code"] as? String == "UNAUTHENTICATED")
            }
            try await client.execute(uri: "/api/2.0/mlflow/experiments/search", method: .get, headers: [.authorization: "Bearer wrong"]) { r in
                #expect(r.status == .unauthorized)
            }
            try await client.execute(uri: "/api/2.0/mlflow/experiments/search", method: .get, headers: [.authorization: "Bearer s3cret"]) { r in
                #expect(r.status == .ok)
                #expect((object(r.body)["experiments"] as? [[String: Any]])?.first?["name"] as? String == "Default")
            }
        }
    }
}
