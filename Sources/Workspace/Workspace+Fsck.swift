import Foundation
import GitKit
import ObjectStore

/// One problem `git ml fsck` found.
public struct Damage: Sendable, Equatable, Codable {
    /// What is damaged: `object <sha256>`, `run <id>`, `manifest <sha256>`.
    public var subject: String
    public var problem: String
}

/// What `git ml fsck` checked and what it found.
public struct FsckReport: Sendable, Codable {
    public var objectsChecked: Int
    public var runsChecked: Int
    public var damage: [Damage]
    enum CodingKeys: String, CodingKey { case objectsChecked = "objects_checked", runsChecked = "runs_checked", damage }
}

extension Workspace {
    /// Re-hashes every stored object, parses every run record and data pointer, and
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
                guard let oid = ContentID(hex: output.sha256) else {
                    damage.append(Damage(subject: "run \(id)", problem: "output \(output.name) has no valid SHA-256"))
                    continue
                }
                need(oid, for: "run \(id) output \(output.name)")
                guard output.type == "uri_folder", store.has(oid), !corrupt.contains(oid), checkedManifests.insert(oid).inserted else { continue }
                do {
                    for entry in try store.manifest(oid).entries {
                        if let sha = entry.sha256 { need(sha, for: "manifest \(oid.hex) (\(entry.path))") }
                    }
                } catch {
                    damage.append(Damage(subject: "manifest \(oid.hex)", problem: "\(error)"))
                }
            }
        }
        // Data pointers in the work tree: their objects must be here too.
        for (file, pointer) in (try? dataPointers()) ?? [] {
            let owner = "data \(relative(file))"
            guard let id = ContentID(hex: pointer.sha256) else { continue }
            need(id, for: owner)
            guard pointer.isFolder, store.has(id), !corrupt.contains(id), checkedManifests.insert(id).inserted else { continue }
            do {
                for entry in try store.manifest(id).entries {
                    if let sha = entry.sha256 { need(sha, for: "manifest \(id.hex) (\(entry.path))") }
                }
            } catch {
                damage.append(Damage(subject: "manifest \(id.hex)", problem: "\(error)"))
            }
        }
        return FsckReport(objectsChecked: objects.count, runsChecked: refs.count, damage: damage)
    }
}
