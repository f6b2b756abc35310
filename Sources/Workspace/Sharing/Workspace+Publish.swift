import Foundation
import Synchronization
import GitKit
import ObjectStore

/// What `git ml push` did.
public struct PushReport: Sendable, Codable {
    public var remote: String
    public var objectRemote: String
    public var writer: String
    /// Records (refs under refs/ml/) published with this push.
    public var records: Int
    public var objects: TransferSummary
    /// The new head of `refs/ml/ledger/<writer>` on the remote; nil when there was nothing to publish.
    public var ledger: String?
    enum CodingKeys: String, CodingKey { case remote, objectRemote = "object_remote", writer, records, objects, ledger }
}

/// What `git ml fetch` and `git ml pull` did.
public struct PullReport: Sendable, Codable {
    public var remote: String
    public var objectRemote: String?
    /// Records created or moved here.
    public var records: Int
    /// Run ids that arrived or changed.
    public var runs: [String]
    /// Records changed both here and on the remote since the last exchange: each names the
    /// ref, and the remote's commit (kept at `refs/ml-remote/<remote>/conflicts/...`); yours is kept.
    public var conflicts: [String]
    public var objects: TransferSummary
    enum CodingKeys: String, CodingKey { case remote, objectRemote = "object_remote", records, runs, conflicts, objects }
}

/// What this clone knows a remote holds: each record's commit as last published or fetched,
/// and each writer's ledger head as far as it was applied here. A line-per-entry text file
/// under `.git/ml/remotes/` that each exchange appends its changes to (a later line wins);
/// rewritten whole, atomically, once it holds twice the lines it needs.
struct SyncState {
    var known: [String: String] = [:]
    var applied: [String: String] = [:]
    /// Lines the file holds (to know when to rewrite it).
    var lines = 0

    static func load(_ path: String) -> SyncState {
        var state = SyncState()
        guard let data = FileManager.default.contents(atPath: path) else { return state }
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != 0x0A { end += 1 }
                // `ref <40 hex> <ref>` or `head <writer> <40 hex>`; a line cut short by a crash is skipped.
                let line = bytes[start..<end]
                if end < bytes.count, let first = line.firstIndex(of: 0x20), let second = line[(first + 1)...].firstIndex(of: 0x20) {
                    let kind = String(decoding: line[start..<first], as: UTF8.self)
                    let a = String(decoding: line[(first + 1)..<second], as: UTF8.self)
                    let b = String(decoding: line[(second + 1)...], as: UTF8.self)
                    if kind == "ref" { state.known[b] = a } else if kind == "head" { state.applied[a] = b }
                    state.lines += 1
                }
                start = end + 1
            }
        }
        return state
    }

    static func refLine(_ ref: String, _ commit: String) -> String { "ref \(commit) \(ref)\n" }
    static func headLine(_ writer: String, _ head: String) -> String { "head \(writer) \(head)\n" }

    func text() -> Data {
        var out = ""
        out.reserveCapacity(known.count * 100)
        for (writer, head) in applied.sorted(by: { $0.key < $1.key }) { out += Self.headLine(writer, head) }
        for (ref, commit) in known { out += Self.refLine(ref, commit) }
        return Data(out.utf8)
    }
}

/// One commit of a writer's ledger: the records it published and the objects they name.
struct LedgerEntry {
    var previous: ObjectID?
    var records: [(commit: ObjectID, ref: String)] = []
    var objects: [String: Int64] = [:]

    static let file = "ledger"

    func text(writer: String) -> Data {
        var out = "git-ml ledger 1\nwriter \(writer)\n"
        if let previous { out += "previous \(previous.hex)\n" }
        for r in records { out += "record \(r.commit.hex) \(r.ref)\n" }
        for (oid, size) in objects.sorted(by: { $0.key < $1.key }) { out += "object \(oid) \(size)\n" }
        return Data(out.utf8)
    }

