import ArgumentParser
import Foundation
import Workspace

struct RemoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote",
        abstract: "Object remotes: where pushed runs, models and data keep their bytes.",
        discussion: """
        An object remote has the name of the git remote it serves (or one of its own). Without one, a git remote that is a folder or file:// URL keeps objects in its git folder (ml/objects), and an http(s) remote uses its Git LFS storage.

        Examples:
          git ml remote add origin dir /mnt/team/ml-objects
          git ml remote add origin lfs https://git.example.com/team/churn.git/info/lfs
          git ml remote list
        """,
        subcommands: [RemoteAdd.self, RemoteList.self])
}

struct RemoteAdd: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Set the object remote NAME: a folder (dir PATH) or a Git LFS endpoint (lfs URL), in git config.",
        discussion: """
        Saved as ml.remote.<name>.type and .path or .url in .git/config; `remotes:` in .mlops/config.yaml sets one for the whole team.

        Examples:
          git ml remote add origin dir /mnt/team/ml-objects
          git ml remote add origin lfs http://10.0.0.5:5000/lfs
        """)
    @Argument(help: "The remote's name (the git remote whose pushes and pulls it serves).")
    var name: String
    @Argument(help: "dir or lfs.")
    var type: String
    @Argument(help: "The folder (dir) or the LFS endpoint URL (lfs).")
    var location: String
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let info = try workspace.addObjectRemote(name: name, type: type, location: location)
        if output.json { Out.print(try Render.json(info)); return }
        Out.print("object remote \(info.name): \(info.type) \(info.location)")
    }
}

struct RemoteList: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Every object remote, with where its setting comes from.",
        discussion: """
        Examples:
          git ml remote list
          git ml remote list --json
        """)
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let remotes = try workspace.objectRemotes()
        if output.json { Out.print(try Render.json(remotes)); return }
        guard !remotes.isEmpty else { Out.print("no object remote (add a git remote, or: git ml remote add NAME dir PATH)"); return }
        var table = Table(headers: ["NAME", "TYPE", "LOCATION", "FROM"])
        table.rows = remotes.map { [$0.name, $0.type, $0.location, $0.source] }
        Out.print(table.render(.current))
    }
}
