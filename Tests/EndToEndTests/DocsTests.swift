import Foundation
import Testing

/// The checkout this test was built from (for scripts/, docs/ and the Makefile).
let sourceRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The reference docs are generated from the command tree, and `make install` makes
/// `git ml --help` open the man page, as `git lfs --help` does.
@Suite("docs and help: cli.md and the man page follow the command tree; git ml --help opens the man page")
struct DocsTests {
    @Test("docs/cli.md and docs/git-ml.1 are what the command tree generates")
    func referenceIsCurrent() throws {
        let r = try exec(["python3", sourceRoot + "/scripts/cli-docs", "--check", gitmlBinary], cwd: sourceRoot)
        #expect(r.status == 0, "run make cli-docs: \(r.stderr)")
        let cli = try String(contentsOfFile: sourceRoot + "/docs/cli.md", encoding: .utf8)
        // Commands the hand-kept list once missed.
        for command in ["env build", "env create", "serve", "reindex", "data create", "data list"] {
            #expect(cli.contains("## git ml \(command)\n"), "docs/cli.md lacks git ml \(command)")
        }
    }

    @Test("make install PREFIX=<a folder that does not exist> puts the binary and the man page there; git ml --help shows it")
    func installAndHelp() throws {
        let top = FileManager.default.temporaryDirectory.appendingPathComponent("gitml-prefix-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: top) }
        let prefix = top + "/not/yet/there"
        let make = try exec(["make", "--no-print-directory", "-C", sourceRoot, "install", "PREFIX=\(prefix)", "INSTALL_BIN=\(gitmlBinary)"],
                            cwd: sourceRoot)
        #expect(make.status == 0, "\(make.stdout)\(make.stderr)")
        #expect(FileManager.default.isExecutableFile(atPath: prefix + "/bin/git-ml"))
        #expect(FileManager.default.fileExists(atPath: prefix + "/share/man/man1/git-ml.1"))

        // git turns `git ml --help` into `man git-ml`; man finds the page beside the binary on PATH.
        let repo = try TestRepo()
        let path = prefix + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let help = try exec(["git", "ml", "--help"], cwd: repo.root,
                            env: ["PATH": path, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100"])
        #expect(help.status == 0, "\(help.stderr)")
        #expect(help.stdout.contains("GIT-ML(1)") && help.stdout.contains("git ml run"), "\(help.stdout.prefix(400))\(help.stderr)")
        #expect(!help.stderr.contains("No manual entry"), "\(help.stderr)")
        // And the binary itself is the one installed.
        let version = try exec(["git", "ml", "--version"], cwd: repo.root, env: ["PATH": path])
        #expect(version.stdout == (try exec([gitmlBinary, "--version"], cwd: repo.root)).stdout)
    }
}
