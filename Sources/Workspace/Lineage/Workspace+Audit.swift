import Foundation
import GitKit
import GRDB
import ObjectStore

/// The chain behind a model version, run or data object, link by link, with the evidence
/// of each link and what is wrong with it (`git ml audit`).
public struct AuditReport: Codable, Sendable {
    public struct Evidence: Codable, Sendable, Equatable {
        public var key: String
        public var value: String
    }

    public struct Link: Codable, Sendable {
        public enum Status: String, Codable, Sendable { case ok, broken }
        /// What is linked: `model churn:2`, `model churn:2 <- run 01jd...`, `run 01jd... <- commit 3f2a...`.
        public var name: String
        public var status: Status
        public var evidence: [Evidence]
        public var problems: [String]
    }

    public var subject: String
    /// True when every object was re-hashed (`--verify`); else only their presence was checked.
    public var verified: Bool
    public var links: [Link]
    /// Objects checked and their bytes.
    public var objects: Int
    public var bytes: Int64
    /// Objects the chain names that this clone's store does not hold.
    public var missingObjects: [String]
    public var ok: Bool { !links.contains { $0.status == .broken } }
    public var firstProblem: (link: String, problem: String)? {
        links.first { $0.status == .broken }.map { ($0.name, $0.problems.first ?? "broken") }
    }
}

extension Workspace {
    /// Walks the chain behind `subject` and checks every link: records intact and where their
    /// refs say, code commits present with the recorded snapshot, environment locks, inputs,
    /// outputs and model files present (re-hashed with `verify`), signatures as git reports them.
    public func audit(_ subject: LineageSubject, verify: Bool, progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> AuditReport {
        var auditor = Auditor(workspace: self)
        switch subject {
        case .model(let name, let version): try auditor.model(name: name, version: version)
        case .run(let id): try auditor.run(id, madeAt: nil, for: nil)
        case .data(let sha, let name): auditor.data(sha, name: name)
        case .commit(let sha): auditor.commit(sha, for: "commit \(sha.prefix(12))")
        }
        return try auditor.finish(subject: "\(subject)", verify: verify, progress: progress)
    }
}

struct Auditor {
    let workspace: Workspace
    var links: [AuditReport.Link] = []
    /// Objects to check, each with the links that rely on it and what it is to them.
    var objects: [ContentID: [(link: Int, what: String)]] = [:]
    var auditedRuns: Set<String> = []
    var auditedModels: Set<String> = []
    var depth = 0

    init(workspace: Workspace) { self.workspace = workspace }

    var repository: Repository { workspace.repository }

    mutating func add(_ name: String, _ evidence: [(String, String?)], problems: [String] = []) -> Int {
        links.append(.init(name: name, status: problems.isEmpty ? .ok : .broken,
                           evidence: evidence.compactMap { k, v in v.map { .init(key: k, value: $0) } }, problems: problems))
        return links.count - 1
    }

    mutating func problem(_ link: Int, _ text: String) {
        links[link].problems.append(text)
        links[link].status = .broken
    }

    /// The objects of a stored file or folder, owned by `link`; a manifest that cannot be read is a problem of the link.
    mutating func expect(_ sha: String, type: String, what: String, link: Int) {
        guard let id = ContentID(hex: sha) else { problem(link, "\(what) has no valid object id (\(sha))"); return }
        objects[id, default: []].append((link, what))
        guard type == "uri_folder" else { return }
        do {
            let manifest = try workspace.store.manifest(id)
            for e in manifest.entries { if let f = e.sha256 { objects[f, default: []].append((link, "\(what)/\(e.path)")) } }
        } catch let e as StoreError {
            objects[id] = nil
            problem(link, e.code == .missingObject ? "\(what): the list of its files (object \(sha)) is missing from this clone's store"
                                                   : "\(what): the list of its files (object \(sha)) is damaged: \(e.message)")
            if e.code == .missingObject { missingManifests.insert(sha) }
        } catch {
            problem(link, "\(what): \(error)")
        }
    }
    var missingManifests: Set<String> = []

