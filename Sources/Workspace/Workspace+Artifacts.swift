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
            let root = liveOutputsFolder(record.id)
            let absolute = folder.isEmpty ? root : root + "/" + folder
            var st = stat()
            guard stat(absolute, &st) == 0 else { return [] }
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
            let absolute = liveOutputsFolder(record.id) + "/" + path
            var st = stat()
            return stat(absolute, &st) == 0 && st.st_mode & S_IFMT == S_IFREG ? absolute : nil
        }
        guard let entry = try artifactManifest(of: record)?.entries.first(where: { $0.path == path }), let id = entry.sha256 else { return nil }
        return store.path(of: id)
    }

    /// Where an upload to a running run's artifacts goes; the folders on the way are made.
    public func artifactUploadPath(runID: String, path: String) throws -> String {
        let absolute = liveOutputsFolder(runID) + "/" + path
        try FileManager.default.createDirectory(atPath: (absolute as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return absolute
    }
}
