import ArgumentParser
import Foundation
import ObjectStore
import Workspace

struct DataCreate: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Register a data asset YAML (type, name, version, path) as NAME:VERSION, its bytes in the object store.",
        discussion: """
        Job inputs then name it as azureml:NAME:VERSION or azureml:NAME@latest. Versions are immutable; without a version the next number is taken.

        Examples:
          git ml data create -f data/train.yml
          git ml data create -f data/images.yml --json
        """)
    @Option(name: [.customShort("f"), .customLong("file")], help: ArgumentHelp("The data asset YAML.", valueName: "data.yml"))
    var file: String
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let bar: (@Sendable (StoreProgress) -> Void)? = Terminal.current.stderrIsTTY ? ProgressLine(label: "hashing").update : nil
        let asset = try workspace.createDataAsset(file: file, progress: bar)
        if output.json { Out.print(try Render.json(asset)); return }
        let what = asset.files.map { "\($0) files, " } ?? ""
        Out.print("registered azureml:\(asset.name):\(asset.version) (\(asset.type), \(what)\(RunFormatting.bytes(asset.size)), sha256 \(asset.sha256.prefix(12))…)")
    }
}

struct DataList: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Registered data assets, every version.",
        discussion: """
        Examples:
          git ml data list
          git ml data list --json
        """)
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let assets = try workspace.listDataAssets()
        if output.json { Out.print(try Render.json(assets)); return }
        guard !assets.isEmpty else { Out.print("no data assets yet; git ml data create -f data.yml registers one"); return }
        var table = Table(headers: ["NAME", "VERSION", "TYPE", "SIZE", "FILES", "SHA256", "PATH"])
        for a in assets {
            table.rows.append([a.name, a.version, a.type, RunFormatting.bytes(a.size), a.files.map(String.init) ?? "1",
                               String(a.sha256.prefix(12)), a.path])
        }
        Out.print(table.render(.current))
    }
}