    func signature(_ commit: String) -> String {
        guard let check = try? workspace.signatureCheck(commit) else { return "cannot check" }
        guard check.isSigned else { return "unsigned" }
        return check.status + (check.signer.map { " by \($0)" } ?? "") + (check.key.map { " (key \($0))" } ?? "")
            + (check.detail.map { " - \($0)" } ?? "")
    }

    func commitText(_ info: CommitInfo) -> String {
        "\(info.id.hex.prefix(12)) \"\(info.message.split(separator: "\n").first ?? "")\" by \(info.author.name) <\(info.author.email)>, \(Timestamps.format(info.time))"
    }

    // MARK: model

    mutating func model(name: String, version: String) throws {
        auditedModels.insert("\(name):\(version)")
        let key = name + "/" + version
        guard let head = try workspace.git({ try workspace.ledger.head(.modelVersion, key) }) else {
            throw WorkspaceError(.invalidArgument, "model \(name):\(version) is not registered here", hint: "git ml model list shows what is")
        }
        let history = try workspace.git { try workspace.ledger.history(.modelVersion, key) }
        let first = history.last!
        let link = add("model \(name):\(version)", [("record", head.hex), ("first record", first == head ? nil : first.hex)])
        var records: [ModelVersion] = []
        for commit in history {
            do { records.append(try workspace.readModel(commit: commit)) } catch {
                problem(link, "record commit \(commit.short) holds no readable model.json (\(error))")
                return
            }
        }
        let m = records.last!, current = records.first!
        links[link].evidence += [.init(key: "type", value: m.type),
                                 .init(key: "registered", value: "\(Timestamps.format(m.created)) by \(m.user) on \(m.host)"),
                                 .init(key: "bytes", value: "\(m.artifact.type), \(m.artifact.files) file(s), \(m.artifact.size) bytes, sha256 \(m.artifact.sha256)"),
                                 .init(key: "signature", value: signature(first.hex))]
        if !m.artifact.hasSafeFileName {
            problem(link, "the record's file name '\(ModelNames.printable(m.artifact.fileName ?? ""))' is not one plain name (it is restored as 'model')")
        }
        if m.name != name || m.version != version {
            problem(link, "the record at refs/ml/models/\(key) says it is \(m.name):\(m.version)")
        }
        // What a version is never changes: later records (tags, description, stage) keep it.
        for (i, r) in records.enumerated().dropLast() where r.artifact != m.artifact || r.source != m.source || r.type != m.type || r.name != m.name {
            problem(link, "record \(history[i].short) changed the version's \(r.artifact != m.artifact ? "bytes" : r.source != m.source ? "source" : "identity") after it was registered (first record \(first.short))")
        }
        let required: Bool
        do { required = try workspace.repository.configBool("ml.requireSignedModels") ?? false } catch {
            required = true
            problem(link, "ml.requireSignedModels: \(error); signatures are checked as if it were true")
        }
        if required {
            let check = (try? workspace.signatureCheck(first.hex)) ?? SignatureCheck(status: "cannot check", code: "E")
            if !check.isValid {
                problem(link, "ml.requireSignedModels is set and the registration (record \(first.short)) is \(check.isSigned ? "signed, but the signature is \(check.status)" + (check.detail.map { ": \($0)" } ?? "") : "not signed")")
            }
        }
        expect(m.artifact.sha256, type: m.artifact.type, what: "model \(m.reference)", link: link)

        let firstInfo = try workspace.git { try repository.readCommit(first) }
        if let run = m.source.run {
            let made = m.source.runCommit.flatMap(ObjectID.init(hex:))
            let edge = add("model \(m.reference) <- run \(run)", [("run record", m.source.runCommit), ("output", [m.source.output, m.source.path].compactMap { $0 }.joined(separator: "/"))])
            if let made, firstInfo.parents.first != made {
                problem(edge, "the registration's parent is \(firstInfo.parents.first?.short ?? "none"), not the run record \(made.short) it names")
            }
            try self.run(run, madeAt: made, for: (m, edge))
        } else if let commit = m.source.commit {
            let edge = add("model \(m.reference) <- commit \(commit.prefix(12))", [("from", m.source.folder), ("file", m.source.file)])
            if firstInfo.parents.first?.hex != commit {
                problem(edge, "the registration's parent is \(firstInfo.parents.first?.short ?? "none"), not commit \(commit.prefix(12)) it names")
            }
            self.commit(commit, for: links[edge].name, into: edge)
        }
    }

