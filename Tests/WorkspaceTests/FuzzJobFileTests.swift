import Foundation
import Testing
@testable import Workspace

/// Job files mutated at random (seeded, so a failure is reproduced by its case number): every
/// one is either planned or refused with a one-line error; none crashes, hangs or escapes as
/// anything but git-ml's own error.
@Suite struct FuzzJobFileTests {
    static let seeds = [
        """
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        code: src
        command: >-
          python main.py --data ${{inputs.data}} --C ${{inputs.C}}
          $[[--momentum ${{inputs.momentum}}]] --out ${{outputs.model}}
        inputs:
          data:
            type: uri_file
            path: ./data/iris.csv
          C: 0.8
          momentum:
            type: number
            optional: true
        outputs:
          model:
            type: mlflow_model
        environment: azureml:AzureML-sklearn-1.5@latest
        compute: azureml:cpu-cluster
        limits:
          timeout: 60
        experiment_name: fuzz
        display_name: fuzz-run
        """,
        """
        command: |
          echo "a: [1, {b: 2}]" && echo '${{inputs.n}}'
        environment:
          image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04
          conda_file:
            name: env
            dependencies: [python=3.11, pip, {pip: [six==1.16.0]}]
        inputs:
          n: 3
          flag: true
        environment_variables: {A: "1", B: two}
        distribution: {type: pytorch, process_count_per_instance: 2}
        tags: {team: vision}
        """,
        "type: command\ncode: .\ncommand: echo hi\ndefaults: &d {mode: ro_mount}\ninputs:\n  x:\n    <<: *d\n    type: uri_folder\n    path: src\n",
    ]

    /// xorshift64*: the same cases on every machine.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 { state ^= state >> 12; state ^= state << 25; state ^= state >> 27; return state &* 2685821657736338717 }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    static let fragments: [[UInt8]] = ["[", "]", "{", "}", ":", ": ", "- ", "&a ", "*a", "!!str ", "|", ">-", "\"", "'", "#", "\t", "\n",
                                       "${{", "}}", "$[[", "]]", "~", "null", "-1e999", "99999999999999999999", "\u{0}", "é", "\u{202E}",
                                       "<<: *a", "? ", "---\n", "...\n", "%YAML 1.1\n"].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xE2, 0x82]]

    static func mutate(_ seed: [UInt8], _ random: inout Random) -> [UInt8] {
        var bytes = seed
        for _ in 0..<(1 + random.below(4)) {
            let at = random.below(bytes.count + 1)
            switch random.below(7) {
            case 0: if !bytes.isEmpty { bytes[min(at, bytes.count - 1)] ^= UInt8(1 << random.below(8)) }
            case 1: bytes.insert(contentsOf: fragments[random.below(fragments.count)], at: at)
            case 2: bytes.removeSubrange(at..<min(bytes.count, at + random.below(40)))
            case 3:
                // A line repeated (a duplicate key, or a list grown).
                let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
                let i = random.below(lines.count)
                var out = lines.map(Array.init)
                out.insert(out[i], at: i)
                bytes = Array(out.joined(separator: [0x0A]))
            case 4: bytes = Array(bytes.prefix(at))
            case 5:
                // Nesting, balanced (deep enough to overflow a recursive tree builder) or not.
                let depth = 1 + random.below(30_000)
                let open = UInt8(ascii: random.below(2) == 0 ? "[" : "{"), close = open == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: "}")
                let nested = Array(repeating: open, count: depth) + (open == UInt8(ascii: "[") ? [] : Array("a: 1".utf8))
                    + Array(repeating: close, count: random.below(4) == 0 ? random.below(depth) : depth)
                bytes = Array("deep: ".utf8) + nested + [0x0A] + bytes
            default:
                // Indentation shifted on one line.
                if let nl = bytes[at...].firstIndex(of: 0x0A) { bytes.insert(contentsOf: Array(repeating: 0x20, count: random.below(9)), at: nl + 1) }
            }
        }
        return bytes
    }

    @Test func mutatedJobFilesArePlannedOrRefusedInOneLine() throws {
        let dir = try makeRepository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["src", "data"] { try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
        try Data("a,b\n".utf8).write(to: URL(fileURLWithPath: dir + "/data/iris.csv"))
        let cases = 400
        var random = Random(state: 0x9E37_79B9_7F4A_7C15)
        var mutated: [[UInt8]] = []
        for i in 0..<cases { mutated.append(Self.mutate(Array(Self.seeds[i % Self.seeds.count].utf8), &random)) }
        let inputs = mutated

        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var problems: [String] = []
        nonisolated(unsafe) var current = 0
        nonisolated(unsafe) var planned = 0
        let worker = Thread {
            // The workspace (and its libgit2 handle) belongs to the thread that uses it.
            guard let ws = try? Workspace.open(at: dir) else { problems.append("cannot open the repository"); done.signal(); return }
            for (i, bytes) in inputs.enumerated() {
                current = i
                let file = dir + "/job.yml"
                try? Data(bytes).write(to: URL(fileURLWithPath: file))
                do {
                    let job = try ws.readJobFile(file, overrides: [])
                    if job.type == .command { _ = try ws.planJob(job); planned += 1 }
                } catch let e as WorkspaceError {
                    if e.message.contains("\n") || e.message.isEmpty { problems.append("case \(i): not one line: \(e.message)") }
                } catch {
                    problems.append("case \(i): \(type(of: error)) escaped: \(error)")
                }
            }
            done.signal()
        }
        worker.stackSize = 8 << 20
        worker.start()
        // Bounded: a hang is a failure naming its case, not a stuck test run.
        let finished = done.wait(timeout: .now() + 120) == .success
        #expect(finished, "case \(current) did not finish within the bound: \(String(decoding: inputs[current], as: UTF8.self).prefix(300))")
        guard finished else { return }
        #expect(problems.isEmpty, "\(problems.prefix(10).joined(separator: "\n"))")
        // The mutations leave some files valid: both paths are exercised.
        #expect(planned > 0 && planned < cases, "\(planned) of \(cases) planned")
    }
}
