import Foundation

/// A program of the user's set-up (git itself, gpg, ssh-keygen) run to its end, its output
/// in files, never pipes: an agent or daemon it starts (gpg-agent, a credential cache) could
/// hold a pipe open long after the program is gone.
enum ExternalProgram {
    struct Result {
        var status: Int32
        var output: String
        var error: String
        var succeeded: Bool { status == 0 }
        /// The last non-empty line of its error output, for a one-line message.
        var errorLine: String {
            error.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.last { !$0.isEmpty && !$0.hasPrefix("[GNUPG:]") }
                ?? "exit status \(status)"
        }
    }

    /// Runs `arguments` (looked up on PATH) in `directory`, its files in `scratch`.
    static func run(_ arguments: [String], input: Data? = nil, environment: [String: String],
                    directory: String? = nil, scratch: String) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let outPath = scratch + "/stdout", errPath = scratch + "/stderr", inPath = scratch + "/stdin"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        FileManager.default.createFile(atPath: inPath, contents: input ?? Data())
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let inp = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
        defer { try? out.close(); try? err.close(); try? inp.close() }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inp
        do { try process.run() } catch {
            throw WorkspaceError(.invalidArgument, "cannot start \(arguments[0]): \(error.localizedDescription)",
                                 hint: "install \(arguments[0]) and put it on PATH")
        }
        process.waitUntilExit()
        func read(_ p: String) -> String { FileManager.default.contents(atPath: p).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        return Result(status: process.terminationStatus, output: read(outPath), error: read(errPath))
    }
}

/// Runs the `git` program for what must go exactly as the user's own git goes: fetches and
/// pushes through their remotes, credential helpers and SSH set-up, and signature checks
/// with their keys. Everything else git-ml does with git goes through libgit2.
struct GitProgram {
    let workTree: String
    let stateDirectory: String
    let environment: [String: String]

    /// Runs `git ARGS` in the work tree; git's hooks do not call git-ml again from inside it,
    /// and git never prompts on the terminal (a missing credential is an error to report).
    func run(_ arguments: [String], input: Data? = nil) throws -> ExternalProgram.Result {
        var env = environment
        env["GITML_HOOK_ACTIVE"] = "1"
        env["GIT_TERMINAL_PROMPT"] = env["GIT_TERMINAL_PROMPT"] ?? "0"
        let scratch = try FileManager.default.privateScratchDirectory(stateDirectory, purpose: "git")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        return try ExternalProgram.run(["git"] + arguments, input: input, environment: env, directory: workTree, scratch: scratch)
    }
}

extension Workspace {
    var gitProgram: GitProgram { GitProgram(workTree: workTree, stateDirectory: stateDirectory, environment: environment) }
}

extension FileManager {
    /// A private scratch folder under `.git/ml/tmp` (mode 0700), removed by the caller.
    func privateScratchDirectory(_ stateDirectory: String, purpose: String) throws -> String {
        let root = stateDirectory + "/tmp"
        try createDirectory(atPath: root, withIntermediateDirectories: true)
        let path = root + "/\(purpose)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(path, 0o700) == 0 else {
            throw WorkspaceError(.storage, "cannot make \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }
}
