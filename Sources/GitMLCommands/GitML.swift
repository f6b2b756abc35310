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
        subcommands: [Init.self, Run.self, Runs.self, Show.self, Logs.self, Metrics.self, Diff.self, Checkout.self, DataCommand.self, EnvCommand.self, Serve.self, Reindex.self, Fsck.self, Hook.self]
    )
    public init() {}

    /// The entry point of the executable.
    public static func launch() {
        PerfTrace.start()
        let arguments = Array(CommandLine.arguments.dropFirst())
        // A command line that parses is run from QuickRoot's parse; anything else (help,
        // --version, a usage error, a completion script) is parsed again by GitML, whose
        // messages the user sees.
        if !arguments.contains(where: { $0.hasPrefix("--generate-completion-script") }),
           var command = try? QuickRoot.parseAsRoot(arguments), !(command is QuickRoot) {
            do {
                try command.run()
            } catch {
                exit(withError: error)
            }
            return
        }
        main()
    }
}

/// The same commands under a root that swift-argument-parser treats as a sub-tool,
/// which skips its probe for `--generate-completion-script` (two more parses at each
/// start, about a millisecond before a run can begin). Never shown: its help would
/// read `git git-ml`.
struct QuickRoot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "git-ml", _superCommandName: "git", subcommands: GitML.configuration.subcommands)
}
