import Foundation
import Workspace
import Hummingbird

/// `metrics/get-history`: every point of one metric of a run, written out as bytes (a history
/// can hold hundreds of thousands of points).
struct MetricsController<Store: TrackingBackend> {
    let store: Store

    func addRoutes<Context: RequestContext>(to api: APIRoutes<Context>) {
        let store = self.store
        api.raw("metrics/get-history", [.get, .post], MetricHistoryRequest.self) { r in
            let body = try await store.metricHistoryJSON(r.run.runID, key: r.metric_key)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}
