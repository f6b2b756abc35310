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
        // Byte order of the paths. For ASCII paths (nearly all) Swift's `<` is that
        // order and much faster than comparing the UTF-8 views.
        if entries.allSatisfy({ $0.path.utf8.allSatisfy { $0 < 0x80 } }) {
            self.entries = entries.sorted { $0.path < $1.path }
        } else {
            self.entries = entries.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        }
    }

    public var totalSize: Int64 { entries.reduce(0) { $0 + $1.size } }
    public var fileCount: Int { entries.count }

    /// The canonical bytes: sorted keys, no whitespace, so the same folder
    /// always gives the same manifest id.
    ///
    /// Written by hand (JSONEncoder takes ~70 ms for 10,000 entries); the bytes are
    /// exactly those of `JSONEncoder` with `.sortedKeys, .withoutEscapingSlashes`,
    /// which a test holds it to, so manifest ids never change.
    public func encoded() throws -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(64 + entries.count * 130)
        out += Array(#"{"entries":["#.utf8)
        for (i, e) in entries.enumerated() {
            if i > 0 { out.append(0x2C) }
            out += Array(#"{"mode":"#.utf8); JSONText.appendString(e.mode, to: &out)
            out += Array(#","path":"#.utf8); JSONText.appendString(e.path, to: &out)
            if let sha = e.sha256 { out += Array(#","sha256":""#.utf8); out += Array(sha.hex.utf8); out.append(0x22) }
            out += Array(#","size":"#.utf8); out += Array(String(e.size).utf8)
            if let t = e.target { out += Array(#","target":"#.utf8); JSONText.appendString(t, to: &out) }
            out.append(0x7D)
        }
        out += Array(#"],"format":"#.utf8)
        JSONText.appendString(format, to: &out)
        out.append(0x7D)
        return Data(out)
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

/// JSON strings written by hand, as JSONEncoder writes them (slashes unescaped): for the
/// manifests here and for the tracking API's responses.
public enum JSONText {
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out.append(contentsOf: s.utf8)
            out.append(0x22)
            return
        }
        for byte in s.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0x08: out += [0x5C, 0x62]
            case 0x0C: out += [0x5C, 0x66]
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }
}
