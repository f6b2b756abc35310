import ArgumentParser

/// `git ml data`: versioned data beside the code.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Version data files and folders: bytes in the object store, a small pointer in git.",
        discussion: """
        `git ml data add PATH` stores PATH in .git/ml/objects, writes PATH.mlref beside it (commit that) and lists PATH in .gitignore. Checking out another commit and running `git ml data checkout` brings that version's bytes back.

        Examples:
          git ml data add data/train.csv
          git ml data add data/images --name images
          git ml data status
          git ml data checkout
          git ml data log data/images
          git ml data create -f data/train.yml
        """,
        subcommands: [DataAdd.self, DataStatus.self, DataCheckout.self, DataLog.self, DataCreate.self, DataList.self]
    )
}