    static func parse(_ data: Data) -> LedgerEntry? {
        var entry = LedgerEntry()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        guard lines.first == "git-ml ledger 1" else { return nil }
        for line in lines.dropFirst() {
            let parts = line.split(separator: " ", maxSplits: 2)
            switch parts.first {
            case "previous" where parts.count == 2: entry.previous = ObjectID(hex: String(parts[1]))
            case "record" where parts.count == 3:
                if let c = ObjectID(hex: String(parts[1])) { entry.records.append((c, String(parts[2]))) }
            case "object" where parts.count == 3: entry.objects[String(parts[1])] = Int64(parts[2])
            default: continue
            }
        }
        return entry
    }
}

/// Which data pointers' objects a push sends beside the records'.
public enum PushedData: Sendable {
    /// The pointers in the work tree (`git ml push`).
    case workTree
    /// The pointers in these commits' trees (the pre-push hook: the commits being pushed, by id).
    case commits([String])
}

extension Workspace {
    /// Record refs a ledger may carry: the ledger's record kinds, nothing else.
    static let publishedPrefixes = ["refs/ml/runs/", "refs/ml/experiments/", "refs/ml/envs/", "refs/ml/data/",
                                    "refs/ml/models/", "refs/ml/registered-models/", "refs/ml/model-aliases/"]

    /// The remote a command uses when none is named: the current branch's, else `origin`, else the only one.
    public func defaultRemote() throws -> String {
        if let branch = repository.headBranch(), let r = repository.configString("branch.\(branch).remote") { return r }
        let remotes = gitRemotes()
        if remotes["origin"] != nil { return "origin" }
        if remotes.count == 1 { return remotes.keys.first! }
        throw WorkspaceError(.invalidArgument, remotes.isEmpty ? "this repository has no git remote" : "which remote? this repository has \(remotes.keys.sorted().joined(separator: ", "))",
                             hint: remotes.isEmpty ? "add one: git remote add origin URL" : "name it: git ml push REMOTE")
    }

    /// This clone's ledger name on remotes: `ml.writer` from git config, else the user's
    /// email (each writer's records go to `refs/ml/ledger/<writer>`).
    public func writerName() -> String {
        let raw = repository.configString("ml.writer") ?? repository.configuredUser()?.email ?? "\(environment["USER"] ?? "git-ml")@\(Host.name)"
        var name = String(raw.map { $0.isLetter || $0.isNumber || "@._-+".contains($0) ? $0 : "-" })
        while name.hasPrefix(".") || name.hasPrefix("-") { name.removeFirst() }
        while name.hasSuffix(".") || name.hasSuffix(".lock") { name = String(name.dropLast(name.hasSuffix(".lock") ? 5 : 1)) }
        name = name.replacingOccurrences(of: "..", with: "-").replacingOccurrences(of: "@{", with: "@-")
        return name.isEmpty ? "git-ml" : name
    }

    func syncStatePath(_ remote: String) -> String { stateDirectory + "/remotes/" + remoteKey(remote) + ".sync" }

