import Foundation
import GitKit

/// A file or folder of a record commit's tree, as a writer gives it.
enum RecordFile {
    /// Bytes stored as a blob.
    case data(Data)
    /// A file's bytes stored unchanged (no work-tree filters), streamed when large.
    case file(path: String)
    /// An object already in git (a code snapshot's tree, an unchanged blob).
    case object(ObjectID, FileMode)
    /// A folder of further entries.
    case folder([String: RecordFile])
}

/// What one record commit holds: the kind's document, the other files of its tree, and
/// its declared parents (a run's code commit; a model version's producing run).
struct RecordContent {
    var document: Data
    var files: [String: RecordFile] = [:]
    var parents: [ObjectID] = []
    var message: String
    var time = Date()
    /// Sign the commit with the user's git signing setup (`git ml run --sign`).
    var sign = false
}

/// What a write expects of the record's ref.
enum RecordExpectation {
    /// The record must not exist yet (a new run, a new version).
    case absent
    /// The ref must still point at this commit (the writer owns the record, as a running run does).
    case at(ObjectID)
    /// Whatever the ref holds now: the content is made again from it when another
    /// writer got there first (compare-and-swap, retried).
    case latest
}

/// The one store of records under `refs/ml/*`: "blob, tree, commit, compare-and-swap the
/// ref" and "read the document of a record commit" live here once, for every `RecordKind`.
///
/// Uses the workspace's repository handle, so it is one thread's at a time like the
/// `Workspace` that makes it. Two processes writing the same record never lose an
/// update: refs move by compare-and-swap under libgit2's lock file.
struct Ledger {
    let repository: Repository
    let author: Signature
    /// Signs a record commit's bytes when its content asks for it (`RecordContent.sign`).
    var signer: ((Data) throws -> String)? = nil

    // MARK: reading

    /// The commit a record's ref points at, or nil.
    func head(_ kind: RecordKind, _ key: String) throws -> ObjectID? {
        try repository.referenceTarget(kind.ref(key))
    }

    /// Every record of a kind (keys under `prefix`, e.g. `churn/` for one name's versions),
    /// in no particular order.
    func list(_ kind: RecordKind, under prefix: String = "") throws -> [(key: String, commit: ObjectID)] {
        try repository.references(withPrefix: kind.refPrefix + prefix)
            .map { (String($0.name.dropFirst(kind.refPrefix.count)), $0.target) }
    }

    /// The kind's document in a record commit; an error naming the record when it is missing.
    func document(_ kind: RecordKind, at commit: ObjectID) throws -> Data {
        let info = try repository.readCommit(commit)
        guard let data = try repository.readFile(in: info.tree, path: kind.document) else {
            throw WorkspaceError(.storage, "\(kind) record \(commit.short) has no \(kind.document)",
                                 hint: "run git ml fsck to list damaged records")
        }
        return data
    }

    /// The document decoded as JSON; an error naming the record when it cannot be read.
    func decode<T: Decodable>(_ type: T.Type, _ kind: RecordKind, at commit: ObjectID) throws -> T {
        let data = try document(kind, at: commit)
        do {
            return try Workspace.recordDecoder.decode(type, from: data)
        } catch {
            throw WorkspaceError(.storage, "\(kind.document) in \(kind) record \(commit.short) cannot be read: \(error)",
                                 hint: "run git ml fsck to list damaged records")
        }
    }

    /// Another file of a record commit's tree (`lock.txt`, `outputs/model.json`), or nil.
    func file(at commit: ObjectID, path: String) throws -> Data? {
        try repository.readFile(in: try repository.readCommit(commit).tree, path: path)
    }

    /// A record commit's content as a writer would give it again: its files kept as the
    /// objects they are, its parents as they are (for a record amended in place).
    func content(at commit: ObjectID, _ kind: RecordKind) throws -> RecordContent {
        let info = try repository.readCommit(commit)
        var files: [String: RecordFile] = [:]
        var document = Data()
        for entry in try repository.readTree(info.tree) {
            if entry.name == kind.document { document = try repository.readBlob(entry.id); continue }
            files[entry.name] = .object(entry.id, entry.mode)
        }
        return RecordContent(document: document, files: files, parents: kind.chainsHistory ? [] : info.parents,
                             message: info.message, time: info.time)
    }

