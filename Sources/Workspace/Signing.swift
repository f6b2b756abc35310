import Foundation
import GitKit

/// What git says of a commit's signature (`git log --format=%G?`).
public struct SignatureCheck: Codable, Sendable, Equatable {
    /// `good`, `bad`, `unknown validity`, `expired`, `expired key`, `revoked key`,
    /// `cannot check`, or `unsigned`.
    public var status: String
    /// git's letter: G, B, U, X, Y, R, E or N.
    public var code: String
    public var signer: String?
    public var key: String?
    /// What the signing program said, for a signature that could not be checked.
    public var detail: String?

    /// True for a signature git checked and trusts (G): for ssh, by a key that
    /// `gpg.ssh.allowedSignersFile` allows for the committer; for OpenPGP, a trusted key.
    public var isValid: Bool { code == "G" }
    public var isSigned: Bool { code != "N" }
}

/// Signing record commits the way `git commit -S` does, with the user's own set-up:
/// `gpg.format` (`openpgp`, the default, or `ssh`), `user.signingkey`, `gpg.program`,
/// `gpg.ssh.program`. Checking uses git itself (`git log --format=%G?`), so
/// `gpg.ssh.allowedSignersFile` and the user's keyring decide trust, as for their commits.
///
/// Signing runs the programs of the user's git set-up (ExternalProgram): it needs their keys
/// and agents exactly as git uses them.
extension Workspace {
    /// Signs a commit's bytes; the armored signature for its `gpgsig` header.
    func signCommit(_ payload: Data) throws -> String {
        let format = repository.configString("gpg.format") ?? "openpgp"
        let key = repository.configString("user.signingkey")
        let scratch = try FileManager.default.privateScratchDirectory(stateDirectory, purpose: "sign")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        switch format {
        case "ssh":
            guard let key, !key.isEmpty else {
                throw WorkspaceError(.invalidArgument, "cannot sign: gpg.format is ssh but user.signingkey is not set",
                                     hint: "git config user.signingkey ~/.ssh/id_ed25519.pub")
            }
            var keyFile = (key as NSString).expandingTildeInPath
            var extra: [String] = []
            if key.hasPrefix("key::") || key.hasPrefix("ssh-") {
                // A literal public key: its private half is in the agent.
                keyFile = scratch + "/key.pub"
                try writeFileAtomically(Data((key.hasPrefix("key::") ? String(key.dropFirst(5)) : key).utf8), to: keyFile)
                extra = ["-U"]
            }
            let payloadFile = scratch + "/commit"
            try writeFileAtomically(payload, to: payloadFile)
            let program = repository.configString("gpg.ssh.program") ?? "ssh-keygen"
            let result = try ExternalProgram.run([program, "-Y", "sign", "-n", "git", "-f", keyFile] + extra + [payloadFile],
                                                 environment: environment, scratch: scratch)
            guard result.status == 0, let sig = FileManager.default.contents(atPath: payloadFile + ".sig") else {
                throw WorkspaceError(.invalidArgument, "cannot sign with \(program): \(result.errorLine)",
                                     hint: "check user.signingkey (\(key)); git commit -S would fail the same way")
            }
            return String(decoding: sig, as: UTF8.self)
        case "openpgp", "x509":
            let program = repository.configString(format == "x509" ? "gpg.x509.program" : "gpg.openpgp.program")
                ?? repository.configString("gpg.program") ?? (format == "x509" ? "gpgsm" : "gpg")
            let who = key ?? repository.configuredUser().map { "\($0.name) <\($0.email)>" } ?? userName
            let result = try ExternalProgram.run([program, "--status-fd=2", "-bsau", who], input: payload,
                                                 environment: environment, scratch: scratch)
            guard result.status == 0, result.output.contains("-----BEGIN") else {
                throw WorkspaceError(.invalidArgument, "cannot sign with \(program): \(result.errorLine)",
                                     hint: "check user.signingkey; git commit -S would fail the same way")
            }
            return result.output
        default:
            throw WorkspaceError(.invalidArgument, "cannot sign: gpg.format '\(format)' is not openpgp, x509 or ssh")
        }
    }

    /// Fails, saying what to set, when signing could not work (no key for ssh, no program, a key
    /// the program refuses): checked by signing a few bytes, before any work is done or record written.
    public func checkSigningSetup() throws {
        let format = repository.configString("gpg.format") ?? "openpgp"
        switch format {
        case "ssh":
            guard let key = repository.configString("user.signingkey"), !key.isEmpty else {
                throw WorkspaceError(.invalidArgument, "cannot sign: gpg.format is ssh but user.signingkey is not set",
                                     hint: "git config user.signingkey ~/.ssh/id_ed25519.pub")
            }
            let path = (key as NSString).expandingTildeInPath
            if !(key.hasPrefix("key::") || key.hasPrefix("ssh-")), !FileManager.default.fileExists(atPath: path) {
                throw WorkspaceError(.invalidArgument, "cannot sign: user.signingkey names \(key), which does not exist")
            }
        case "openpgp", "x509": break
        default:
            throw WorkspaceError(.invalidArgument, "cannot sign: gpg.format '\(format)' is not openpgp, x509 or ssh")
        }
        _ = try signCommit(Data("git-ml: checking the signing set-up\n".utf8))
    }

    /// What git says of a commit's signature, checked with the user's keys and
    /// `gpg.ssh.allowedSignersFile`.
    public func signatureCheck(_ commit: String) throws -> SignatureCheck {
        guard let id = ObjectID(hex: commit) else { throw WorkspaceError(.invalidArgument, "\(commit) is not a commit id") }
        guard try git({ try repository.commitSignature(id) }) != nil else {
            return SignatureCheck(status: "unsigned", code: "N")
        }
        let result = try gitProgram.run(["log", "-1", "--no-walk", "--format=%G?%x00%GS%x00%GK%x00%GG", commit])
        let parts = result.output.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        guard result.status == 0, parts.count >= 4, let code = parts.first?.trimmingCharacters(in: .whitespacesAndNewlines) else {
            return SignatureCheck(status: "cannot check", code: "E", detail: result.errorLine)
        }
        let names = ["G": "good", "B": "bad", "U": "unknown validity", "X": "expired", "Y": "expired key",
                     "R": "revoked key", "E": "cannot check", "N": "unsigned"]
        let detail = parts[3].split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.last
        return SignatureCheck(status: names[code] ?? code, code: code, signer: parts[1].isEmpty ? nil : parts[1],
                              key: parts[2].isEmpty ? nil : parts[2], detail: code == "G" ? nil : detail)
    }
}