    // MARK: run

    /// Audits a run: the record a model was made from (`madeAt`) against the record its ref
    /// holds now, its code commit, environment, inputs (and the runs that produced them) and outputs.
    mutating func run(_ id: String, madeAt: ObjectID?, for model: (ModelVersion, Int)?) throws {
        guard auditedRuns.insert(id).inserted, depth < 50 else { return }
        depth += 1
        defer { depth -= 1 }
        let link = add("run \(id)", [])
        guard let head = try workspace.git({ try workspace.ledger.head(.run, id) }) else {
            problem(link, "refs/ml/runs/\(id) is not in this repository (fetch the records: git ml pull)")
            return
        }
        // Read as stored, whatever run it names: a ref pointing at another run's record is a finding here.
        func read(_ commit: ObjectID) -> RunRecord? { try? workspace.readRecord(commit: commit) }
        guard let current = read(head) else {
            problem(link, "refs/ml/runs/\(id) points at \(head.short), which holds no readable run.json")
            return
        }
        if current.id != id {
            problem(link, "refs/ml/runs/\(id) points at commit \(head.short), which holds run \(current.id)")
        }
        var record = current
        if let madeAt, madeAt != head, let model {
            // The run's record moved after the model was registered: only what may change
            // later (tags, name, deletion; metrics and the end of a run still going) may differ.
            guard let made = read(madeAt) else {
                problem(link, "the run record \(madeAt.short) that model \(model.0.reference) was made from is not in this repository")
                return
            }
            let changed = Self.changedFields(made, current, madeWhileRunning: made.status == .running)
            if current.id == id {
                if changed.isEmpty {
                    links[link].evidence.append(.init(key: "amended", value: "its ref moved from \(madeAt.short) to \(head.short) (tags, name or end of run only)"))
                } else {
                    problem(link, "refs/ml/runs/\(id) moved from \(madeAt.short), the record model \(model.0.reference) was made from, to \(head.short), which changes \(changed.joined(separator: ", "))")
                }
            }
            if made.status != .running { record = made }
        }
        let info = try? workspace.git { try repository.readCommit(head) }
        links[link].evidence += [
            .init(key: "record", value: head.hex),
            .init(key: "status", value: record.status.rawValue + (record.exitCode.map { " (exit \($0))" } ?? "")),
            .init(key: "user", value: "\(record.user) on \(record.host)"),
            .init(key: "time", value: Timestamps.format(record.startTime) + (record.endTime.map { " - " + Timestamps.format($0) } ?? "")),
            .init(key: "command", value: record.command.joined(separator: " ")),
            .init(key: "signature", value: signature(head.hex)),
        ]
        if let first = info?.parents.first, first.hex != record.code.commit {
            problem(link, "the record commit's first parent is \(first.short), not the code commit \(record.code.commit.prefix(12)) it names")
        }
        if let info, let codeEntry = try? repository.readTree(info.tree).first(where: { $0.name == "code" }), codeEntry.id.hex != record.code.tree {
            problem(link, "the record holds code tree \(codeEntry.id.short), not the snapshot \(record.code.tree.prefix(12)) run.json names")
        }
        // The record's tree keeps each folder output's list of files: it must be the one run.json names.
        if let info {
            for o in record.outputs where o.type == "uri_folder" {
                if let stored = try? repository.readFile(in: info.tree, path: "outputs/\(o.name).json"), FileHashing.sha256(stored).hex != o.sha256 {
                    problem(link, "run.json names \(o.sha256.prefix(12)) for output \(o.name), but the record holds another list of its files (\(FileHashing.sha256(stored).hex.prefix(12)))")
                }
            }
        }
        if let (m, edge) = model { checkModelBytes(m, in: record, edge: edge) }

        // Code.
        let code = add("run \(id) <- commit \(record.code.commit.prefix(12))", [("snapshot", record.code.tree + (record.code.dirty ? " (dirty: \(record.code.changedPaths.count) changed path(s))" : ""))])
        commit(record.code.commit, for: links[code].name, into: code)
        if let commitID = ObjectID(hex: record.code.commit), let c = try? repository.readCommit(commitID), let tree = ObjectID(hex: record.code.tree) {
            if !record.code.dirty, c.tree != tree {
                problem(code, "the recorded snapshot \(tree.short) is not commit \(commitID.short)'s tree \(c.tree.short)")
            }
            if record.code.dirty, (try? repository.readTree(tree)) == nil {
                problem(code, "the dirty snapshot tree \(tree.short) is not in this repository")
            }
        }

        // Environment.
        if let env = record.environment {
            let e = add("run \(id) <- environment \(env.id.prefix(12))", [("name", env.name), ("id", env.id), ("lock", env.lock), ("python", env.python)])
            if let lock = env.lock { expect(lock, type: "uri_file", what: "environment lock", link: e) }
        }

        // Inputs, and the runs that produced them.
        var upstream: [String] = []
        var modelInputs: [(name: String, version: String, link: Int)] = []
        for input in record.inputs ?? [] {
            guard let sha = input.sha256 else { continue }
            let i = add("run \(id) <- input \(input.name)", [("type", input.type), ("from", input.asset ?? input.path), ("sha256", sha),
                                                             ("size", input.size.map { "\($0) bytes" + (input.files.map { ", \($0) file(s)" } ?? "") })])
            expect(sha, type: input.files != nil || input.type == "uri_folder" ? "uri_folder" : "uri_file", what: "input \(input.name) of run \(id)", link: i)
            if input.type.hasSuffix("_model"), let asset = input.asset, let ref = ModelReference.parse(asset), case .version(let v) = ref.selector {
                links[i].evidence.append(.init(key: "model version", value: "\(ref.name):\(v)"))
                modelInputs.append((ref.name, v, i))
            }
            do {
                for producer in try producers(of: sha) where producer != id {
                    links[i].evidence.append(.init(key: "produced by", value: "run \(producer)"))
                    upstream.append(producer)
                }
            } catch {
                problem(i, "the runs that produced it cannot be looked up: \(error)")
            }
        }
        // Outputs.
        for o in record.outputs {
            let l = add("run \(id) -> output \(o.name)", [("type", o.type), ("sha256", o.sha256), ("size", "\(o.size) bytes, \(o.files) file(s)")])
            expect(o.sha256, type: o.type, what: "output \(o.name) of run \(id)", link: l)
        }
        // Then the model versions and runs the inputs came from, each with its own chain.
        for m in modelInputs where auditedModels.insert("\(m.name):\(m.version)").inserted {
            do { try self.model(name: m.name, version: m.version) } catch {
                problem(m.link, "model \(m.name):\(m.version), which the run read, cannot be audited: \(error)")
            }
        }
        for producer in upstream { try self.run(producer, madeAt: nil, for: nil) }
    }

