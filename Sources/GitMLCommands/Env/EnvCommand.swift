import ArgumentParser
import Engine
import Foundation
import ObjectStore
import Workspace

/// `git ml env`: environments built once, identified by their content.
struct EnvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env",
        abstract: "Register, build, list, show and prune environments (virtualenvs built once under .git/ml/envs/<id>).",
        discussion: """
        An environment file is an Azure ML environment YAML (name, version, image, conda_file) or git-ml's short form (python, pip, requirements). Its id is the SHA-256 of the normalized spec and the files it names; jobs name it as azureml:NAME@latest or azureml:NAME:VERSION. Curated names (azureml:AzureML-sklearn-1.5@latest, ...) ship with git-ml.

        Examples:
          git ml env create -f .mlops/environments/train.yaml
          git ml env build azureml:train@latest
          git ml env list
          git ml env show azureml:AzureML-sklearn-1.5@latest
          git ml env prune --older-than 30
        """,
        subcommands: [EnvCreate.self, EnvBuild.self, EnvList.self, EnvShow.self, EnvPrune.self]
    )
}

struct EnvCreate: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Register an environment file under its name and version (refs/ml/envs/NAME/VERSION, beside the ids).",
        discussion: """
        Versions are immutable: registering the same name and version with other content is refused. Without a version, the next number is taken.

        Examples:
          git ml env create -f env.yml
          git ml env create -f env.yml --version 2 --build
        """)
    @Option(name: [.customShort("f"), .customLong("file")], help: ArgumentHelp("The environment YAML.", valueName: "env.yml"))
    var file: String
    @Option(name: .long, help: "The version (default: the file's, else the next number).")
    var version: String?
    @Flag(name: .long, help: "Build it now.")
    var build = false
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let created = try workspace.createEnvironment(file: file, version: version)
        if build {
            let resolved = try workspace.resolveEnvironment(named: "azureml:\(created.name):\(created.version)")
            _ = try EnvBuild.realize(resolved, in: workspace)
        }
        if output.json {
            Out.print(try Render.json(["name": created.name, "version": created.version, "id": created.id]))
        } else {
            Out.print("registered azureml:\(created.name):\(created.version) (id \(created.id.prefix(12)))")
        }
    }
}

struct EnvBuild: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build an environment now (it is otherwise built by the first job that needs it).",
        discussion: """
        Examples:
          git ml env build azureml:train@latest
          git ml env build -f env.yml
          git ml env build azureml:AzureML-sklearn-1.5@latest
        """)
    @Argument(help: "An environment name (azureml:NAME@latest, azureml:NAME:VERSION, a curated name) or id.")
    var name: String?
    @Option(name: [.customShort("f"), .customLong("file")], help: ArgumentHelp("An environment YAML, not registered.", valueName: "env.yml"))
    var file: String?
    @OptionGroup var output: JSONOption

    func validate() throws {
        guard (name == nil) != (file == nil) else { throw ValidationError("name an environment, or give one with -f env.yml") }
    }

    func run(in workspace: Workspace) throws {
        let resolved: ResolvedEnvironment
        if let file {
            resolved = ResolvedEnvironment(reference: file, spec: try workspace.environmentSpec(file: file).spec)
        } else {
            resolved = try workspace.resolveEnvironment(named: name!)
        }
        let realized = try Self.realize(resolved, in: workspace)
        if output.json {
            Out.print(try Render.json(["id": realized.id, "path": realized.folder, "lock": realized.lock, "python": realized.python,
                                       "built": realized.built ? "true" : "false"]))
        } else {
            Out.print("\(realized.built ? "built" : "already built"): \(realized.id.prefix(12)) at \(workspace.relative(realized.folder)) (Python \(realized.python))")
        }
    }

    static func realize(_ resolved: ResolvedEnvironment, in workspace: Workspace) throws -> RealizedEnvironment {
        let term = Terminal.current
        let renderer = RunRenderer(term: term)
        // Ctrl-C stops pip (in its own process group) and removes the half-built folder.
        let signals = SignalForwarder(supervisors: [])
        defer { signals.stop() }
        do {
            return try EnvironmentBuilder(workspace: workspace).realize(resolved.spec, line: { renderer.buildOutput($0) },
                isCanceled: { signals.cancelSignal != nil },
                waiting: { renderer.stage("waiting for another build of environment \(resolved.id.prefix(12))") },
                starting: { renderer.stage("building environment \(resolved.reference) (\(resolved.id.prefix(12)))") })
        } catch let e as StageError {
            throw WorkspaceError(.storage, e.description)
        }
    }
}

