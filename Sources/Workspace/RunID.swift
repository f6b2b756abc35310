import Foundation

/// Run ids: 26 characters of lowercase Crockford base32, the first 10 a
/// millisecond timestamp and the other 16 random (a ULID). They sort by
/// creation time and never collide across machines without coordination.
public enum RunID {
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    public static func make(at date: Date = Date()) -> String {
        var out = [UInt8](repeating: 0, count: 26)
        var ms = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        for i in stride(from: 9, through: 0, by: -1) {
            out[i] = alphabet[Int(ms & 31)]
            ms >>= 5
        }
        var rng = SystemRandomNumberGenerator()
        for i in 10..<26 { out[i] = alphabet[Int(rng.next() & 31)] }
        return String(decoding: out, as: UTF8.self)
    }

    public static func isValid(_ text: String) -> Bool {
        text.utf8.count == 26 && text.utf8.allSatisfy { alphabet.contains($0) }
    }

    /// A friendly display name, as MLflow gives runs: `brave-otter-417`.
    public static func friendlyName() -> String {
        let adjectives = ["able", "bold", "brave", "bright", "calm", "clever", "eager", "fair", "fast", "gentle", "glad",
                          "happy", "keen", "kind", "lively", "lucky", "merry", "neat", "nimble", "proud", "quick", "quiet",
                          "rapid", "sharp", "shy", "smart", "steady", "sunny", "swift", "tidy", "vivid", "wise", "witty", "zesty"]
        let nouns = ["ant", "badger", "bat", "bear", "bee", "crane", "deer", "dove", "eagle", "elk", "falcon", "finch", "fox",
                     "frog", "gecko", "hare", "hawk", "heron", "ibis", "koala", "lark", "lemur", "lynx", "mole", "moth", "newt",
                     "otter", "owl", "panda", "quail", "raven", "seal", "shrew", "stork", "swan", "tern", "toad", "vole", "wren", "yak"]
        return "\(adjectives.randomElement()!)-\(nouns.randomElement()!)-\(Int.random(in: 100...999))"
    }
}