    /// The fields of a run record that must not change once a model was made from it.
    static func changedFields(_ a: RunRecord, _ b: RunRecord, madeWhileRunning: Bool) -> [String] {
        var out: [String] = []
        if a.code != b.code { out.append("code") }
        if a.command != b.command { out.append("command") }
        if a.startTime != b.startTime { out.append("start time") }
        if a.user != b.user || a.host != b.host { out.append("user") }
        if a.job != b.job { out.append("job") }
        if madeWhileRunning {
            // What the running record held already may not change either: its inputs and
            // environment (stored before the command started) and the params logged so far.
            if let inputs = a.inputs, inputs.contains(where: { $0.sha256 != nil }), inputs != b.inputs { out.append("inputs") }
            if a.environment != nil, a.environment != b.environment { out.append("environment") }
            if a.params.contains(where: { b.params[$0.key] != $0.value }) { out.append("params") }
            return out
        }
        if a.status != b.status || a.exitCode != b.exitCode { out.append("status") }
        if a.endTime != b.endTime { out.append("end time") }
        if a.inputs != b.inputs { out.append("inputs") }
        if a.outputs != b.outputs { out.append("outputs") }
        if a.environment != b.environment { out.append("environment") }
        if a.params != b.params { out.append("params") }
        if a.metrics != b.metrics { out.append("metrics") }
        return out
    }

