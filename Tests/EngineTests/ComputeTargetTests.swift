import Engine
import Foundation
import ObjectStore
import Synchronization
import Testing
import Workspace

/// Collects what a run reports.
final class Collector: JobObserver {
    let stages = Mutex<[String]>([])
    let started = Mutex<String?>(nil)
    let output = Mutex(Data())
    func runStarted(_ record: RunRecord, live: LiveRun) { started.withLock { $0 = record.id } }
    func output(_ data: Data, isStderr: Bool) { output.withLock { $0.append(data) } }
    func metricsLogged(_ points: [MetricPoint]) {}
    func storing(_ progress: StoreProgress) {}
    func runFinished(_ record: RunRecord) {}
    func stage(_ message: String) { stages.withLock { $0.append(message) } }
    func buildOutput(_ line: String) {}
}

/// A fresh repository with one commit, made by the real git.
func makeRepository() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engine-\(UUID())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try "hello\n".write(toFile: dir + "/README.md", atomically: true, encoding: .utf8)
    for args in [["init", "-q"], ["add", "-A"], ["-c", "user.name=T", "-c", "user.email=t@x", "commit", "-q", "-m", "first"]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", dir] + args
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }
    return dir
}

@Suite struct ComputeTargetTests {
    @Test func aResolvedJobBuiltInCodeRunsOnTheLocalTargetWithoutAFile() throws {
        let dir = try makeRepository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/../engine-data-\(UUID()).txt"
        try "1,2,3\n".write(toFile: data, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: data) }
        let workspace = try Workspace.open(at: dir)

        // Everything a job file would have said, said in code: an input, a named output, a variable, two ranks.
        let id = RunID.make()
        let live = workspace.liveFolder(id)
        var run = RunRequest(command: ["/bin/sh", "-c", "cat \"$IN\" > \"$OUT/copy-$RANK.txt\"; echo \"$GREETING\" > outputs/hello.txt"],
                             workingDirectory: live + "/code")
        run.id = id
        run.name = "no-file"
        run.inputs = [RunRecord.Input(name: "table", type: "uri_file", path: data)]
        run.collected = [CollectedOutput(name: "artifacts/outputs", path: "artifacts/outputs", absolute: live + "/code/outputs"),
                         CollectedOutput(name: "copies", path: "named-outputs/copies", absolute: live + "/named-outputs/copies")]
        var job = ResolvedJob(run: run)
        job.workFolder = live + "/code"
        job.inputs = [.init(name: "table", source: .path(data, given: data), target: live + "/inputs/table/data.txt")]
        job.folders = [live + "/named-outputs/copies"]
        job.variables = ["GREETING": "hi from code", "IN": live + "/inputs/table/data.txt", "OUT": live + "/named-outputs/copies"]
        job.processes = [LaunchPlan.Process(environment: ["RANK": "0"]), LaunchPlan.Process(environment: ["RANK": "1"])]
        job.scratch = live

        let observer = Collector()
        let target: any ComputeTarget = LocalCompute(workspace: workspace)
        #expect(target.name == "local")
        let record = try target.run(job, observer: observer)
        #expect(record.status == .completed, "\(record.statusReason ?? "") \(String(decoding: observer.output.withLock { $0 }, as: UTF8.self))")
        #expect(record.id == id && observer.started.withLock { $0 } == id)
        let input = try #require(record.inputs?.first)
        #expect(input.sha256 == FileHashing.sha256(Data("1,2,3\n".utf8)).hex && input.size == 6)
        let copies = try #require(record.outputs.first { $0.name == "copies" })
        #expect(copies.files == 2 && copies.type == "uri_folder")
        #expect(record.outputs.contains { $0.name == "artifacts/outputs" && $0.files == 1 })
        #expect(!FileManager.default.fileExists(atPath: live), "the live folder is removed")
        // Read back from git, as any later command would.
        #expect(try workspace.record(id: id)?.status == .completed)
    }
}

final class Flag: Sendable { let value = Mutex(false) }

@Suite struct ProcessFolderTests {
    @Test func spawningInAFolderNeverMovesTheProcessFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spawn-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let before = FileManager.default.currentDirectoryPath
        // A watcher reads the process's folder without pause while threads spawn, each in a folder of its own.
        let moved = Flag(), done = Flag()
        let watcher = Thread {
            while !done.value.withLock({ $0 }) {
                if FileManager.default.currentDirectoryPath != before { moved.value.withLock { $0 = true } }
            }
        }
        watcher.start()
        DispatchQueue.concurrentPerform(iterations: 40) { i in
            let sub = dir + "/\(i)"
            try? FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
            let out = Mutex(Data())
            let result = ProcessSupervisor().run(ProcessSpec(arguments: ["/bin/pwd"], environment: [:], workingDirectory: sub, stdinFromNull: true),
                                                 output: { data, _ in out.withLock { $0.append(data) } }, tick: {})
            #expect(result.exitCode == 0)
            #expect(String(decoding: out.withLock { $0 }, as: UTF8.self) == sub + "\n")
        }
        done.value.withLock { $0 = true }
        #expect(!moved.value.withLock { $0 })
        #expect(FileManager.default.currentDirectoryPath == before)
    }
}
