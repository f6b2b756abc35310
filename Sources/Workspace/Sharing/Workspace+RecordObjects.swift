import Foundation
import GitKit
import ObjectStore

/// An object a record or a data pointer names: a file's bytes, or a folder's manifest
/// (whose files come with it).
struct NamedObject: Hashable {
    var sha256: String
    var folder: Bool
    /// The size when the namer knows it (a file's); a manifest's own size is the store's to tell.
    var size: Int64?
    /// Who names it, for messages: `run 0192ab... output model`.
    var owner: String

    static func == (a: NamedObject, b: NamedObject) -> Bool { a.sha256 == b.sha256 && a.folder == b.folder }
    func hash(into h: inout Hasher) { h.combine(sha256); h.combine(folder) }
}

extension Workspace {
    /// The objects the record at `ref` (commit `commit`) names: a run's outputs, inputs and
    /// environment lock; a model version's files; a data asset's bytes. Other kinds name none.
    func namedObjects(ref: String, commit: ObjectID) throws -> [NamedObject] {
        if ref.hasPrefix(RecordKind.run.refPrefix) { return namedObjects(of: try readRecord(commit: commit)) }
        if ref.hasPrefix(RecordKind.modelVersion.refPrefix) {
            let m = try readModel(commit: commit)
            return [NamedObject(sha256: m.artifact.sha256, folder: m.artifact.type == "uri_folder",
                                size: m.artifact.type == "uri_folder" ? nil : m.artifact.size, owner: "model \(m.reference)")]
        }
        if ref.hasPrefix(RecordKind.dataAsset.refPrefix) {
            let a = try readDataAsset(commit: commit)
            return [NamedObject(sha256: a.sha256, folder: a.type == "uri_folder", size: a.type == "uri_folder" ? nil : a.size,
                                owner: "data asset \(a.name):\(a.version)")]
        }
        return []
    }

    /// The objects a run record names: its outputs, inputs and environment lock.
    func namedObjects(of record: RunRecord) -> [NamedObject] {
        var out = record.outputs.map {
            NamedObject(sha256: $0.sha256, folder: $0.type != "uri_file", size: $0.type == "uri_file" ? $0.size : nil, owner: "run \(record.id) output \($0.name)")
        }
        for input in record.inputs ?? [] {
            guard let sha = input.sha256 else { continue }
            out.append(NamedObject(sha256: sha, folder: input.type != "uri_file", size: input.type == "uri_file" ? input.size : nil,
                                   owner: "run \(record.id) input \(input.name)"))
        }
        if let lock = record.environment?.lock { out.append(NamedObject(sha256: lock, folder: false, size: nil, owner: "run \(record.id) environment lock")) }
        return out
    }

    /// The objects the data pointers (`*.mlref`) in a commit's tree name.
    func pointerObjects(inCommit commit: ObjectID) throws -> [NamedObject] {
        let tree = try git { try repository.readCommit(commit).tree }
        return try git { try repository.files(in: tree, withSuffix: DataPointer.suffix) }.compactMap { path, blob in
            let text = String(decoding: try git { try repository.readBlob(blob) }, as: UTF8.self)
            guard let pointer = try? DataPointer.parse(text, file: path) else { return nil }
            return NamedObject(sha256: pointer.sha256, folder: pointer.isFolder, size: pointer.isFolder ? nil : pointer.size, owner: "data \(path)")
        }
    }

    /// The objects the data pointers of the work tree name.
    func workTreePointerObjects() throws -> [NamedObject] {
        try dataPointers().map { file, p in
            NamedObject(sha256: p.sha256, folder: p.isFolder, size: p.isFolder ? nil : p.size, owner: "data \(relative(file))")
        }
    }

    /// Every object to send for `named`, from this store: each file, each manifest and the
    /// files it lists, with their sizes. Objects this store lacks are returned apart, by owner.
    func localObjects(_ named: [NamedObject]) -> (objects: [RemoteObject], missing: [String]) {
        var objects: [RemoteObject] = [], missing: [String] = [], seen = Set<String>()
        func size(_ id: ContentID) -> Int64 {
            var st = stat()
            return stat(store.path(of: id), &st) == 0 ? Int64(st.st_size) : 0
        }
        for n in named where seen.insert(n.sha256 + (n.folder ? "/" : "")).inserted {
            guard let id = ContentID(hex: n.sha256) else { missing.append("\(n.owner): '\(n.sha256)' is not a SHA-256"); continue }
            guard store.has(id) else { missing.append("\(n.owner): object \(id.hex)"); continue }
            objects.append(RemoteObject(id: id, size: size(id)))
            guard n.folder else { continue }
            guard let manifest = try? store.manifest(id) else { missing.append("\(n.owner): the list of files \(id.hex) cannot be read"); continue }
            for entry in manifest.entries {
                guard let sha = entry.sha256 else { continue }
                if store.has(sha) { objects.append(RemoteObject(id: sha, size: entry.size)) }
                else { missing.append("\(n.owner): \(entry.path) (object \(sha.hex))") }
            }
        }
        return (objects, missing)
    }
}
