import Foundation
import Testing
@testable import Workspace

/// YAML that git-ml did not write: each hostile shape is one line naming the file and line,
/// never a crash, a hang or a silently different document.
@Suite struct YAMLGuardTests {
    func error(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "accepted" } catch { return "\(error)".split(separator: "\n").first.map(String.init) ?? "" }
    }

    @Test func deepNestingIsRefusedBeforeAnyTreeIsBuilt() {
        // Thousands of levels overflowed the stack of the tree builder (SIGSEGV).
        for (open, close) in [("[", "]"), ("{a: ", "}"), ("- ", "")] {
            let text = "command: echo\ninputs:\n  " + String(repeating: open, count: 5000) + "1" + String(repeating: close, count: 5000) + "\n"
            let first = error { try SpecNode.parse(Data(text.utf8), file: "job.yml") }
            #expect(first.hasPrefix("job.yml:") && first.contains(": nested more than 64 levels deep"), "\(first)")
        }
        // What real specs nest (a pipeline's jobs.step.inputs.x.path) is far below the limit.
        let real = "jobs:\n  train:\n    inputs:\n      data:\n        path: azureml:d:1\n        mode: ro_mount\n"
        #expect(error { try SpecNode.parse(Data(real.utf8), file: "p.yml") } == "accepted")
    }

    @Test func nestedAliasesAreCountedExpanded() {
        // The "billion laughs" shape: 9 levels of 9 aliases grew memory without bound.
        var lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            lines.append("\(name): &\(name) [" + Array(repeating: "*" + previous, count: 9).joined(separator: ", ") + "]")
            previous = name
        }
        let text = lines.joined(separator: "\n") + "\n"
        #expect(error { try SpecNode.parse(Data(text.utf8), file: "laughs.yml") }.hasPrefix("laughs.yml:6: more than 250000 values once its aliases are expanded"))
        // Aliases as people use them (a shared block of settings) pass.
        let shared = "defaults: &d {mode: ro_mount, type: uri_folder}\ninputs:\n  a: *d\n  b: *d\n"
        #expect(error { try SpecNode.parse(Data(shared.utf8), file: "s.yml") } == "accepted")
    }

    @Test func duplicateKeysNonUTF8AndSizeAreNamed() {
        let dup = "command: python train.py\ncode: .\ncommand: rm -rf data\n"
        #expect(error { try SpecNode.parse(Data(dup.utf8), file: "job.yml") }.hasPrefix("job.yml:3: key 'command' appears twice in one mapping (first at line 1)"))
        // The same key in two different mappings is no duplicate; nor is a merge key.
        let fine = "a: {x: 1}\nb: {x: 2}\nbase: &b {y: 1}\nc:\n  <<: *b\n  z: 2\n"
        #expect(error { try SpecNode.parse(Data(fine.utf8), file: "ok.yml") } == "accepted")
        var latin = Data("command: echo\n".utf8)
        latin.append(contentsOf: [0x64, 0x65, 0x73, 0x63, 0x3A, 0x20, 0x63, 0x61, 0x66, 0xE9, 0x0A])
        #expect(error { try SpecNode.parse(latin, file: "job.yml") }.hasPrefix("job.yml:2: bytes that are not UTF-8"))
        let big = Data(("x: \"" + String(repeating: "a", count: 5 << 20) + "\"\n").utf8)
        #expect(error { try SpecNode.parse(big, file: "big.yml") }.hasPrefix("big.yml: \(big.count) bytes; git-ml reads YAML files of up to 4 MiB"))
        // Block scalars keep their quotes and brackets as text.
        let block = "command: |\n  echo \"[[[[{{{{\" 'x'\n  echo \"k: 1\"\n  echo \"k: 1\"\n"
        #expect(error { try SpecNode.parse(Data(block.utf8), file: "b.yml") } == "accepted")
    }

    @Test func settingsAndPointersAreGuardedToo() {
        #expect(error { try WorkspaceConfig.parse("experiment: a\nexperiment: b\n", file: ".mlops/config.yaml") }
            .hasPrefix(".mlops/config.yaml:2: key 'experiment' appears twice"))
        #expect(error { try DataPointer.parse("path: a\nsha256: " + String(repeating: "[", count: 3000), file: "d.mlref") }
            .hasPrefix("d.mlref:2: nested more than 64 levels deep"))
    }
}
