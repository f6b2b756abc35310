import Foundation

/// A kind of record the ledger keeps under `refs/ml/*`: where its refs live, the JSON
/// document every record commit's tree holds, and whether its records chain their history.
///
/// A record is a commit on `<refPrefix><key>`; a key may hold slashes
/// (`<name>/<version>` for versioned kinds). Adding a kind is declaring one of these
/// and writing its document type; reading, listing, history and versions come from
/// the `Ledger`.
struct RecordKind: Sendable, Hashable, CustomStringConvertible {
    /// The kind's name in messages: `run`, `experiment`.
    let name: String
    /// Every record of the kind has a ref under this prefix (ending in `/`).
    let refPrefix: String
    /// The document at the top of each record's tree (`run.json`).
    let document: String
    /// True when each new record commit has the previous one as its last parent, so
    /// `Ledger.history` walks every state the record went through (experiments,
    /// environments). Runs do not chain: a checkpoint every few seconds would make
    /// long chains, and their first parent is the code commit.
    let chainsHistory: Bool

    init(name: String, refPrefix: String, document: String, chainsHistory: Bool) {
        precondition(refPrefix.hasPrefix("refs/ml/") && refPrefix.hasSuffix("/"), "a record kind lives under refs/ml/")
        self.name = name
        self.refPrefix = refPrefix
        self.document = document
        self.chainsHistory = chainsHistory
    }

    var description: String { name }

    /// The ref of the record with this key.
    func ref(_ key: String) -> String { refPrefix + key }
}

extension RecordKind {
    /// `refs/ml/runs/<run-id>`: `run.json`, the metric series, logs, output manifests and
    /// the code tree; first parent: the code commit.
    static let run = RecordKind(name: "run", refPrefix: "refs/ml/runs/", document: "run.json", chainsHistory: false)
    /// `refs/ml/experiments/<id>`: experiments created, renamed, tagged or deleted through the API.
    static let experiment = RecordKind(name: "experiment", refPrefix: "refs/ml/experiments/", document: "experiment.json", chainsHistory: true)
    /// `refs/ml/envs/<env-id>`: an environment spec and, once built, its lock; and
    /// `refs/ml/envs/<name>/<version>`, a registered name pointing at the same commit.
    static let environment = RecordKind(name: "environment", refPrefix: "refs/ml/envs/", document: "environment.json", chainsHistory: true)
    /// `refs/ml/data/<name>/<version>`: a data asset version (immutable).
    static let dataAsset = RecordKind(name: "data asset", refPrefix: "refs/ml/data/", document: "asset.json", chainsHistory: false)
    /// `refs/ml/models/<name>/<version>`: a model version; its first record's parent is the
    /// producing run's commit; later records (tags, description, stage) chain to it.
    static let modelVersion = RecordKind(name: "model version", refPrefix: "refs/ml/models/", document: "model.json", chainsHistory: true)
    /// `refs/ml/registered-models/<name>`: a model name's description and tags.
    static let registeredModel = RecordKind(name: "registered model", refPrefix: "refs/ml/registered-models/", document: "registered-model.json", chainsHistory: true)
    /// `refs/ml/model-aliases/<name>/<alias>`: where an alias points, each move a record chained to the last.
    static let modelAlias = RecordKind(name: "model alias", refPrefix: "refs/ml/model-aliases/", document: "alias.json", chainsHistory: true)
}