struct EnvList: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Registered environments and those built here.",
        discussion: """
        Examples:
          git ml env list
          git ml env list --json
        """)
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let entries = try workspace.listEnvironments()
        if output.json { Out.print(try Render.json(entries)); return }
        var table = Table(headers: ["NAME", "VERSION", "ID", "BUILT", "LOCK"])
        for e in entries {
            table.rows.append([e.name ?? "-", e.version ?? "-", String(e.id.prefix(12)), e.path == nil ? "no" : "yes",
                               e.lock.map { String($0.prefix(12)) } ?? "-"])
        }
        Out.print(entries.isEmpty ? "no environments yet; jobs build theirs on first use (git ml env create -f FILE registers one)" : table.render(.current))
    }
}

struct EnvShow: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "An environment's spec, id, build folder and lock.",
        discussion: """
        Examples:
          git ml env show azureml:train@latest
          git ml env show azureml:AzureML-sklearn-1.5@latest --json
        """)
    @Argument(help: "An environment name or id.")
    var name: String
    @OptionGroup var output: JSONOption

    struct Shown: Encodable {
        var reference: String
        var id: String
        var spec: EnvironmentSpec
        var path: String?
        var lock: String?
    }

    func run(in workspace: Workspace) throws {
        let resolved = try workspace.resolveEnvironment(named: name)
        let folder = workspace.environmentFolder(resolved.id)
        let built = access(folder + "/" + Workspace.readyMarker, F_OK) == 0
        let lock = try workspace.environmentLock(id: resolved.id).map { String(decoding: $0, as: UTF8.self) }
        if output.json {
            Out.print(try Render.json(Shown(reference: name, id: resolved.id, spec: resolved.spec, path: built ? folder : nil, lock: lock)))
            return
        }
        let s = resolved.spec
        Out.print("environment \(name)")
        Out.print("  id       \(resolved.id)")
        if let n = s.name { Out.print("  name     \(n)" + (s.version.map { ":\($0)" } ?? "")) }
        if let d = s.description { Out.print("  about    \(d)") }
        Out.print("  python   \(s.python ?? "the host's python3")")
        if let image = s.image { Out.print("  image    \(image) (not pulled)") }
        Out.print("  built    " + (built ? workspace.relative(folder) : "no"))
        Out.print("  pip      " + (s.pip.isEmpty ? "(nothing)" : s.pip.joined(separator: "\n           ")))
        for w in s.warnings { Out.print("  note     \(w)") }
        if let lock { Out.print("  lock\n" + lock.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")) }
    }
}

struct EnvPrune: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete built environments not used for a while (and half-built ones); they are rebuilt when needed.",
        discussion: """
        Records keep each environment's spec and lock, so a pruned environment is rebuilt the same way.

        Examples:
          git ml env prune --older-than 30
          git ml env prune --all --dry-run
        """)
    @Option(name: .long, help: "Delete those last used more than this many days ago (default 30).")
    var olderThan: Int = 30
    @Flag(name: .long, help: "Delete every built environment.")
    var all = false
    @Flag(name: .long, help: "Only say what would be deleted.")
    var dryRun = false
    @OptionGroup var output: JSONOption

    func run(in workspace: Workspace) throws {
        let root = workspace.stateDirectory + "/envs"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        let cutoff = Date().timeIntervalSince1970 - Double(olderThan) * 86400
        var removed: [String] = []
        for name in names.sorted() where name.count == 64 && name.allSatisfy(\.isHexDigit) {
            let folder = root + "/" + name
            var st = stat()
            let ready = stat(folder + "/" + Workspace.readyMarker, &st) == 0
            let lockFD = open(folder + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            defer { if lockFD >= 0 { close(lockFD) } }
            // A build in progress holds the lock: leave it alone.
            guard lockFD >= 0, flock(lockFD, LOCK_EX | LOCK_NB) == 0 else { continue }
            guard all || !ready || Double(st.st_mtim.tv_sec) < cutoff else { continue }
            removed.append(name)
            if !dryRun {
                try? FileManager.default.removeItem(atPath: folder)
                unlink(folder + ".log")
            }
        }
        if output.json { Out.print(try Render.json(removed)); return }
        if removed.isEmpty { Out.print("nothing to prune"); return }
        for id in removed { Out.print((dryRun ? "would delete " : "deleted ") + String(id.prefix(12))) }
    }
}
