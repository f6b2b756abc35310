import Foundation
import Testing

/// What a finished command gave.
struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The built git-ml binary: $GITML_BIN, else the one beside this test bundle.
let gitmlBinary: String = {
    if let b = ProcessInfo.processInfo.environment["GITML_BIN"] { return b }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("git-ml").path
}()

/// A fresh git repository in a temp folder, with one commit, for one test.
final class TestRepo: Sendable {
    let root: String

    init(commit: Bool = true, files: [String: String] = ["README.md": "# test\n"], in base: String? = nil) throws {
        root = (base ?? FileManager.default.temporaryDirectory.path) + "/gitml-e2e-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try git("init", "-q", "-b", "main")
        try git("config", "user.name", "Test User")
        try git("config", "user.email", "test@example.com")
        for (path, text) in files { try write(path, text) }
        if commit {
            try git("add", "-A")
            try git("commit", "-q", "-m", "first")
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func path(_ p: String) -> String { root + "/" + p }

    func write(_ relative: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path(relative))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func read(_ relative: String) -> String? {
        FileManager.default.contents(atPath: path(relative)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Runs git (the real program) in the repository; throws on failure.
    @discardableResult
    func git(_ args: String...) throws -> String {
        let r = try exec(["git"] + args, cwd: root)
        guard r.status == 0 else { throw TestFailure("git \(args.joined(separator: " ")): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `git-ml ARGS` in `cwd` (default: the repository's top).
    @discardableResult
    func ml(_ args: [String], cwd: String? = nil, env: [String: String] = [:]) throws -> Result {
        try exec([gitmlBinary] + args, cwd: cwd ?? root, env: env)
    }

    func ml(_ args: String...) throws -> Result { try ml(args) }

    /// The run.json of a run, parsed.
    func record(_ id: String) throws -> [String: Any] {
        let text = try git("show", "refs/ml/runs/\(id):run.json")
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    /// Starts `git-ml ARGS` in the background and waits until its run is recorded
    /// as running (the run count goes up by one); stdout is piped, stderr dropped.
    func startInBackground(_ args: [String], env: [String: String] = [:]) throws -> (process: Process, stdout: Pipe) {
        let before = try runIDs().count
        let p = Process()
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new } }
        p.executableURL = URL(fileURLWithPath: gitmlBinary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        guard try waitUntil(20, { try runIDs().count == before + 1 }) else { throw TestFailure("git-ml \(args) did not start a run") }
        return (p, out)
    }

    func runIDs() throws -> [String] {
        try git("for-each-ref", "--format=%(refname)", "refs/ml/runs/").split(separator: "\n")
            .map { String($0.dropFirst("refs/ml/runs/".count)) }.sorted()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs a program to completion, collecting its output.
func exec(_ argv: [String], cwd: String, env: [String: String] = [:], stdin: String? = nil) throws -> Result {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = argv
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    var environment = ProcessInfo.processInfo.environment
    environment["NO_COLOR"] = "1"
    // The mlflow client's telemetry: no network here, and its session variable races
    // between a process's threads (a KeyError in a client thread, seen under load).
    environment["MLFLOW_DISABLE_TELEMETRY"] = "true"
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty child never blocks on a full pipe.
    let errData = LockedData()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData.set(err.fileHandleForReading.readDataToEndOfFile())
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                  stderr: String(decoding: errData.get(), as: UTF8.self))
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// The id git-ml printed when the run started ("git-ml: run <id> (...").
func runID(from stderr: String) -> String? {
    guard let r = stderr.range(of: "git-ml: run ") else { return nil }
    return String(stderr[r.upperBound...].prefix(26))
}

/// Polls `condition` every 50 ms for up to `seconds`.
func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

func sha256(_ path: String) throws -> String {
    let r = try exec(["sha256sum", path], cwd: "/")
    return String(r.stdout.prefix(64))
}