    /// Every state a record went through, newest first: the chain of previous records for
    /// a kind that chains its history, else the current one alone. The chain ends at the
    /// first record, whose parents are the ones it declared (a model version's run), not
    /// records of its kind.
    func history(_ kind: RecordKind, _ key: String) throws -> [ObjectID] {
        guard var commit = try head(kind, key) else { return [] }
        var out = [commit]
        guard kind.chainsHistory else { return out }
        while let previous = try repository.readCommit(commit).parents.last, out.count < 100_000 {
            // A record commit holds the kind's document and was written by git-ml (its message
            // says so); a code commit that happens to hold a file of that name is a declared parent.
            let info = try repository.readCommit(previous)
            guard info.message.hasPrefix("git-ml "), try repository.readFile(in: info.tree, path: kind.document) != nil else { break }
            out.append(previous)
            commit = previous
        }
        return out
    }

    // MARK: writing

    /// Writes a record: `make` gets the ref's current commit (nil when absent) and returns
    /// the content, or nil to leave the record as it is. Returns the record's commit.
    ///
    /// A kind that chains its history gets the current commit as the last parent; it may
    /// declare parents of its own on its first record only (later ones reach them through
    /// the chain). With
    /// `.latest`, a write that loses a race to another writer is made again from the new
    /// current commit; with `.absent` and `.at`, it fails with the conflict.
    @discardableResult
    func write(_ kind: RecordKind, _ key: String, expecting expectation: RecordExpectation,
               _ make: (ObjectID?) throws -> RecordContent?) throws -> ObjectID {
        let ref = kind.ref(key)
        func attempt() throws -> ObjectID {
            let current = try repository.referenceTarget(ref)
            switch expectation {
            case .absent where current != nil:
                throw GitError(code: .exists, operation: "create \(ref)", message: "the record exists already")
            case .at(let expected) where current != expected:
                throw GitError(code: .modified, operation: "update \(ref)", message: "the record was changed by another writer")
            default: break
            }
            guard let content = try make(current) else {
                guard let current else { throw WorkspaceError(.storage, "no \(kind) record \(key) to keep") }
                return current
            }
            precondition(!kind.chainsHistory || current == nil || content.parents.isEmpty,
                         "a kind that chains its history declares parents on its first record only")
            var entries = try treeEntries(content.files)
            entries.append(TreeEntry(name: kind.document, id: try repository.writeBlob(content.document), mode: .blob))
            let tree = try repository.writeTree(entries)
            var parents = content.parents
            if kind.chainsHistory, let current {
                // An identical record is not written twice.
                if try repository.readCommit(current).tree == tree { return current }
                parents.append(current)
            }
            if content.sign && signer == nil {
                throw WorkspaceError(.invalidArgument, "cannot sign the \(kind) record: no signer", hint: "set user.signingkey in git config")
            }
            // Every record's message starts with `git-ml `: `history` tells records from code commits by it.
            let message = content.message.hasPrefix("git-ml ") ? content.message : "git-ml \(kind) \(key): " + content.message
            let commit = try repository.createCommit(tree: tree, parents: parents, message: message,
                                                     author: author, time: content.time, signer: content.sign ? signer : nil)
            do {
                try repository.updateReference(ref, to: commit, expected: current, message: "git-ml: \(kind) \(key)")
            } catch let e as GitError where e.code == .modified && current == nil {
                // libgit2 reports a ref created by another writer first as "modified".
                throw GitError(code: .exists, operation: e.operation, message: "another writer created it first")
            }
            return commit
        }
        switch expectation {
        case .latest: return try repository.retryingOnContention(attempt)
        case .absent, .at:
            // Only a held lock file is worth waiting for; a moved or existing ref is the caller's conflict.
            var tries = 0
            while true {
                do { return try attempt() } catch let e as GitError where e.code == .locked && tries < 400 {
                    tries += 1
                    usleep(UInt32.random(in: 500...4_000))
                }
            }
        }
    }

