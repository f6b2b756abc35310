import Foundation
import GitKit
import ObjectStore

/// One problem `git ml fsck` found.
public struct Damage: Sendable, Equatable, Codable {
    /// What is damaged: `object <sha256>`, `run <id>`, `manifest <sha256>`.
    public var subject: String
    public var problem: String
}

/// Something a killed writer left that takes space but damages nothing.
public struct Leftover: Sendable, Equatable, Codable {
    public var path: String
    public var bytes: Int64
    public var what: String
}

/// What `git ml fsck` checked and what it found.
public struct FsckReport: Sendable, Codable {
    public var objectsChecked: Int
    public var runsChecked: Int
    public var damage: [Damage]
    public var leftovers: [Leftover] = []
    enum CodingKeys: String, CodingKey { case objectsChecked = "objects_checked", runsChecked = "runs_checked", damage, leftovers }
}

extension Workspace {
    /// Re-hashes every stored object, parses every run record, model version and data pointer, and
    /// checks that every object a record, pointer or manifest names is present and intact.
    public func fsck(progress: (@Sendable (StoreProgress) -> Void)? = nil) throws -> FsckReport {
        let objects = try store.allObjects()
        let corrupt = Set(try store.verifyAll(progress: progress))
        var damage = corrupt.sorted().map { Damage(subject: "object \($0.hex)", problem: "its bytes no longer hash to its id (\(store.path(of: $0)))") }
        let refs = try runRefs()
        var checkedManifests = Set<ContentID>()
        func need(_ id: ContentID, for owner: String) {
            if !store.has(id) { damage.append(Damage(subject: owner, problem: "object \(id.hex) is missing from the store")) }
        }
        /// An object a record names; a folder's manifest entries are needed too.
        func need(_ hex: String, folder: Bool, for owner: String) {
            guard let oid = ContentID(hex: hex) else {
                damage.append(Damage(subject: owner, problem: "\(hex) is not a valid SHA-256"))
                return
            }
            need(oid, for: owner)
            guard folder, store.has(oid), !corrupt.contains(oid), checkedManifests.insert(oid).inserted else { return }
            do {
                for entry in try store.manifest(oid).entries {
                    if let sha = entry.sha256 { need(sha, for: "manifest \(oid.hex) (\(entry.path))") }
                }
            } catch {
                damage.append(Damage(subject: "manifest \(oid.hex)", problem: "\(error)"))
            }
        }
        for (id, commit) in refs.sorted(by: { $0.id < $1.id }) {
            let record: RunRecord
            do { record = try readRecord(commit: commit) } catch {
                damage.append(Damage(subject: "run \(id)", problem: "\(error)"))
                continue
            }
            if record.id != id { damage.append(Damage(subject: "run \(id)", problem: "run.json names another id (\(record.id))")) }
            if let tree = ObjectID(hex: record.code.tree), !repository.contains(tree) {
                damage.append(Damage(subject: "run \(id)", problem: "code tree \(tree.short) is missing from git"))
            }
            for output in record.outputs {
                need(output.sha256, folder: output.type != "uri_file", for: "run \(id) output \(output.name)")
            }
            for input in record.inputs ?? [] {
                if let sha = input.sha256 { need(sha, folder: input.type != "uri_file", for: "run \(id) input \(input.name)") }
            }
            if let lock = record.environment?.lock { need(lock, folder: false, for: "run \(id) environment lock") }
        }
        // Data pointers in the work tree and registered data assets: their objects must be here too.
        for (file, pointer) in (try? dataPointers()) ?? [] {
            need(pointer.sha256, folder: pointer.isFolder, for: "data \(relative(file))")
        }
        for asset in (try? listDataAssets()) ?? [] {
            need(asset.sha256, folder: asset.type == "uri_folder", for: "data asset \(asset.name):\(asset.version)")
        }
        // Model versions: a record that cannot be read, and the objects their files are.
        for ref in (try? git({ try ledger.list(.modelVersion) })) ?? [] {
            do {
                let m = try readModel(commit: ref.commit)
                need(m.artifact.sha256, folder: m.artifact.type == "uri_folder", for: "model \(m.reference)")
            } catch {
                damage.append(Damage(subject: "model \(ref.key.replacingOccurrences(of: "/", with: ":"))", problem: "\(error)"))
            }
        }
        for (id, reason) in (try? unindexedRuns()) ?? [] {
            damage.append(Damage(subject: "run \(id)", problem: "left out of the query index (searches and listings do not show it): \(reason)"))
        }
        var leftovers: [Leftover] = []
        for path in store.staleTemps() {
            let target = path.hasSuffix(".lock") ? String(path.dropLast(5)) : path
            let files = (try? ObjectStore.walk(target)) ?? []
            guard !files.isEmpty || !path.hasSuffix(".lock") else { continue }
            leftovers.append(Leftover(path: relative(target), bytes: files.reduce(0) { $0 + $1.size },
                                      what: "temporary files of a killed writer; the next write to the store removes them"))
        }
        for folder in orphanLiveFolders() {
            let what = switch folder.state {
            case .lost: "live folder of lost run \(folder.id); `git ml recover` records what it holds and removes it"
            case .kept: "live folder of run \(folder.id), kept because its outputs could not be stored; remove it when done"
            case .leftover: "live folder of run \(folder.id), which is finished or was never recorded; `git ml recover` removes it"
            }
            leftovers.append(Leftover(path: relative(liveFolder(folder.id)), bytes: folder.bytes, what: what))
        }
        return FsckReport(objectsChecked: objects.count, runsChecked: refs.count, damage: damage, leftovers: leftovers)
    }
}