    /// The model's bytes are the run's output at the path it names.
    mutating func checkModelBytes(_ m: ModelVersion, in record: RunRecord, edge: Int) {
        guard let outputName = m.source.output, let output = record.outputs.first(where: { $0.name == outputName }) else {
            problem(edge, "run \(record.id) has no output \(m.source.output ?? "?") to hold the model")
            return
        }
        let inside = m.source.path ?? ""
        if inside.isEmpty {
            if output.sha256 != m.artifact.sha256 { problem(edge, "the model's bytes (\(m.artifact.sha256.prefix(12))) are not output \(outputName) of run \(record.id) (\(output.sha256.prefix(12)))") }
            return
        }
        guard let id = ContentID(hex: output.sha256), let manifest = try? workspace.store.manifest(id) else { return }  // named as missing by the output's link
        if m.artifact.type == "uri_file" {
            if manifest.entries.first(where: { $0.path == inside })?.sha256?.hex != m.artifact.sha256 {
                problem(edge, "the model's file is not \(outputName)/\(inside) of run \(record.id)")
            }
            return
        }
        let prefix = inside + "/"
        let sub = Manifest(entries: manifest.entries.filter { $0.path.hasPrefix(prefix) }.map { e in
            var e = e
            e.path = String(e.path.dropFirst(prefix.count))
            return e
        })
        if (try? sub.encoded()).map(FileHashing.sha256)?.hex != m.artifact.sha256 {
            problem(edge, "the model's files are not \(outputName)/\(inside) of run \(record.id)")
        }
    }

    /// Runs that wrote these bytes (a whole output, or one file of one), from the index.
    func producers(of sha: String) throws -> [String] {
        let (index, _) = try workspace.openIndex()
        return try index.queue.read { db in
            try String.fetchAll(db, sql: "SELECT run_id FROM run_outputs WHERE sha256 = ? UNION SELECT run_id FROM output_files WHERE sha256 = ?",
                                arguments: [sha, sha])
        }
    }

    // MARK: commits and data

    mutating func commit(_ sha: String, for name: String, into existing: Int? = nil) {
        let link = existing ?? add(name, [])
        guard let id = ObjectID(hex: sha), let info = try? repository.readCommit(id) else {
            problem(link, "commit \(sha.prefix(12)) is not in this repository (git fetch brings it)")
            return
        }
        links[link].evidence += [.init(key: "commit", value: commitText(info)), .init(key: "commit signature", value: signature(sha))]
    }

    mutating func data(_ sha: String, name: String) {
        let link = add("data \(name)", [("sha256", sha)])
        let folder = (ContentID(hex: sha).flatMap { try? workspace.store.manifest($0) }) != nil
        expect(sha, type: folder ? "uri_folder" : "uri_file", what: "data \(name)", link: link)
        do {
            for producer in try producers(of: sha) {
                links[link].evidence.append(.init(key: "produced by", value: "run \(producer)"))
                try run(producer, madeAt: nil, for: nil)
            }
        } catch {
            problem(link, "the runs that produced it cannot be looked up: \(error)")
        }
    }

    // MARK: bytes

    mutating func finish(subject: String, verify: Bool, progress: (@Sendable (StoreProgress) -> Void)?) throws -> AuditReport {
        let ids = Array(objects.keys)
        var bytes: Int64 = 0
        var missing = Set(missingManifests)
        if verify {
            let failures = workspace.store.verify(ids, progress: progress)
            for (id, e) in failures {
                for owner in objects[id] ?? [] {
                    if e.code == .missingObject {
                        missing.insert(id.hex)
                        problem(owner.link, "\(owner.what): object \(id.hex) is missing from this clone's store")
                    } else {
                        problem(owner.link, "\(owner.what): object \(id.hex) is damaged (its bytes no longer hash to its id)")
                    }
                }
            }
        } else {
            for id in ids where !workspace.store.has(id) {
                missing.insert(id.hex)
                for owner in objects[id] ?? [] { problem(owner.link, "\(owner.what): object \(id.hex) is missing from this clone's store") }
            }
        }
        for id in ids {
            var st = stat()
            if stat(workspace.store.path(of: id), &st) == 0 { bytes += Int64(st.st_size) }
        }
        return AuditReport(subject: subject, verified: verify, links: links, objects: ids.count, bytes: bytes, missingObjects: missing.sorted())
    }
}
