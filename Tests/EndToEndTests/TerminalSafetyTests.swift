import Foundation
import Testing

/// What git-ml prints for people never carries a record's control characters to the terminal.
@Suite("terminal safety: escaped control characters, bounded lines")
struct TerminalSafetyTests {
    @Test("names, params, tags and metric keys never reach the terminal raw, and one huge key never makes every line huge")
    func terminalIsSafe() throws {
        let repo = try TestRepo()
        let evil = "evil\u{1b}]0;owned\u{07}\u{1b}[2J\u{9b}name"
        let hugeKey = String(repeating: "k", count: 100_000)
        let r = try repo.ml(["run", "--name", evil, "--param", "p\u{1b}[31m=v\u{1b}c", "--param", "\(hugeKey)=1", "--tag", "t=\u{1b}]52;c;secret\u{07}", "--", "/bin/sh", "-c",
                             #"printf '{"key":"m\\u001b[2J","value":1}\n' >> "$GITML_METRICS""#])
        #expect(r.status == 0, "\(r.stderr)")
        let id = try #require(runID(from: r.stderr))
        #expect(!r.stderr.contains("\u{1b}"), "the run's own lines: \(r.stderr.debugDescription)")
        for args in [["runs"], ["show", id], ["metrics", id], ["diff", id, id], ["show", "no-such-\u{1b}[2J"]] {
            let out = try repo.ml(args)
            #expect(!(out.stdout + out.stderr).unicodeScalars.contains { $0.properties.generalCategory == .control && $0 != "\n" && $0 != "\t" },
                    "git ml \(args[0]): \((out.stdout + out.stderr).debugDescription.prefix(600))")
        }
        let shown = try repo.ml("show", id)
        #expect(shown.stdout.contains("evil\\u{1b}]0;owned"), "shown escaped: \(shown.stdout.prefix(300))")
        #expect(shown.stdout.utf8.count < 20_000, "a 100,000-character key is cut, not padded into every line: \(shown.stdout.utf8.count) bytes")
        // --json keeps every byte, escaped as JSON escapes it.
        let json = try repo.ml("show", id, "--json")
        #expect(json.stdout.contains(hugeKey) && json.stdout.contains("evil\\u001b]0;owned"))
    }
}
