import Foundation

/// The listing of a stored folder: one entry per file or symbolic link, sorted
/// by path. A manifest is itself stored as an object, so a folder has one id.
public struct Manifest: Codable, Sendable, Equatable {
    public static let format = "git-ml/manifest/v1"

    public struct Entry: Codable, Sendable, Equatable {
        /// Slash-separated, relative to the folder.
        public var path: String
        /// Git-style mode: "100644", "100755" or "120000" (a symbolic link).
        public var mode: String
        /// Bytes in the file (for a link, of its target text).
        public var size: Int64
        /// SHA-256 of the file; nil for a link.
        public var sha256: ContentID?
        /// Where a link points, recorded as is and never followed.
        public var target: String?

        public var isLink: Bool { mode == "120000" }
        public var isExecutable: Bool { mode == "100755" }

        public init(path: String, mode: String, size: Int64, sha256: ContentID?, target: String?) {
            self.path = path
            self.mode = mode
            self.size = size
            self.sha256 = sha256
            self.target = target
        }
    }

    public var format: String = Manifest.format
    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
    }

    public var totalSize: Int64 { entries.reduce(0) { $0 + $1.size } }
    public var fileCount: Int { entries.count }

    /// The canonical bytes: sorted keys, no whitespace, so the same folder
    /// always gives the same manifest id.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data, id: String) throws -> Manifest {
        do {
            let m = try JSONDecoder().decode(Manifest.self, from: data)
            guard m.format == format else { throw StoreError(.badManifest, path: id, "manifest \(id) has unknown format \(m.format)") }
            return m
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError(.badManifest, path: id, "object \(id) is not a manifest: \(error)")
        }
    }
}