    /// Records what changed in `state` since it was loaded (`changes`: the lines to add), appending
    /// them, or rewriting the file once it holds twice the lines it needs.
    func saveSyncState(_ state: SyncState, changes: String, remote: String) throws {
        guard !changes.isEmpty else { return }
        try FileManager.default.createDirectory(atPath: stateDirectory + "/remotes", withIntermediateDirectories: true)
        let path = syncStatePath(remote)
        let added = changes.utf8.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        if state.lines + added > 2 * (state.known.count + state.applied.count) + 1000 {
            try writeFileAtomically(state.text(), to: path)
            return
        }
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WorkspaceError(.storage, "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let data = Array(changes.utf8)
        var offset = 0
        while offset < data.count {
            let n = data[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw WorkspaceError(.storage, "cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
        fsync(fd)
    }

    /// Where fetched ledger heads of `remote` are kept here.
    func remoteLedgerPrefix(_ remote: String) -> String { "refs/ml-remote/\(remoteKey(remote))/ledger/" }

    /// Fetches every writer's ledger head from `remote` with git's own transport.
    func fetchLedgers(_ remote: String) throws {
        // Negotiated from the ledger heads fetched before, not from every per-record ref here.
        var arguments = ["fetch", "--no-tags", "--no-write-fetch-head", "--quiet"]
        if !(try git { try repository.references(withPrefix: remoteLedgerPrefix(remote)) }).isEmpty {
            arguments.append("--negotiation-tip=\(remoteLedgerPrefix(remote))*")
        }
        let r = try gitProgram.run(arguments + [remote, "+refs/ml/ledger/*:\(remoteLedgerPrefix(remote))*"])
        guard r.succeeded else {
            throw WorkspaceError(.storage, "git fetch of the records from \(remote) failed: \(Self.firstLines(r.error))",
                                 hint: "check that the remote is reachable: git ls-remote \(remote)")
        }
    }

    static func firstLines(_ text: String) -> String {
        text.split(separator: "\n").prefix(3).joined(separator: " / ").trimmingCharacters(in: .whitespaces)
    }

    // MARK: push

    /// The pre-push hook: `hookInput` is what git writes on the hook's input, a line
    /// `<local ref> <local sha> <remote ref> <remote sha>` for each ref it pushes. Sends the
    /// objects the pushed commits' data pointers name and publishes the records; nil when
    /// there is nothing to do (the push is git-ml's own, or push_records is off).
    public func prePush(remote: String, hookInput: String,
                        progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> PushReport? {
        if environment["GITML_HOOK_ACTIVE"] != nil { return nil }
        guard try config().pushRecords else { return nil }
        let pushed = hookInput.split(separator: "\n").compactMap { line -> String? in
            let parts = line.split(separator: " ")
            guard parts.count >= 2, parts[1].contains(where: { $0 != "0" }) else { return nil }
            return String(parts[1])
        }
        return try pushRecords(remote: remote, data: .commits(pushed), progress: progress)
    }

    /// Publishes every record that changed since the last exchange with `remote`: first the
    /// objects they name go to the object remote (only those it lacks), then one ledger commit
    /// (parents: the writer's previous ledger head and the new record commits) goes to
    /// `refs/ml/ledger/<writer>` with `git push`. A push that loses a race with another push
    /// of the same writer fetches and tries again; nothing is overwritten.
    public func pushRecords(remote: String, data: PushedData = .workTree,
                            progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> PushReport {
        var extraObjects: [NamedObject]
        switch data {
        case .workTree: extraObjects = try workTreePointerObjects()
        case .commits(let commits): extraObjects = try commits.compactMap { ObjectID(hex: $0) }.filter { repository.contains($0) }.flatMap { try pointerObjects(inCommit: $0) }
        }
        let writer = writerName()
        var state = SyncState.load(syncStatePath(remote))
        let local = try git { try repository.references(withPrefix: "refs/ml/") }
            .filter { ref in Self.publishedPrefixes.contains { ref.name.hasPrefix($0) } }
        let fresh = local.filter { state.known[$0.name] != $0.target.hex }.sorted { $0.name < $1.name }
        var report = PushReport(remote: remote, objectRemote: "", writer: writer, records: 0, objects: TransferSummary(), ledger: nil)
        if fresh.isEmpty && extraObjects.isEmpty { return report }

        // Objects first: a record never arrives before what it names.
        var named = extraObjects
        for ref in fresh { named += try namedObjects(ref: ref.name, commit: ref.target) }
        let (objects, missing) = localObjects(named)
        if !missing.isEmpty {
            throw WorkspaceError(.storage, "\(missing.count) object(s) the records name are not in this repository's store, so nothing was pushed: "
                + missing.prefix(5).joined(separator: "; ") + (missing.count > 5 ? "; ..." : ""),
                hint: "fetch them first (git ml pull), or run git ml fsck to see what is damaged")
        }
        let info = try objectRemote(named: remote)
        report.objectRemote = "\(info.type) \(info.location)"
        if !objects.isEmpty {
            do {
                report.objects = try ObjectTransfer(store: store, remote: makeObjectRemote(info)).push(objects, progress: progress)
            } catch let e as RemoteError {
                throw WorkspaceError(.storage, e.message + "; no record was published", hint: "run git ml push \(remote) again once the remote answers: what was sent is not sent twice")
            }
        }
        guard !fresh.isEmpty else { return report }

        // Top-level object sizes go into the ledger, so a puller can ask for them by size.
        var sizes: [String: Int64] = [:]
        for n in named { if let id = ContentID(hex: n.sha256) { var st = stat(); if stat(store.path(of: id), &st) == 0 { sizes[id.hex] = Int64(st.st_size) } } }
        let headRef = remoteLedgerPrefix(remote) + writer
        var attempt = 0
        while true {
            attempt += 1
            // The ledger head pushed or fetched last is the parent; only when there is none, or the
            // remote refused (another clone of this writer pushed since), is the remote asked.
            if try attempt > 1 || git({ try repository.referenceTarget(headRef) }) == nil { try fetchLedgers(remote) }
            let parent = try git { try repository.referenceTarget(headRef) }
            let tip = try writeLedgerCommits(writer: writer, parent: parent, records: fresh.map { ($0.target, $0.name) }, sizes: sizes)
            let r = try gitProgram.run(["push", "--quiet", "--no-verify", remote, "\(tip.hex):refs/ml/ledger/\(writer)"])
            if r.succeeded {
                try git { try repository.updateReference(headRef, to: tip, expected: parent, message: "git-ml: pushed ledger") }
                var changes = ""
                for ref in fresh {
                    state.known[ref.name] = ref.target.hex
                    changes += SyncState.refLine(ref.name, ref.target.hex)
                }
                if state.applied[writer] == parent?.hex {
                    state.applied[writer] = tip.hex
                    changes += SyncState.headLine(writer, tip.hex)
                }
                try saveSyncState(state, changes: changes, remote: remote)
                report.records = fresh.count
                report.ledger = tip.hex
                return report
            }
            let rejected = r.error.contains("rejected") || r.error.contains("fetch first") || r.error.contains("non-fast-forward")
            if !rejected || attempt >= 8 {
                throw WorkspaceError(.storage, "git push of the records to \(remote) failed: \(Self.firstLines(r.error))"
                    + (report.objects.transferred > 0 ? " (the \(report.objects.transferred) object(s) sent stay on \(report.objectRemote))" : ""),
                    hint: "check that you may push to \(remote), then run git ml push \(remote) again")
            }
        }
    }

    /// Writes the ledger commits for `records` on top of `parent` (a thousand records a
    /// commit), returning the last.
    func writeLedgerCommits(writer: String, parent: ObjectID?, records: [(ObjectID, String)], sizes: [String: Int64]) throws -> ObjectID {
        var head = parent
        let chunks = stride(from: 0, to: records.count, by: 1000).map { Array(records[$0..<min(records.count, $0 + 1000)]) }
        for chunk in chunks {
            var entry = LedgerEntry(previous: head)
            entry.records = chunk.map { ($0.0, $0.1) }
            var seen = Set<ObjectID>()
            var parents = head.map { [$0] } ?? []
            for (commit, _) in chunk where seen.insert(commit).inserted && commit != head { parents.append(commit) }
            if chunk.count == records.count { entry.objects = sizes }
            head = try git {
                let blob = try repository.writeBlob(entry.text(writer: writer))
                let tree = try repository.writeTree([TreeEntry(name: LedgerEntry.file, id: blob, mode: .blob)])
                // Dated as its newest record, not now: git's walks (a push's, the remote's connectivity
                // check) go through commits newer than what they look for, so a ledger commit of old
                // records (a first publish of many runs) is never walked by a later push.
                let newest = try parents.dropFirst(head == nil ? 0 : 1).map { try repository.readCommit($0).time }.max() ?? Date()
                return try repository.createCommit(tree: tree, parents: parents, message: "git-ml ledger \(writer): \(chunk.count) record(s)",
                                                   author: signature, time: newest, signer: nil)
            }
        }
        return head!
    }

    // MARK: fetch and pull

    /// Fetches every writer's ledger from `remote` and brings the records here: a record
    /// new here is created; one unchanged here since the last exchange, or behind, moves to
    /// the remote's; one changed on both sides keeps yours and is reported. Runs that
    /// arrive get their line in `refs/notes/ml`.
    func fetchRecords(remote: String) throws -> (report: PullReport, objects: [NamedObject], sizes: [String: Int64]) {
        // The sync state (a line a record: 10 MB with 100,000 runs) is read while git fetches.
        let path = syncStatePath(remote)
        let loaded = Mutex<SyncState?>(nil), done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let state = SyncState.load(path)
            loaded.withLock { $0 = state }
            done.signal()
        }
        let fetched = Result { try fetchLedgers(remote) }
        PerfTrace.mark("pull: ledgers fetched")
        done.wait()
        var state = loaded.withLock { $0 }!
        PerfTrace.mark("pull: sync state loaded (\(state.known.count) records)")
        try fetched.get()
        var changes = ""
        var report = PullReport(remote: remote, objectRemote: nil, records: 0, runs: [], conflicts: [], objects: TransferSummary())
        var named: [NamedObject] = [], sizes: [String: Int64] = [:]
        var arrivedRuns: [String] = []
        var arrivedRecords: [RunRecord] = []
        let prefix = remoteLedgerPrefix(remote)
        for head in try git({ try repository.references(withPrefix: prefix) }).sorted(by: { $0.name < $1.name }) {
            let writer = String(head.name.dropFirst(prefix.count))
            if state.applied[writer] == head.target.hex { continue }
            // The writer's ledger commits since the last one applied here, oldest first.
            var chain: [LedgerEntry] = []
            var next: ObjectID? = head.target
            while let commit = next, commit.hex != state.applied[writer] {
                let tree = try git { try repository.readCommit(commit).tree }
                guard let data = try git({ try repository.readFile(in: tree, path: LedgerEntry.file) }), let entry = LedgerEntry.parse(data) else {
                    throw WorkspaceError(.storage, "\(head.name) holds commit \(commit.short), which is not a git-ml ledger commit",
                                         hint: "ask the writer \(writer) to push again with git ml push")
                }
                chain.append(entry)
                next = entry.previous
            }
            for entry in chain.reversed() {
                sizes.merge(entry.objects) { a, _ in a }
                for (commit, ref) in entry.records {
                    guard Self.publishedPrefixes.contains(where: { ref.hasPrefix($0) }), !ref.contains("..") else { continue }
                    let before = state.known[ref]
                    state.known[ref] = commit.hex
                    if before != commit.hex { changes += SyncState.refLine(ref, commit.hex) }
                    switch try applyRecord(ref: ref, commit: commit, lastKnown: before, remote: remote) {
                    case .unchanged: continue
                    case .kept(let why): report.conflicts.append("\(ref): \(why)")
                    case .moved:
                        report.records += 1
                        if ref.hasPrefix(RecordKind.run.refPrefix) {
                            // A run is read once: for the objects it names and for its note line.
                            arrivedRuns.append(String(ref.dropFirst(RecordKind.run.refPrefix.count)))
                            if let record = try? readRecord(commit: commit) {
                                arrivedRecords.append(record)
                                named += namedObjects(of: record)
                            }
                        } else {
                            named += (try? namedObjects(ref: ref, commit: commit)) ?? []
                        }
                    }
                }
            }
            state.applied[writer] = head.target.hex
            changes += SyncState.headLine(writer, head.target.hex)
        }
        PerfTrace.mark("pull: records applied")
        try saveSyncState(state, changes: changes, remote: remote)
        PerfTrace.mark("pull: sync state saved")
        // Runs that arrive get their lines in refs/notes/ml: one note update a code commit.
        try? Self.writeNotes(for: arrivedRecords, in: repository, author: signature)
        PerfTrace.mark("pull: notes written")
        report.runs = arrivedRuns
        if arrivedRuns.count > 1000 {
            // Many refs arrived: pack them, and give git a commit-graph so that its later walks
            // (every fetch's check that what arrived is connected) need not parse each record commit.
            _ = try? gitProgram.run(["pack-refs", "--all"])
            _ = try? gitProgram.run(["commit-graph", "write", "--reachable", "--split"])
        }
        return (report, named, sizes)
    }

    enum ApplyOutcome { case unchanged, moved, kept(String) }

    /// Brings one published record here, never losing a change made here.
    func applyRecord(ref: String, commit: ObjectID, lastKnown: String?, remote: String) throws -> ApplyOutcome {
        let local = try git { try repository.referenceTarget(ref) }
        if local == commit { return .unchanged }
        guard try git({ repository.contains(commit) }) else {
            throw WorkspaceError(.storage, "the ledger of \(remote) names \(ref) at \(commit.short), which git did not fetch", hint: "run git ml fetch \(remote) again")
        }
        if let local {
            let fastForward = try local.hex == lastKnown || (git { try repository.isAncestor(local, of: commit) })
            if !fastForward {
                if try git({ try repository.isAncestor(commit, of: local) }) { return .unchanged }
                let keep = "refs/ml-remote/\(remoteKey(remote))/conflicts/" + ref.dropFirst("refs/ml/".count)
                try git { try repository.updateReference(keep, to: commit, expected: try repository.referenceTarget(keep), message: "git-ml: diverged record") }
                return .kept("changed here and on \(remote); yours is kept, theirs is at \(keep)")
            }
        }
        try git { try repository.updateReference(ref, to: commit, expected: local, message: "git-ml: from \(remote)") }
        return .moved
    }

    /// `git ml pull`: the records, then the objects of the records that arrived and of the
    /// data pointers in the work tree that this store lacks, verified as they arrive.
    public func pull(remote: String, records recordsOnly: Bool = false,
                     progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> PullReport {
        var (report, named, sizes) = try fetchRecords(remote: remote)
        // Objects an earlier pull did not get (interrupted, or refused as corrupted) are wanted still.
        let pendingPath = stateDirectory + "/remotes/" + remoteKey(remote) + ".pending"
        let pending = Self.readPending(pendingPath)
        named += pending.named
        sizes.merge(pending.sizes) { a, _ in a }
        if recordsOnly {
            try Self.writePending(named, sizes: sizes, to: pendingPath)
            return report
        }
        named += (try? workTreePointerObjects()) ?? []
        let info = try objectRemote(named: remote)
        report.objectRemote = "\(info.type) \(info.location)"
        try Self.writePending(named, sizes: sizes, to: pendingPath)
        report.objects = try fetchObjects(named, sizes: sizes, from: info, progress: progress)
        unlink(pendingPath)
        return report
    }

    /// The objects a pull still has to fetch: `sha256 folder size owner` a line.
    static func writePending(_ named: [NamedObject], sizes: [String: Int64], to path: String) throws {
        guard !named.isEmpty else { return }
        var text = ""
        for n in Set(named) { text += "\(n.sha256) \(n.folder ? 1 : 0) \(n.size ?? sizes[n.sha256] ?? -1) \(n.owner)\n" }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try writeFileAtomically(Data(text.utf8), to: path)
    }

    static func readPending(_ path: String) -> (named: [NamedObject], sizes: [String: Int64]) {
        guard let data = FileManager.default.contents(atPath: path) else { return ([], [:]) }
        var named: [NamedObject] = [], sizes: [String: Int64] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let p = line.split(separator: " ", maxSplits: 3)
            guard p.count == 4, let size = Int64(p[2]) else { continue }
            named.append(NamedObject(sha256: String(p[0]), folder: p[1] == "1", size: size >= 0 ? size : nil, owner: String(p[3])))
            if size >= 0 { sizes[String(p[0])] = size }
        }
        return (named, sizes)
    }

    /// Fetches the objects `named` lists that this store lacks: files and folders' lists
    /// first, then the files those lists name.
    func fetchObjects(_ named: [NamedObject], sizes: [String: Int64], from info: ObjectRemoteInfo,
                      progress: (@Sendable (StoreProgress) -> Void)?) throws -> TransferSummary {
        let transfer = ObjectTransfer(store: store, remote: makeObjectRemote(info))
        var first: [RemoteObject] = []
        for n in Set(named) {
            guard let id = ContentID(hex: n.sha256) else { continue }
            first.append(RemoteObject(id: id, size: n.size ?? sizes[id.hex] ?? 0))
        }
        do {
            var summary = try transfer.pull(first, progress: nil)
            var second: [RemoteObject] = []
            for n in Set(named) where n.folder {
                guard let id = ContentID(hex: n.sha256), let manifest = try? store.manifest(id) else { continue }
                for e in manifest.entries { if let sha = e.sha256 { second.append(RemoteObject(id: sha, size: e.size)) } }
            }
            let more = try transfer.pull(second, progress: progress)
            summary.transferred += more.transferred
            summary.bytes += more.bytes
            summary.alreadyThere += more.alreadyThere
            return summary
        } catch let e as RemoteError {
            throw WorkspaceError(.storage, e.message, hint: "the records arrived; run git ml pull again to fetch the rest (what arrived is kept)")
        }
    }
}
