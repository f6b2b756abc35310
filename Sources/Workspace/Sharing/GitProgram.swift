import Foundation
import Synchronization

/// Runs the `git` program for what must go exactly as the user's own git goes: fetches and
/// pushes through their remotes, credential helpers and SSH set-up. Everything else
/// git-ml does with git goes through libgit2.
struct GitProgram {
    let workTree: String
    let environment: [String: String]

    struct Result {
        var status: Int32
        var output: String
        var errors: String
        var succeeded: Bool { status == 0 }
    }

    /// Runs `git ARGS` in the work tree; git's hooks do not call git-ml again from inside it.
    func run(_ arguments: [String], input: Data? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: workTree)
        var env = environment
        env["GITML_HOOK_ACTIVE"] = "1"
        env["GIT_TERMINAL_PROMPT"] = env["GIT_TERMINAL_PROMPT"] ?? "0"
        process.environment = env
        let out = Pipe(), err = Pipe(), stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        do { try process.run() } catch {
            throw WorkspaceError(.storage, "cannot run git: \(error)", hint: "install git and put it on PATH")
        }
        if let input {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }
        // Read both pipes at once, so a chatty git never blocks on a full pipe.
        let errors = Mutex(Data())
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            let data = err.fileHandleForReading.readDataToEndOfFile()
            errors.withLock { $0 = data }
            group.leave()
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
                      errors: String(decoding: errors.withLock { $0 }, as: UTF8.self))
    }
}

extension Workspace {
    var gitProgram: GitProgram { GitProgram(workTree: workTree, environment: environment) }
}
