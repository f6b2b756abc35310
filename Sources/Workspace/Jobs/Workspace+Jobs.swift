import Foundation
import GitKit
import ObjectStore
import Yams

/// A command job read, checked and resolved against the repository, before anything runs.
public struct JobPlan: Sendable {
    /// Where a data input's bytes come from.
    public enum DataSource: Sendable {
        /// A file or folder on disk (absolute), as the job file named it.
        case path(String, given: String)
        /// A data asset registered with `git ml data create`.
        case asset(DataAsset, reference: String)
        /// A registered model version (`azureml:NAME:VERSION`, `NAME@ALIAS`, ...).
        case model(ModelVersion, reference: String)
    }

    public var job: CommandJob
    /// The job file as run, after `--set`, as YAML text.
    public var specText: Data
    /// The job file, relative to the work tree's top (absolute when outside it).
    public var file: String
    public var overrides: [String]
    /// The `code` folder, relative to the work tree's top ("" for the top); nil: the job gives none.
    public var code: String?
    public var dataInputs: [String: DataSource] = [:]
    /// The literal inputs' rendered values.
    public var literals: [String: String] = [:]
    public var environment: ResolvedEnvironment?
}

/// A job file read and overridden, before its type's parser sees it.
public struct JobFile: Sendable {
    /// The job types of Azure ML's CLI v2 that a job file can hold.
    public enum JobType: String, Sendable, CaseIterable {
        case command, sweep, pipeline
    }
    public var type: JobType
    /// The YAML tree after `--set`.
    public var spec: SpecNode
    /// The file as shown in messages (relative to the work tree's top, else absolute).
    public var shown: String
    /// The folder that paths in the file are relative to (absolute).
    public var folder: String
    public var overrides: [String]
    /// The line of `type:` (or of the mapping when absent), for messages.
    public var typeLine: Int

    public init(type: JobType, spec: SpecNode, shown: String, folder: String, overrides: [String], typeLine: Int) {
        self.type = type; self.spec = spec; self.shown = shown; self.folder = folder; self.overrides = overrides; self.typeLine = typeLine
    }
}

/// A file or folder stored in the object store.
public struct StoredData: Sendable {
    public var type: String
    public var sha256: String
    public var size: Int64
    public var files: Int?
    public init(type: String, sha256: String, size: Int64, files: Int?) {
        self.type = type; self.sha256 = sha256; self.size = size; self.files = files
    }
}

extension Workspace {
    /// Reads a job file and applies `--set` overrides; says which job type it holds (`type:`,
    /// `command` when absent) without parsing the rest.
    public func readJobFile(_ given: String, overrides: [String]) throws -> JobFile {
        let absolute = absolutePath(given)
        guard let data = FileManager.default.contents(atPath: absolute) else {
            throw WorkspaceError(.invalidArgument, "\(given): no such job file", hint: "give the path of a command job YAML, e.g. git ml run -f jobs/train.yml")
        }
        let shown = relativeOrAbsolute(absolute)
        var spec = try SpecNode.parse(data, file: shown)
        try spec.apply(overrides: overrides)
        let typeNode = spec["type"]
        var type = JobFile.JobType.command
        if case .scalar(let text, _, _)? = typeNode {
            guard let known = JobFile.JobType(rawValue: text) else {
                throw WorkspaceError(.badConfig, "\(shown):\(typeNode!.line): unknown job type '\(text)'; Azure ML's job types are \(JobFile.JobType.allCases.map(\.rawValue).joined(separator: ", ")) (git ml run -f runs command and sweep jobs)")
            }
            type = known
        }
        return JobFile(type: type, spec: spec, shown: shown, folder: String(absolute[..<absolute.lastIndex(of: "/")!]),
                       overrides: overrides, typeLine: typeNode?.line ?? spec.line)
    }

