import ArgumentParser
import Workspace

struct Init: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Set up git-ml in this repository (config, local store, hooks). Safe to run again.",
        discussion: """
        Creates .mlops/config.yaml (commit it) and .git/ml/, and installs the pre-push hook that pushes run records with your branches. A hook you already have is kept as pre-push.local and runs first.

        Examples:
          git ml init
          git ml init --json
        """)

    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let report = try workspace.initialize()
        if output.json { Out.print(try Render.json(report)); return }
        let t = Terminal.current
        Out.print(report.createdConfig ? "created \(report.configPath)" : "kept \(report.configPath)")
        Out.print("local store in \(report.stateDirectory)")
        for h in report.hooks {
            let note: String
            switch h.action {
            case .installed: note = "installed"
            case .updated: note = "updated"
            case .unchanged: note = "up to date"
            case .chained: note = "installed; your hook was kept as \(h.name).local and runs first"
            }
            Out.print("hook \(h.name): \(note) (\(h.path))")
        }
        Out.print(t.dim("next: git ml run -- python train.py"))
    }
}
