import ArgumentParser
import Foundation
import ObjectStore
import Workspace

struct Hook: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Entry points for the git hooks `git ml init` installs (called by git, not by hand).",
        discussion: """
        pre-push REMOTE [URL]: before git sends your refs, sends the objects that the data pointers of the pushed commits name to the remote's object remote (as Git LFS does), then publishes your run and model records (refs/ml/ledger/<writer>), unless push_records is false in .mlops/config.yaml. If the objects cannot be sent, the push stops (nothing half-shared); `git push --no-verify` skips the hook.

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
        // git writes "<local ref> <local sha> <remote ref> <remote sha>" for each ref it pushes.
        let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        let remote = arguments[0]
        do {
            guard let report = try workspace.prePush(remote: remote, hookInput: input,
                                                     progress: Terminal.current.stderrIsTTY ? ProgressLine(label: "git-ml objects").update : nil)
            else { return }
            if report.records > 0 || report.objects.transferred > 0 {
                Out.error("git-ml: sent \(report.objects.transferred) object(s) and \(report.records) record(s) to \(remote)")
            }
        } catch let e as WorkspaceError {
            Out.error("git-ml: \(e.message)" + (e.hint.map { "; \($0)" } ?? ""))
            Out.error("git-ml: the push stops here so that nobody gets pointers or records without their bytes; `git push --no-verify` pushes anyway")
            throw ExitCode(1)
        }
    }
}
