import Foundation
import Hummingbird
import Workspace

/// `runs/*`: create, get, update, delete, restore, log metrics, params, tags, batches, inputs,
/// outputs and models, and search.
struct RunsController<Store: TrackingBackend> {
    let store: Store

    func addRoutes<Context: RequestContext>(to api: APIRoutes<Context>) {
        let store = self.store
        api.on("runs/create", [.post], CreateRunRequest.self) { r in
            for (k, v) in r.tags.dictionary {
                try MLflowNames.validate(k, kind: "tag")
                try MLflowNames.validateValue(v, kind: "tag", key: k, limit: MLflowNames.maxTagValueLength)
            }
            let run = try await store.createRun(experimentID: r.experiment_id ?? "0", name: r.run_name,
                                                startTime: r.start_time?.value, tags: r.tags.dictionary)
            return ["run": encode(run)]
        }
        api.on("runs/get", [.get, .post], RunReference.self) { r in
            ["run": encode(try await store.run(r.runID))]
        }
        api.on("runs/update", [.post], UpdateRunRequest.self) { r in
            let run = try await store.update(r.run.runID, status: r.status, endTime: r.end_time?.value, name: r.run_name)
            return ["run_info": encodeInfo(run)]
        }
        api.on("runs/delete", [.post], RunReference.self) { r in
            try await store.setLifecycle(r.runID, deleted: true)
            return [:]
        }
        api.on("runs/restore", [.post], RunReference.self) { r in
            try await store.setLifecycle(r.runID, deleted: false)
            return [:]
        }
        api.on("runs/log-metric", [.post], LogMetricRequest.self) { r in
            try MLflowNames.validate(r.metric.point.key, kind: "metric")
            // A point logged again (the client logs a model's metrics again with its id; a retry) is kept once.
            try await store.log(r.run.runID, metrics: [r.metric.point], params: [:], tags: [:])
            return [:]
        }
        api.on("runs/log-parameter", [.post], KeyValueRunRequest.self) { r in
            try MLflowNames.validate(r.key, kind: "param")
            try MLflowNames.validateValue(r.value, kind: "param", key: r.key, limit: MLflowNames.maxParamValueLength)
            try await store.log(r.run.runID, metrics: [], params: [r.key: r.value], tags: [:])
            return [:]
        }
        api.on("runs/set-tag", [.post], KeyValueRunRequest.self) { r in
            try MLflowNames.validate(r.key, kind: "tag")
            try MLflowNames.validateValue(r.value, kind: "tag", key: r.key, limit: MLflowNames.maxTagValueLength)
            try await store.log(r.run.runID, metrics: [], params: [:], tags: [r.key: r.value])
            return [:]
        }
        api.on("runs/delete-tag", [.post], DeleteTagRequest.self) { r in
            guard try await store.run(r.run.runID).tags[r.key] != nil else {
                throw MLflowError(.resourceDoesNotExist, "No tag with name: \(r.key) in run with id \(r.run.runID)")
            }
            try await store.log(r.run.runID, metrics: [], params: [:], tags: [r.key: nil])
            return [:]
        }
        api.on("runs/log-batch", [.post], LogBatchRequest.self) { r in
            let metrics = r.metrics.map(\.point)
            for m in metrics { try MLflowNames.validate(m.key, kind: "metric") }
            for (k, v) in r.params {
                try MLflowNames.validate(k, kind: "param")
                try MLflowNames.validateValue(v, kind: "param", key: k, limit: MLflowNames.maxParamValueLength)
            }
            for (k, v) in r.tags {
                try MLflowNames.validate(k, kind: "tag")
                try MLflowNames.validateValue(v, kind: "tag", key: k, limit: MLflowNames.maxTagValueLength)
            }
            if metrics.count > 1000 || r.params.count > 100 || r.tags.count > 100 || metrics.count + r.params.count + r.tags.count > 1000 {
                throw MLflowError(.invalidParameterValue,
                                  "A batch logging request can contain at most 1000 metrics, 100 params and 100 tags, 1000 in all")
            }
            try await store.log(r.run.runID, metrics: metrics, params: r.params, tags: r.tags.mapValues { Optional($0) })
            return [:]
        }
        api.on("runs/log-inputs", [.post], LogInputsRequest.self) { r in
            // Datasets are kept as run tags (mlflow.gitml.dataset.<name>.<digest>), shown back as dataset_inputs.
            var tags: [String: String?] = [:]
            for input in r.datasets {
                let data = try JSONSerialization.data(withJSONObject: input.raw.plain, options: [.sortedKeys])
                tags[datasetTagPrefix + input.name + "." + input.digest] = String(decoding: data, as: UTF8.self)
            }
            try await store.log(r.run.runID, metrics: [], params: [:], tags: tags)
            return [:]
        }
        api.on("runs/outputs", [.post], RunOutputsRequest.self) { r in
            // A model output is its logged model, which already names its run.
            for model in r.models {
                guard try await store.loggedModel(model.model_id).runID == r.run.runID else {
                    throw MLflowError(.invalidParameterValue, "Logged model \(model.model_id) belongs to another run")
                }
            }
            return [:]
        }
        api.on("runs/log-model", [.post], LogModelRequest.self) { r in
            // As MLflow does: the model's MLmodel JSON is appended to the mlflow.log-model.history tag.
            guard let object = try? JSONSerialization.jsonObject(with: Data(r.model_json.utf8)) else {
                throw MLflowError(.invalidParameterValue, "Invalid value for parameter 'model_json': not JSON")
            }
            let id = r.run.runID
            var history = (try await store.run(id).tags[logModelHistoryTag]).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [Any] } ?? []
            history.append(object)
            let data = try JSONSerialization.data(withJSONObject: history, options: [.sortedKeys])
            try await store.log(id, metrics: [], params: [:], tags: [logModelHistoryTag: String(decoding: data, as: UTF8.self)])
            return [:]
        }
        api.on("runs/search", [.post], SearchRunsRequest.self) { r in
            let max = Int(r.max_results?.value ?? 1000)
            guard (1...50000).contains(max) else {
                throw MLflowError(.invalidParameterValue, "Invalid value \(max) for parameter 'max_results': it must be at most 50000")
            }
            var offset = 0
            if let token = r.page_token, !token.isEmpty {
                guard let value = Int(token), value >= 0 else {
                    throw MLflowError(.invalidParameterValue, "Invalid page token '\(MLflowNames.escaped(token))': give the next_page_token of an earlier search")
                }
                offset = value
            }
            let (runs, next) = try await store.searchRuns(experimentIDs: (r.experiment_ids ?? []).map(\.value), view: r.run_view_type ?? "ACTIVE_ONLY",
                                                          filter: r.filter, orderBy: r.order_by ?? [], maxResults: max, offset: offset)
            var out: [String: Any] = [:]
            if !runs.isEmpty { out["runs"] = runs.map(encode) }
            if let next { out["next_page_token"] = String(next) }
            return out
        }
    }
}
