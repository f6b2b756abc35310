import ArgumentParser
import Workspace

/// `git ml`: the root command.
public struct GitML: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "git-ml",
        abstract: "Git-native MLOps: runs, metrics and outputs recorded against the commit that produced them.",
        discussion: """
        Every run is a commit on refs/ml/runs/<id> whose first parent is the code commit; large files live in .git/ml/objects, addressed by SHA-256. Works from any subfolder.

        Examples:
          git ml init
          git ml run -- python train.py --lr 0.1
          git ml runs --status completed
          git ml show latest
          git ml diff 01jd8 01jd9
          git ml checkout latest --outputs /tmp/model
          git ml serve
        """,
        version: gitmlVersion,
        subcommands: [Init.self, Run.self, Runs.self, SweepCommand.self, Show.self, Logs.self, Metrics.self, Diff.self, Report.self, CICommand.self, Checkout.self, DataCommand.self, EnvCommand.self, ModelCommand.self, LineageCommand.self, AuditCommand.self, Push.self, Pull.self, Fetch.self, RemoteCommand.self, Serve.self, Reindex.self, Recover.self, Fsck.self, Hook.self]
    )
    public init() {}

    /// The entry point of the executable.
    public static func launch() {
        PerfTrace.start()
        main()
    }
}