    /// Reads a command job (a `JobFile` of type `command`) and checks everything that can be
    /// checked before a run starts: keys, the code folder, input paths, the environment.
    public func planJob(_ file: JobFile) throws -> JobPlan {
        let shown = file.shown, spec = file.spec, folder = file.folder, overrides = file.overrides
        let job = try CommandJob.parse(spec, file: shown)
        func resolve(_ path: String) -> String {
            URL(fileURLWithPath: path.hasPrefix("/") ? path : folder + "/" + path).standardizedFileURL.path
        }

        // The code folder: inside the work tree, since the job runs in a copy of the run's code snapshot.
        // Without `code` the job runs in an empty folder, as on Azure.
        var code: String?
        if let given = job.code {
            let codeAbsolute = resolve(given)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: codeAbsolute, isDirectory: &isDir), isDir.boolValue else {
                throw WorkspaceError(.invalidArgument, "\(shown):\(job.codeLine): code folder '\(given)' not found (tried \(codeAbsolute))",
                                     hint: "code is relative to the job file's folder")
            }
            let top = URL(fileURLWithPath: workTree).standardizedFileURL.path
            guard codeAbsolute == top || codeAbsolute.hasPrefix(top + "/") else {
                throw WorkspaceError(.invalidArgument, "\(shown):\(job.codeLine): code folder \(codeAbsolute) lies outside the repository (\(top))",
                                     hint: "git-ml runs a job on a snapshot of the repository's code; keep the code inside it")
            }
            code = codeAbsolute == top ? "" : String(codeAbsolute.dropFirst(top.count + 1))
        }
        var isDir: ObjCBool = false
        var plan = JobPlan(job: job, specText: try spec.yaml(), file: shown, overrides: overrides, code: code)

