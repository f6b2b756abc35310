import Foundation
import ObjectStore

/// A file or folder among a run's artifacts, as MLflow's artifact listing shows it.
public struct ArtifactEntry: Sendable, Equatable {
    /// Slash-separated, relative to the run's artifact root.
    public var path: String
    public var isDirectory: Bool
    public var size: Int64?
}

/// A run's MLflow artifacts are its outputs folder: GITML_OUTPUTS while it runs (where
/// `mlflow.log_artifact` and `log_model` write through the tracking API), and the stored
/// `outputs` manifest once it has ended.
extension Workspace {
    /// Checks an artifact path a client sent: relative, no `.` or `..`, no empty part.
    public static func validArtifactPath(_ path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !path.hasPrefix("/"), !parts.contains(where: { $0 == "." || $0 == ".." || $0.contains("\0") }) else { return nil }
        return parts.joined(separator: "/")
    }

    /// The manifest of a finished run's artifacts (`outputs` for a command, `artifacts/outputs` for a job).
    func artifactManifest(of record: RunRecord) throws -> Manifest? {
        guard let output = record.outputs.first(where: { $0.name == "outputs" || $0.name == "artifacts/outputs" }),
              output.type == "uri_folder", let id = ContentID(hex: output.sha256) else { return nil }
        return try store.manifest(id)
    }

    /// The entries directly under `folder` ("" for the root) of a run's artifacts; one entry
    /// for `folder` itself when it names a file.
    public func artifacts(of record: RunRecord, under folder: String) throws -> [ArtifactEntry] {
        let prefix = folder.isEmpty ? "" : folder + "/"
        if record.status == .running {
            let absolute = try liveArtifactPath(record.id, folder)
            var st = stat()
            guard lstat(absolute, &st) == 0 else { return [] }
            if st.st_mode & S_IFMT != S_IFDIR { return [ArtifactEntry(path: folder, isDirectory: false, size: Int64(st.st_size))] }
            return try FileManager.default.contentsOfDirectory(atPath: absolute).filter { !$0.hasPrefix(".gitml-upload-") }.sorted().map { name in
                var s = stat()
                _ = lstat(absolute + "/" + name, &s)
                let isDir = s.st_mode & S_IFMT == S_IFDIR
                return ArtifactEntry(path: prefix + name, isDirectory: isDir, size: isDir ? nil : Int64(s.st_size))
            }
        }
        guard let manifest = try artifactManifest(of: record) else { return [] }
        var out: [String: ArtifactEntry] = [:]
        for entry in manifest.entries {
            if entry.path == folder { return [ArtifactEntry(path: folder, isDirectory: false, size: entry.size)] }
            guard entry.path.hasPrefix(prefix) else { continue }
            let rest = entry.path.dropFirst(prefix.count)
            if let slash = rest.firstIndex(of: "/") {
                let name = prefix + rest[..<slash]
                out[name] = ArtifactEntry(path: name, isDirectory: true, size: nil)
            } else {
                out[entry.path] = ArtifactEntry(path: entry.path, isDirectory: false, size: entry.size)
            }
        }
        return out.values.sorted { $0.path < $1.path }
    }

    /// Where the bytes of one artifact file are: in the live outputs folder, or the stored object.
    public func artifactFile(of record: RunRecord, path: String) throws -> String? {
        if record.status == .running {
            let absolute = try liveArtifactPath(record.id, path)
            var st = stat()
            return lstat(absolute, &st) == 0 && st.st_mode & S_IFMT == S_IFREG ? absolute : nil
        }
        guard let entry = try artifactManifest(of: record)?.entries.first(where: { $0.path == path }), let id = entry.sha256 else { return nil }
        // Served only once its bytes are known to be the ones recorded.
        do { try store.verify(id, for: "artifact \(path) of run \(record.id)") } catch let e as StoreError {
            throw WorkspaceError(.storage, e.message, hint: Self.damageHint(e))
        }
        return store.path(of: id)
    }

    /// Where an upload to a running run's artifacts goes; the folders on the way are made.
    public func artifactUploadPath(runID: String, path: String) throws -> String {
        let absolute = try liveArtifactPath(runID, path)
        try FileManager.default.createDirectory(atPath: (absolute as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return absolute
    }

    /// `path` under a running run's outputs folder. Refused when the folder or any part of
    /// `path` that exists is a symbolic link: a command may leave links among its outputs (they
    /// are recorded as links), but the artifact routes neither read nor write through one, so
    /// nothing outside the run's folder is served and no upload lands outside it.
    func liveArtifactPath(_ runID: String, _ path: String) throws -> String {
        let root = liveOutputsFolder(runID)
        var current = root
        var walked: [Substring] = []
        for part in [Substring("")] + path.split(separator: "/") {
            if !part.isEmpty { current += "/" + part; walked.append(part) }
            var st = stat()
            if lstat(current, &st) != 0 { break }
            if st.st_mode & S_IFMT == S_IFLNK {
                let link = walked.isEmpty ? "the run's outputs folder" : "'" + walked.joined(separator: "/") + "'"
                throw WorkspaceError(.invalidArgument, "artifact '\(path)' of run \(runID) goes through a symbolic link (\(link)); git-ml neither reads nor writes artifacts through links")
            }
        }
        return path.isEmpty ? root : root + "/" + path
    }
}
