import Foundation
import Workspace

/// Pushes run records (`refs/ml/*`, `refs/notes/ml`) to a remote, for the pre-push hook.
///
/// This is the one place git-ml runs the `git` program instead of libgit2: a push
/// must use the user's remotes, credential helpers and SSH set-up exactly as
/// their own `git push` does.
public struct RecordPusher {
    let workspace: Workspace
    public init(workspace: Workspace) { self.workspace = workspace }

    /// Returns git's exit status and its output; 0 with nothing to push when there are no records.
    public func push(remote: String) throws -> (status: Int32, output: String) {
        if workspace.environment["GITML_HOOK_ACTIVE"] != nil { return (0, "") }
        guard try workspace.config().pushRecords else { return (0, "") }
        let refspecs = try workspace.recordRefspecs()
        guard !refspecs.isEmpty else { return (0, "") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "push", "--no-verify", "--quiet", remote] + refspecs
        process.currentDirectoryURL = URL(fileURLWithPath: workspace.workTree)
        var env = workspace.environment
        env["GITML_HOOK_ACTIVE"] = "1"
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
