import Foundation

/// File names that usually hold secrets. An untracked file with such a name stays out of a
/// run's code snapshot (which the pre-push hook pushes with the record), unless
/// `snapshot_secrets: true` in `.mlops/config.yaml` takes it in. A file the user tracks or
/// stages is theirs to share and is always kept.
enum SecretNames {
    /// The patterns, as docs/config.md lists them; matched against the file's name, ignoring case.
    static let exact: Set<String> = [".env", ".netrc", "_netrc", ".git-credentials", ".pypirc", ".pgpass"]
    static let prefixes = [".env.", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "credentials"]
    static let suffixes = [".pem", ".key", ".p12", ".pfx"]

    static func matches(_ path: String) -> Bool {
        let name = (path.split(separator: "/").last.map(String.init) ?? path).lowercased()
        return exact.contains(name) || prefixes.contains { name.hasPrefix($0) } || suffixes.contains { name.hasSuffix($0) }
    }
}
