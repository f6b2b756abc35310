import ArgumentParser
import Foundation
import ObjectStore
import Workspace

struct DataAdd: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Store a file or folder and write its pointer (PATH.mlref); PATH goes into .gitignore.",
        discussion: """
        Folders are hashed on every core. Commit the pointer (and .gitignore) to version the data.

        Examples:
          git ml data add data/train.csv
          git ml data add data/images --name images
          git ml data add data/a.csv data/b.csv --json
        """)

    @Argument(help: "Files or folders inside the repository.")
    var paths: [String]
    @Option(name: .long, help: "A name for the data asset (one path only).")
    var name: String?
    @OptionGroup var output: JSONOption

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("name a file or folder to add") }
        if name != nil && paths.count > 1 { throw ValidationError("--name goes with one path only") }
    }

    func run(in workspace: Workspace) throws {
        let term = Terminal.current
        let bar: (@Sendable (StoreProgress) -> Void)? = term.stderrIsTTY ? ProgressLine(label: "hashing").update : nil
        var results: [DataAddResult] = []
        for path in paths { results.append(try workspace.addData(path, name: name, progress: bar)) }
        if output.json { Out.print(try Render.json(results)); return }
        for r in results {
            let what = r.files.map { "\($0) files, " } ?? ""
            Out.print("added \(r.path) (\(what)\(RunFormatting.bytes(r.size)), sha256 \(r.sha256.prefix(12))…) -> \(r.pointer)")
            if let ignore = r.gitignore { Out.print(term.dim("  listed \(r.path) in \(ignore)")) }
        }
        let pointers = results.map(\.pointer).joined(separator: " ")
        Out.print(term.dim("next: git add \(pointers) && git commit"))
    }
}