    /// Writes the next version of `name` (`<name>/<version>`): one more than the highest
    /// numeric version recorded. Two writers at the same moment never get the same
    /// version: the ref is created only if absent, and a writer that loses counts again.
    func writeNextVersion(_ kind: RecordKind, name: String,
                          _ make: (_ version: String) throws -> RecordContent) throws -> (version: String, commit: ObjectID) {
        var tries = 0
        while true {
            let version = String(try latestNumericVersion(kind, name: name) + 1)
            do {
                let commit = try write(kind, name + "/" + version, expecting: .absent) { _ in try make(version) }
                return (version, commit)
            } catch let e as GitError where e.code == .exists && tries < 1000 {
                tries += 1
            }
        }
    }

    /// Points `<name>/<next version>` at a record commit that `make` writes for that version (a
    /// registered environment name at its environment's record), with `writeNextVersion`'s
    /// guarantee: a writer that loses the race counts again. `alsoCounting` names kinds whose
    /// versions of `name` count too (an older ref layout of the same names).
    func linkNextVersion(_ kind: RecordKind, name: String, alsoCounting others: [RecordKind] = [],
                         _ make: (_ version: String) throws -> ObjectID) throws -> (version: String, commit: ObjectID) {
        var tries = 0
        while true {
            let latest = try ([kind] + others).map { try latestNumericVersion($0, name: name) }.max() ?? 0
            let version = String(latest + 1)
            let commit = try make(version)
            do {
                try link(kind, name + "/" + version, to: commit, expecting: nil)
                return (version, commit)
            } catch let e as GitError where e.isContention && tries < 1000 {
                // Another writer took this version first, or holds its ref's lock at this
                // moment (it may yet fail and leave the version free): count again.
                tries += 1
                if e.code == .locked { usleep(UInt32.random(in: 500...4_000)) }
            }
        }
    }

    /// The highest numeric version recorded under `name` (0 when none).
    func latestNumericVersion(_ kind: RecordKind, name: String) throws -> Int {
        try list(kind, under: name + "/").compactMap { Int($0.key.dropFirst(name.count + 1)) }.max() ?? 0
    }

    /// Points a record's ref at an existing record commit (a registered name at an environment).
    func link(_ kind: RecordKind, _ key: String, to commit: ObjectID, expecting expected: ObjectID?) throws {
        try repository.updateReference(kind.ref(key), to: commit, expected: expected, message: "git-ml: \(kind) \(key)")
    }

    private func treeEntries(_ files: [String: RecordFile]) throws -> [TreeEntry] {
        try files.sorted { $0.key < $1.key }.map { name, file in
            switch file {
            case .data(let data): return TreeEntry(name: name, id: try repository.writeBlob(data), mode: .blob)
            case .file(let path): return TreeEntry(name: name, id: try repository.writeBlob(fileAt: path), mode: .blob)
            case .object(let id, let mode): return TreeEntry(name: name, id: id, mode: mode)
            case .folder(let inner): return TreeEntry(name: name, id: try repository.writeTree(try treeEntries(inner)), mode: .tree)
            }
        }
    }
}

extension Workspace {
    /// The ledger over this workspace's repository, committing as the workspace's user.
    var ledger: Ledger { Ledger(repository: repository, author: signature, signer: { try self.signCommit($0) }) }

    /// JSON as records store it: sorted keys, indented, slashes unescaped.
    static func recordJSON<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Timestamps.format(date))
        }
        return try encoder.encode(value)
    }

    /// Reads what `recordJSON` writes (dates as RFC 3339 text).
    static var recordDecoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = Timestamps.parse(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a timestamp: \(text)")
            }
            return date
        }
        return d
    }
}
