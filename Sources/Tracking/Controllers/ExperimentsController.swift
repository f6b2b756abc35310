import Foundation
import Hummingbird
import Workspace

/// `experiments/*`: create, get (by id or name), search, rename, delete, restore, tag.
struct ExperimentsController<Store: TrackingBackend> {
    let store: Store

    func addRoutes<Context: RequestContext>(to api: APIRoutes<Context>) {
        let store = self.store
        api.on("experiments/create", [.post], CreateExperimentRequest.self) { r in
            ["experiment_id": try await store.createExperiment(name: r.name, tags: r.tags.dictionary)]
        }
        api.on("experiments/get", [.get, .post], ExperimentIDRequest.self) { r in
            ["experiment": encode(try await store.experiment(id: r.experiment_id))]
        }
        api.on("experiments/get-by-name", [.get, .post], ExperimentByNameRequest.self) { r in
            ["experiment": encode(try await store.experiment(name: r.experiment_name))]
        }
        api.on("experiments/search", [.get, .post], SearchExperimentsRequest.self) { r in
            let all = try await store.experiments(view: r.view_type ?? "ACTIVE_ONLY")
            return ["experiments": all.prefix(Int(r.max_results?.value ?? 1000)).map(encode)]
        }
        api.on("experiments/update", [.post], UpdateExperimentRequest.self) { r in
            let name = r.new_name
            try await store.updateExperiment(id: r.experiment_id) { $0.name = name }
            return [:]
        }
        api.on("experiments/delete", [.post], ExperimentIDRequest.self) { r in
            try await store.updateExperiment(id: r.experiment_id) { $0.lifecycleStage = "deleted" }
            return [:]
        }
        api.on("experiments/restore", [.post], ExperimentIDRequest.self) { r in
            try await store.updateExperiment(id: r.experiment_id) { $0.lifecycleStage = "active" }
            return [:]
        }
        api.on("experiments/set-experiment-tag", [.post], SetExperimentTagRequest.self) { r in
            let key = r.key, value = r.value
            try await store.updateExperiment(id: r.experiment_id) { $0.tags[key] = value }
            return [:]
        }
    }
}
