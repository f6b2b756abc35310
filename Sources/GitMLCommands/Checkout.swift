import ArgumentParser
import Foundation
import Workspace

struct Checkout: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkout",
        abstract: "Restore the exact code a run saw, or its outputs, into a new folder.",
        discussion: """
        --code writes the run's code snapshot (its commit, plus uncommitted edits when it was dirty) byte for byte. --outputs writes the GITML_OUTPUTS files at the folder's top and each --output PATH at PATH. The folder must be new or empty; your work tree is never touched.

        Examples:
          git ml checkout latest --code /tmp/code
          git ml checkout 01jd8x --outputs ./restored
        """)

    @Argument(help: "The run: id, id prefix, name or latest.")
    var run: String
    @Option(name: .long, help: ArgumentHelp("Write the run's code into this folder.", valueName: "dir"))
    var code: String?
    @Option(name: .long, help: ArgumentHelp("Write the run's outputs into this folder.", valueName: "dir"))
    var outputs: String?

    func validate() throws {
        if code == nil && outputs == nil { throw ValidationError("say what to restore: --code DIR and/or --outputs DIR") }
    }

    func run(in workspace: Workspace) throws {
        let record = try workspace.record(run)
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : cwd + "/" + p }
        if let code {
            try workspace.checkoutCode(of: record, into: absolute(code))
            Out.print("code of run \(record.id) (\(record.code.commit.prefix(10))\(record.code.dirty ? " + uncommitted edits" : "")) -> \(code)")
        }
        if let outputs {
            try workspace.checkoutOutputs(of: record, into: absolute(outputs))
            let files = record.outputs.reduce(0) { $0 + $1.files }
            Out.print("outputs of run \(record.id) (\(files) file(s)) -> \(outputs)")
        }
    }
}