        for name in job.inputs.keys.sorted() {
            let line = job.inputLines[name] ?? 0
            switch job.inputs[name]! {
            case .literal(let value):
                plan.literals[name] = value.rendered
            case .optional:
                break
            case .asset(let type, let path, _, _):
                guard let path else { continue }
                if Self.modelTypes.contains(type), let model = try modelInput(path, relativeTo: folder, file: shown, line: line) {
                    plan.dataInputs[name] = .model(model, reference: path)
                    continue
                }
                if path.hasPrefix("azureml:") {
                    let asset = try resolveDataAsset(path, file: shown, line: line)
                    if (type == "uri_file") != (asset.type == "uri_file") {
                        throw WorkspaceError(.invalidArgument, "\(shown):\(line): input '\(name)' is a \(type) but \(path) is a \(asset.type)")
                    }
                    plan.dataInputs[name] = .asset(asset, reference: path)
                    continue
                }
                if let scheme = path.range(of: "://"), !path.hasPrefix("file://") {
                    throw WorkspaceError(.invalidArgument, "\(shown):\(line): input '\(name)': \(path[..<scheme.lowerBound]):// paths are not read by git-ml yet",
                                         hint: "use a local path, or register the data with git ml data create -f and name it azureml:NAME:VERSION")
                }
                let local = resolve(path.hasPrefix("file://") ? String(path.dropFirst(7)) : path)
                guard FileManager.default.fileExists(atPath: local, isDirectory: &isDir) else {
                    throw WorkspaceError(.invalidArgument, "\(shown):\(line): input '\(name)' path '\(path)' not found (tried \(local))",
                                         hint: "paths are relative to the job file's folder")
                }
                if type == "uri_file" && isDir.boolValue {
                    throw WorkspaceError(.invalidArgument, "\(shown):\(line): input '\(name)' is a uri_file but \(local) is a folder",
                                         hint: "use type: uri_folder")
                }
                if type == "uri_folder" && !isDir.boolValue {
                    throw WorkspaceError(.invalidArgument, "\(shown):\(line): input '\(name)' is a uri_folder but \(local) is a file",
                                         hint: "use type: uri_file")
                }
                plan.dataInputs[name] = .path(local, given: path)
            }
        }
        plan.environment = try resolveEnvironment(of: job, jobFolder: folder)
        return plan
    }

    /// Reads a sweep job (a `JobFile` of type `sweep`): its trial (inline, or a command
    /// component file whose `code` is relative to that file), search space, sampler,
    /// objective, limits and policy, checked before anything runs.
    public func planSweep(_ file: JobFile) throws -> SweepJob {
        try SweepJob.parse(file.spec, file: file.shown) { path, line in
            let absolute = URL(fileURLWithPath: path.hasPrefix("/") ? path : file.folder + "/" + path).standardizedFileURL.path
            guard let data = FileManager.default.contents(atPath: absolute) else {
                throw WorkspaceError(.invalidArgument, "\(file.shown):\(line): trial component '\(path)' not found (tried \(absolute))",
                                     hint: "the trial is an inline command job, or the path of a command component relative to the sweep file")
            }
            let shown = relativeOrAbsolute(absolute)
            var spec = try SpecNode.parse(data, file: shown)
            let componentFolder = String(absolute[..<absolute.lastIndex(of: "/")!])
            if case .scalar(let code, let quoted, let codeLine)? = spec["code"], !code.hasPrefix("/") {
                spec.set(path: ["code"], to: .scalar(componentFolder + "/" + code, quoted: quoted, line: codeLine))
            }
            return (spec, shown)
        }
    }

    /// A sweep trial's command job with its parameter values put in, checked as any command job.
    public func planTrial(_ sweep: SweepJob, file: JobFile, values: [String: ParamValue]) throws -> JobPlan {
        var trial = file
        trial.type = .command
        trial.spec = sweep.trialSpec(with: values)
        return try planJob(trial)
    }

    /// The model version a model-typed input names (`azureml:NAME:VERSION`, `azureml:NAME@latest`,
    /// `NAME:VERSION`, `NAME@ALIAS`, `models:/NAME/VERSION`); nil for a local path.
    func modelInput(_ path: String, relativeTo folder: String, file: String, line: Int) throws -> ModelVersion? {
        let named = path.hasPrefix("azureml:") || path.hasPrefix("models:/")
        if !named {
            // A local file or folder wins over a model of the same name.
            let local = path.hasPrefix("/") ? path : folder + "/" + path
            if path.contains("://") || FileManager.default.fileExists(atPath: local) { return nil }
            guard path.contains(":") || path.contains("@") else { return nil }
        }
        guard let reference = ModelReference.parse(path) else { return nil }
        do {
            return try model(reference).model
        } catch let e as WorkspaceError {
            throw WorkspaceError(e.code, "\(file):\(line): \(e.message)", hint: e.hint)
        }
    }

    /// A path relative to the work tree's top when inside it, else absolute.
    func relativeOrAbsolute(_ absolute: String) -> String {
        let top = URL(fileURLWithPath: workTree).standardizedFileURL.path
        return absolute.hasPrefix(top + "/") ? String(absolute.dropFirst(top.count + 1)) : absolute
    }

    /// Stores a file or folder (inside the work tree or not), reusing the data stat
    /// cache so that unchanged data is not hashed again. A file that changes while
    /// it is read is refused.
    public func storeData(at absolute: String, progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> StoredData {
        let key = relativeOrAbsolute(absolute)
        var cache = DataStatCache.load(dataCachePath)
        defer { try? cache.save(dataCachePath) }
        var st = stat()
        guard lstat(absolute, &st) == 0 else { throw WorkspaceError(.invalidArgument, "\(absolute): no such file or folder") }
        do {
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                let statKey = DataStatCache.Key(size: Int64(st.st_size), mtime: Self.nanos(st.st_mtim), inode: UInt64(st.st_ino))
                if let sha = cache.lookup(key, statKey), let id = ContentID(hex: sha), store.has(id) {
                    return StoredData(type: "uri_file", sha256: sha, size: Int64(st.st_size), files: nil)
                }
                let (id, size) = try store.put(fileAt: absolute)
                cache.store(key, statKey, id.hex, now: Self.now())
                return StoredData(type: "uri_file", sha256: id.hex, size: size, files: nil)
            case S_IFDIR:
                let snapshot = cache
                let stored = try store.putFolder(at: absolute, known: { f in
                    snapshot.lookup(key + "/" + f.relative, .init(size: f.size, mtime: f.mtime, inode: f.inode)).flatMap(ContentID.init(hex:))
                }, progress: progress)
                let manifest = try store.manifest(stored.manifest)
                var shas: [String: String] = [:]
                for e in manifest.entries { if let sha = e.sha256 { shas[e.path] = sha.hex } }
                for f in try ObjectStore.walk(absolute) where !f.isLink {
                    if let sha = shas[f.relative] {
                        cache.store(key + "/" + f.relative, .init(size: f.size, mtime: f.mtime, inode: f.inode), sha, now: Self.now())
                    }
                }
                return StoredData(type: "uri_folder", sha256: stored.manifest.hex, size: stored.size, files: stored.fileCount)
            default:
                throw WorkspaceError(.invalidArgument, "\(absolute) is not a file or folder")
            }
        } catch let e as StoreError {
            throw WorkspaceError(.storage, "cannot store \(key): \(e.message)")
        }
    }

    /// Writes the part `code` of a run's code snapshot into `directory`: a writable
    /// copy the job runs in, never the user's work tree.
    public func materializeCode(of record: RunRecord, code: String, into directory: String) throws {
        guard let tree = ObjectID(hex: record.code.tree) else { throw WorkspaceError(.storage, "run \(record.id) has no code tree") }
        try git {
            var subtree = tree
            if !code.isEmpty {
                guard let entry = try repository.treeEntry(in: tree, path: code), entry.mode == .tree else {
                    throw WorkspaceError(.invalidArgument, "code folder \(code) holds no file git-ml can see (all ignored, or empty)",
                                         hint: "a job's code comes from the repository's tracked and unignored files")
                }
                subtree = entry.id
            }
            try repository.materialize(tree: subtree, into: directory)
        }
    }

    /// Hands stored data to a job read-only: files are hard links to the store's
    /// read-only objects (copies across file systems), folders are made read-only.
    public func materializeInput(_ data: StoredData, at destination: String) throws {
        guard let id = ContentID(hex: data.sha256) else { throw WorkspaceError(.storage, "bad object id \(data.sha256)") }
        do {
            if data.type == "uri_file" {
                try store.checkout(id, to: destination, mode: .link)
                chmod(destination, 0o444)
            } else {
                try store.checkoutFolder(manifest: id, to: destination, mode: .link)
                for f in try ObjectStore.walk(destination) where !f.isLink { chmod(f.absolute, 0o444) }
                try lockFolders(destination, writable: false)
            }
        } catch let e as StoreError {
            throw WorkspaceError(.storage, "cannot hand input \(data.sha256) to the job: \(e.message)", hint: Self.damageHint(e))
        }
    }

    /// Makes every folder under `root` (and `root`) read-only, or writable again.
    public func lockFolders(_ root: String, writable: Bool) throws {
        var folders = [root]
        if let e = FileManager.default.enumerator(atPath: root) {
            while let rel = e.nextObject() as? String {
                var st = stat()
                if lstat(root + "/" + rel, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { folders.append(root + "/" + rel) }
            }
        }
        for f in folders { chmod(f, writable ? 0o755 : 0o555) }
    }
}

extension SpecNode {
    /// The tree as YAML text (for the record's `job.yaml`).
    public func yaml() throws -> Data {
        func node(_ n: SpecNode) -> Node {
            switch n {
            case .scalar(let s, let quoted, _):
                return .scalar(.init(s, .implicit, quoted ? .doubleQuoted : (s.contains("\n") ? .literal : .plain)))
            case .null: return .scalar(.init("null"))
            case .sequence(let items, _): return .sequence(.init(items.map(node)))
            case .mapping(let entries, _): return .mapping(.init(entries.map { (Node.scalar(.init($0.key)), node($0.value)) }))
            }
        }
        return Data(try Yams.serialize(node: node(self), sortKeys: false).utf8)
    }
}
