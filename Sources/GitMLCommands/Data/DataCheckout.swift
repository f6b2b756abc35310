import ArgumentParser
import Foundation
import Workspace

struct DataCheckout: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkout",
        abstract: "Bring data back from the object store as its pointer says (all pointers, or those named).",
        discussion: """
        A file is replaced whole and a folder is built beside the old one and swapped in, so nothing is ever half written. Data already as the pointer says is left alone.

        Examples:
          git ml data checkout
          git ml data checkout data/images
          git ml data checkout data/images --rev HEAD~3
        """)

    @Argument(help: "Data paths (or their .mlref pointers); all pointers when none is given.")
    var paths: [String] = []
    @Option(name: .long, help: ArgumentHelp("Read the pointers at this commit instead of the work tree.", valueName: "rev"))
    var rev: String?
    @Flag(name: .long, help: "Hard-link files to the read-only objects instead of copying them.")
    var link = false
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let written = try workspace.checkoutData(paths, revision: rev, link: link)
        if output.json { Out.print(try Render.json(written)); return }
        if written.isEmpty { Out.print(Terminal.current.dim("data already up to date")) }
        for p in written { Out.print("restored \(p)") }
    }
}
