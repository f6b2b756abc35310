import Foundation
import Yams

/// The small file `PATH.mlref` that versions the data at PATH in git: what the
/// data's bytes are (a SHA-256, or a folder manifest's id), so any commit can
/// bring them back from the object store.
public struct DataPointer: Sendable, Equatable, Codable {
    public static let suffix = ".mlref"

    /// The data's file or folder name, beside the pointer.
    public var path: String
    /// `uri_file` or `uri_folder`, as Azure ML names data types.
    public var type: String
    /// The file's SHA-256, or the id of the folder's manifest.
    public var sha256: String
    public var size: Int64
    /// Files in a folder (nil for a file).
    public var files: Int?
    /// An optional asset name.
    public var name: String?

    public var isFolder: Bool { type == "uri_folder" }

    public init(path: String, type: String, sha256: String, size: Int64, files: Int?, name: String?) {
        self.path = path
        self.type = type
        self.sha256 = sha256
        self.size = size
        self.files = files
        self.name = name
    }

    /// The pointer's YAML, with a comment saying what it is for.
    public func yaml() -> String {
        var out = "# git-ml data pointer: `git ml data checkout` restores \(path) from the object store.\n"
        out += "path: \(Self.quote(path))\ntype: \(type)\nsha256: \(sha256)\nsize: \(size)\n"
        if let files { out += "files: \(files)\n" }
        if let name { out += "name: \(Self.quote(name))\n" }
        return out
    }

    static func quote(_ s: String) -> String {
        s.allSatisfy({ $0.isLetter || $0.isNumber || "._-/".contains($0) }) && !s.isEmpty ? s
            : "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Parses a pointer; a problem names the file and line.
    public static func parse(_ text: String, file: String) throws -> DataPointer {
        let node: Node?
        try YAMLGuard.check(text, file: file)
        do { node = try Yams.compose(yaml: text, .basic) } catch let error as YamlError {
            throw WorkspaceError(.badConfig, "\(file): \(WorkspaceConfig.describe(error))", hint: "restore it with git checkout -- \(file)")
        }
        guard let mapping = node?.mapping else {
            throw WorkspaceError(.badConfig, "\(file):1: not a data pointer (expected path, type, sha256, size)")
        }
        var fields: [String: (String, Int)] = [:]
        for (k, v) in mapping {
            let key = k.string ?? ""
            guard ["path", "type", "sha256", "size", "files", "name"].contains(key) else {
                throw WorkspaceError(.badConfig, "\(file):\(k.mark?.line ?? 0): unknown key '\(key)'; accepted here: path, type, sha256, size, files, name")
            }
            fields[key] = (v.string ?? "", k.mark?.line ?? 0)
        }
        func need(_ key: String) throws -> (String, Int) {
            guard let f = fields[key] else { throw WorkspaceError(.badConfig, "\(file): missing key '\(key)'") }
            return f
        }
        let (path, _) = try need("path")
        let (type, typeLine) = try need("type")
        let (sha, shaLine) = try need("sha256")
        let (sizeText, sizeLine) = try need("size")
        guard type == "uri_file" || type == "uri_folder" else {
            throw WorkspaceError(.badConfig, "\(file):\(typeLine): type must be uri_file or uri_folder, not '\(type)'")
        }
        guard sha.utf8.count == 64, sha.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw WorkspaceError(.badConfig, "\(file):\(shaLine): sha256 must be 64 lowercase hex digits")
        }
        guard let size = Int64(sizeText) else { throw WorkspaceError(.badConfig, "\(file):\(sizeLine): size must be a number of bytes") }
        let files = fields["files"].flatMap { Int($0.0) }
        return DataPointer(path: path, type: type, sha256: sha, size: size, files: files, name: fields["name"]?.0)
    }
}
