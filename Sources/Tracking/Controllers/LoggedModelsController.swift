import Foundation
import Workspace
import Hummingbird

/// `logged-models/*` (MLflow 3's log_model): a model's files live in its run's artifacts under
/// the model's name; the model itself is a tag of the run.
struct LoggedModelsController<Store: TrackingBackend> {
    let store: Store

    func addRoutes<Context: RequestContext>(to api: APIRoutes<Context>) {
        let store = self.store
        api.on("logged-models", [.post], CreateLoggedModelRequest.self) { r in
            let model = try await store.createLoggedModel(experimentID: r.experiment_id ?? "0", name: r.name, runID: r.source_run_id,
                                                          modelType: r.model_type, params: r.params.dictionary, tags: r.tags.dictionary)
            return ["model": encode(model)]
        }
        api.on("logged-models/search", [.post, .get], SearchLoggedModelsRequest.self) { r in
            let models = try await store.loggedModels(experimentIDs: r.experiment_ids ?? [])
            return ["models": models.prefix(Int(r.max_results?.value ?? 100)).map(encode)]
        }
        api.on("logged-models/:model_id", [.get], LoggedModelRequest.self) { r in
            ["model": encode(try await store.loggedModel(r.model_id))]
        }
        api.on("logged-models/:model_id", [.patch], LoggedModelRequest.self) { r in
            let status = r.status ?? "LOGGED_MODEL_READY"
            return ["model": encode(try await store.updateLoggedModel(r.model_id) { $0.status = status })]
        }
        api.on("logged-models/:model_id", [.delete], LoggedModelRequest.self) { r in
            let model = try await store.loggedModel(r.model_id)
            try await store.log(model.runID, metrics: [], params: [:], tags: [LoggedModel.tagPrefix + model.id: nil])
            return [:]
        }
        api.on("logged-models/:model_id/tags", [.patch], LoggedModelRequest.self) { r in
            let tags = r.tags.dictionary
            _ = try await store.updateLoggedModel(r.model_id) { $0.tags.merge(tags) { _, new in new } }
            return [:]
        }
        api.on("logged-models/:model_id/tags/:tag_key", [.delete], LoggedModelRequest.self) { r in
            let key = r.tag_key ?? ""
            _ = try await store.updateLoggedModel(r.model_id) { $0.tags[key] = nil }
            return [:]
        }
        api.on("logged-models/:model_id/params", [.post], LoggedModelRequest.self) { r in
            let params = r.params.dictionary
            _ = try await store.updateLoggedModel(r.model_id) { $0.params.merge(params) { _, new in new } }
            return [:]
        }
    }
}
