import Foundation

/// The id of a stored object: the SHA-256 of its bytes, as 64 lowercase hex
/// digits (the same oid Git LFS uses for the same bytes).
public struct ContentID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let hex: String

    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        self.hex = hex
    }

    init(unchecked hex: String) { self.hex = hex }

    public var short: String { String(hex.prefix(12)) }
    public var description: String { hex }
    public static func < (a: ContentID, b: ContentID) -> Bool { a.hex < b.hex }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = ContentID(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a SHA-256: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}
