import ArgumentParser
import Foundation
import ObjectStore
import Workspace

struct ModelRegister: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register a run's output, or a file or folder, as the next version of NAME.",
        discussion: """
        --path names one of the run's outputs as `git ml show` lists it, then the path inside it. An MLflow model folder (one holding MLmodel) is registered as type mlflow_model, its flavors, signature, input example and requirements read into the record. Two registrations at the same moment never get the same version.

        Examples:
          git ml model register churn --run latest --path outputs/model
          git ml model register churn --run 01jd8x --path artifacts/outputs/model.pkl --description "weekly retrain"
          git ml model register churn --run latest --path output_folder/my_model --tag data=2026-11
          git ml model register churn --from ./exported-model --type custom_model
          git ml model register churn --run latest --path outputs/model --sign
        """)
    @Argument(help: "The model's name: letters, digits, '-', '_' and '.'.")
    var name: String
    @Option(help: "The run whose output to register: id, id prefix, name or latest.")
    var run: String?
    @Option(help: ArgumentHelp("The output and the path inside it, as git ml show lists outputs.", valueName: "output/path"))
    var path: String?
    @Option(name: .customLong("from"), help: ArgumentHelp("A file or folder to register instead of a run's output.", valueName: "DIR"))
    var folder: String?
    @Option(help: "custom_model, mlflow_model or triton_model (default: mlflow_model when an MLmodel file is at the top).")
    var type: String?
    @Option(help: "A description of the version.")
    var description: String?
    @Option(name: .customLong("tag"), help: ArgumentHelp("A tag of the version (repeatable).", valueName: "key=value"))
    var tags: [String] = []
    @Flag(help: "Sign the record commit with your git signing set-up (gpg.format, user.signingkey).")
    var sign = false
    @OptionGroup var output: JSONOption

    func validate() throws {
        if folder != nil && (run != nil || path != nil) { throw ValidationError("give either --run and --path, or --from") }
        if folder == nil && (run == nil || path == nil) { throw ValidationError("give --run RUN --path OUTPUT/PATH, or --from DIR") }
    }

    func run(in workspace: Workspace) throws {
        let draft = ModelDraft(name: name, type: type, description: description, tags: try keyValues(tags, option: "--tag"), sign: sign)
        let entry: ModelEntry
        if let folder {
            let bar: (@Sendable (StoreProgress) -> Void)? = Terminal.current.stderrIsTTY ? ProgressLine(label: "hashing").update : nil
            entry = try workspace.registerModel(draft, from: folder, progress: bar)
        } else {
            entry = try workspace.registerModel(draft, run: run!, path: path!)
        }
        ModelPrinting.registered(entry, json: output.json)
    }
}

struct ModelCreate: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Register a model from an Azure ML model file (name, version, path, type, description, tags, properties).",
        discussion: """
        path is relative to the file's folder, as in Azure ML; runs:/RUN/PATH and azureml://jobs/RUN/outputs/NAME/paths/PATH name a run's output. Without a version the next number is taken; a version already registered with the same bytes is kept, with other bytes refused.

        Examples:
          git ml model create -f models/local-mlflow.yml
          git ml model create -f model.yml --json
        """)
    @Option(name: [.customShort("f"), .customLong("file")], help: ArgumentHelp("The model YAML.", valueName: "model.yml"))
    var file: String
    @Flag(help: "Sign the record commit with your git signing set-up.")
    var sign = false
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let bar: (@Sendable (StoreProgress) -> Void)? = Terminal.current.stderrIsTTY ? ProgressLine(label: "hashing").update : nil
        ModelPrinting.registered(try workspace.createModel(file: file, sign: sign, progress: bar), json: output.json)
    }
}

enum ModelPrinting {
    static func registered(_ entry: ModelEntry, json: Bool) {
        if json { Out.print((try? Render.json(ModelJSON(entry))) ?? "{}"); return }
        let m = entry.model
        let from = m.source.run.map { "run \($0) \(m.source.output ?? "")\(m.source.path.map { "/" + $0 } ?? "")" } ?? m.source.folder ?? "?"
        Out.print("registered \(m.name):\(m.version) (\(m.type), \(m.artifact.files) file(s), \(RunFormatting.bytes(m.artifact.size)), sha256 \(m.artifact.sha256.prefix(12))…) from \(from)")
    }
}

/// A model version as `--json` prints it: the record, its commit and aliases.
struct ModelJSON: Encodable {
    var entry: ModelEntry
    init(_ entry: ModelEntry) { self.entry = entry }
    enum Keys: String, CodingKey { case commit, aliases }
    func encode(to encoder: Encoder) throws {
        try entry.model.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(entry.commit, forKey: .commit)
        try c.encode(entry.aliases, forKey: .aliases)
    }
}
