import Foundation
import Workspace

// The bodies (or queries) of the MLflow REST API's requests, named as MLflow's protobuf
// messages name their fields. Optional fields have MLflow's defaults where they are used.

// MARK: experiments

struct CreateExperimentRequest: Decodable {
    let name: String
    let tags: [KeyValue]?
}

struct ExperimentIDRequest: Decodable {
    let experiment_id: String
}

struct ExperimentByNameRequest: Decodable {
    let experiment_name: String
}

struct SearchExperimentsRequest: Decodable {
    let view_type: String?
    let max_results: IntegerField?
}

struct UpdateExperimentRequest: Decodable {
    let experiment_id: String
    let new_name: String
}

struct SetExperimentTagRequest: Decodable {
    let experiment_id: String
    let key: String
    let value: String
}

// MARK: runs

struct CreateRunRequest: Decodable {
    let experiment_id: String?
    let run_name: String?
    let start_time: IntegerField?
    let tags: [KeyValue]?
}

struct UpdateRunRequest: Decodable {
    let run: RunReference
    let status: String?
    let end_time: IntegerField?
    let run_name: String?
    enum CodingKeys: String, CodingKey { case status, end_time, run_name }
    init(from decoder: any Decoder) throws {
        run = try RunReference(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = try c.decodeIfPresent(String.self, forKey: .status)
        end_time = try c.decodeIfPresent(IntegerField.self, forKey: .end_time)
        run_name = try c.decodeIfPresent(String.self, forKey: .run_name)
    }
}

struct LogMetricRequest: Decodable {
    let run: RunReference
    let metric: MetricField
    init(from decoder: any Decoder) throws {
        run = try RunReference(from: decoder)
        metric = try MetricField(from: decoder)
    }
}

/// `log-parameter` and `set-tag`: a run, a key and a value.
struct KeyValueRunRequest: Decodable {
    let run: RunReference
    let key: String
    let value: String
    enum CodingKeys: String, CodingKey { case key, value }
    init(from decoder: any Decoder) throws {
        run = try RunReference(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.decode(String.self, forKey: .key)
        value = try c.decode(String.self, forKey: .value)
    }
}

struct DeleteTagRequest: Decodable {
    let run: RunReference
    let key: String
    enum CodingKeys: String, CodingKey { case key }
    init(from decoder: any Decoder) throws {
        run = try RunReference(from: decoder)
        key = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .key)
    }
}

struct LogBatchRequest: Decodable {
    let run: RunReference
    let metrics: [MetricField]
    let params: [String: String]
    let tags: [String: String]
    enum CodingKeys: String, CodingKey { case metrics, params, tags }
    init(from decoder: any Decoder) throws {
        run = try RunReference(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metrics = try c.decodeIfPresent([MetricField].self, forKey: .metrics) ?? []
        params = try c.decodeIfPresent([KeyValue].self, forKey: .params).dictionary
        tags = try c.decodeIfPresent([KeyValue].self, forKey: .tags).dictionary
    }
}

struct LogInputsRequest: Decodable {
    struct DatasetInput: Decodable {
        let raw: JSONValue
        let name: String
        let digest: String
        init(from decoder: any Decoder) throws {
            raw = try JSONValue(from: decoder)
            guard let name = raw["dataset"]?["name"]?.string, let digest = raw["dataset"]?["digest"]?.string else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "each needs dataset.name and dataset.digest"))
            }
            self.name = name
            self.digest = digest
        }
    }
    let run: RunReference
    let datasets: [DatasetInput]
    enum CodingKeys: String, CodingKey { case datasets }
    init(from decoder: any Decoder) throws {
        run = try RunReference(from: decoder)
        datasets = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([DatasetInput].self, forKey: .datasets) ?? []
    }
}

struct RunOutputsRequest: Decodable {
    struct ModelOutput: Decodable { let model_id: String }
    let run: RunReference
    let models: [ModelOutput]
    enum CodingKeys: String, CodingKey { case models }
    init(from decoder: any Decoder) throws {
        run = try RunReference(from: decoder)
        models = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([ModelOutput].self, forKey: .models) ?? []
    }
}

struct LogModelRequest: Decodable {
    let run: RunReference
    let model_json: String
    enum CodingKeys: String, CodingKey { case model_json }
    init(from decoder: any Decoder) throws {
        run = try RunReference(from: decoder)
        model_json = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .model_json)
    }
}

struct SearchRunsRequest: Decodable {
    let experiment_ids: [LenientString]?
    let filter: String?
    let run_view_type: String?
    let max_results: IntegerField?
    let order_by: [String]?
    let page_token: String?
}

// MARK: metrics and artifacts

struct MetricHistoryRequest: Decodable {
    let run: RunReference
    let metric_key: String
    enum CodingKeys: String, CodingKey { case metric_key }
    init(from decoder: any Decoder) throws {
        run = try RunReference(from: decoder)
        metric_key = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .metric_key)
    }
}

struct ListArtifactsRequest: Decodable {
    let run: RunReference
    let path: String?
    enum CodingKeys: String, CodingKey { case path }
    init(from decoder: any Decoder) throws {
        run = try RunReference(from: decoder)
        path = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .path)
    }
}

// MARK: logged models

struct CreateLoggedModelRequest: Decodable {
    let experiment_id: String?
    let name: String?
    let source_run_id: String?
    let model_type: String?
    let params: [KeyValue]?
    let tags: [KeyValue]?
}

struct SearchLoggedModelsRequest: Decodable {
    let experiment_ids: [String]?
    let max_results: IntegerField?
}

struct LoggedModelRequest: Decodable {
    let model_id: String
    let status: String?
    let tags: [KeyValue]?
    let params: [KeyValue]?
    let tag_key: String?
}
