import ArgumentParser
import Engine
import Foundation
import Workspace

struct Hook: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Entry points for the git hooks `git ml init` installs (called by git, not by hand).",
        discussion: """
        pre-push REMOTE [URL]: pushes refs/ml/* and refs/notes/ml to REMOTE along with your branch, unless push_records is false in .mlops/config.yaml. A failure is reported and does not stop your push.

        Examples:
          git ml hook pre-push origin
        """)

    @Argument(help: "The hook: pre-push.")
    var hook: String
    @Argument(help: "The hook's arguments, as git passes them.")
    var arguments: [String] = []

    func validate() throws {
        guard hook == "pre-push" else { throw ValidationError("unknown hook '\(hook)'; git-ml has: pre-push") }
        guard !arguments.isEmpty else { throw ValidationError("pre-push needs the remote's name") }
    }

    func run(in workspace: Workspace) throws {
        _ = FileHandle.standardInput.readDataToEndOfFile()
        let (status, text) = try RecordPusher(workspace: workspace).push(remote: arguments[0])
        if status != 0 {
            Out.error("git-ml: could not push run records to \(arguments[0]) (your push goes on): \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
