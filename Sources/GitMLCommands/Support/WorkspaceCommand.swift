import ArgumentParser
import Foundation
import Workspace

/// What every command that works in a repository shares: opening the workspace
/// from the current folder and turning a failure into one line on stderr and an exit code.
protocol WorkspaceCommand: ParsableCommand {
    func run(in workspace: Workspace) throws
}

extension WorkspaceCommand {
    func run() throws {
        PerfTrace.mark("arguments parsed")
        try Self.reportingErrors {
            let workspace = try Workspace.open()
            PerfTrace.mark("repository opened")
            try run(in: workspace)
            PerfTrace.mark("command done")
        }
    }

    static func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as WorkspaceError {
            Out.error("git-ml: \(e.message)" + (e.hint.map { "; \($0)" } ?? ""))
            throw ExitCode(e.exitCode)
        }
    }
}

/// `--json`, shared by every command that lists or shows.
struct JSONOption: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false
}

/// Parses `key=value` options.
func keyValues(_ items: [String], option: String) throws -> [String: String] {
    var out: [String: String] = [:]
    for item in items {
        guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
            throw ValidationError("\(option) \(item): expected key=value")
        }
        out[String(item[..<eq])] = String(item[item.index(after: eq)...])
    }
    return out
}
