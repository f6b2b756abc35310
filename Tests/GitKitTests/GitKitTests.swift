import Foundation
import Synchronization
import Testing
@testable import GitKit

/// A temp repository made with the real git program, with one commit.
final class Scratch {
    let root: String
    init(commit: Bool = true) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("gitkit-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try sh("git init -q -b main && git config user.name T && git config user.email t@e.st")
        if commit { try sh("echo hello > a.txt && mkdir -p d && echo x > d/b.txt && git add -A && git commit -qm one") }
    }
    deinit { try? FileManager.default.removeItem(atPath: root) }

    @discardableResult
    func sh(_ script: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = URL(fileURLWithPath: root)
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw GitError(code: .other(-1), operation: script, message: "failed") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
    func open() throws -> Repository { try Repository.discover(from: root, environment: [:]) }
}

@Suite struct RepositoryTests {
    @Test func discoversFromSubfolderAndReadsHead() throws {
        let s = try Scratch()
        let repo = try Repository.discover(from: s.root + "/d", environment: [:])
        #expect(repo.workDirectory == URL(fileURLWithPath: s.root).resolvingSymlinksInPath().path || repo.workDirectory == s.root)
        #expect(try repo.headCommit()?.hex == (try s.sh("git rev-parse HEAD")))
        #expect(repo.headBranch() == "main")
    }

    @Test func honoursGitDirAndWorkTree() throws {
        let s = try Scratch()
        let repo = try Repository.discover(from: "/", environment: ["GIT_DIR": s.root + "/.git", "GIT_WORK_TREE": s.root])
        #expect(try repo.headCommit() != nil)
        #expect(repo.workDirectory?.hasSuffix(URL(fileURLWithPath: s.root).lastPathComponent) == true)
    }

    @Test func unbornHeadIsNil() throws {
        let s = try Scratch(commit: false)
        #expect(try s.open().headCommit() == nil)
    }

    @Test func notARepository() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("norepo-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: GitError.self) { try Repository.discover(from: dir, environment: ["GIT_CEILING_DIRECTORIES": dir + "/.."]) }
    }

    @Test func blobsTreesAndCommitsRoundTrip() throws {
        let s = try Scratch()
        let repo = try s.open()
        let blob = try repo.writeBlob(Data("content\n".utf8))
        #expect(blob.hex == (try s.sh("printf 'content\\n' | git hash-object --stdin")))
        #expect(try repo.readBlob(blob) == Data("content\n".utf8))
        let tree = try repo.writeTree(paths: ["x/y/z.txt": (blob, .blob), "run.sh": (blob, .executable)])
        #expect(try repo.readFile(in: tree, path: "x/y/z.txt") == Data("content\n".utf8))
        #expect(try repo.treeEntry(in: tree, path: "run.sh")?.mode == .executable)
        let head = try #require(try repo.headCommit())
        let commit = try repo.createCommit(tree: tree, parents: [head], message: "msg\n", author: Signature(name: "A", email: "a@b"))
        let info = try repo.readCommit(commit)
        #expect(info.parents == [head])
        #expect(info.tree == tree)
        #expect(info.message == "msg\n")
        #expect(try s.sh("git cat-file -t \(commit.hex)") == "commit")
    }

    @Test func referenceCompareAndSwap() throws {
        let s = try Scratch()
        let repo = try s.open()
        let head = try #require(try repo.headCommit())
        let other = try repo.createCommit(tree: try repo.readCommit(head).tree, parents: [head], message: "2", author: Signature(name: "A", email: "a@b"))
        try repo.updateReference("refs/ml/test", to: head, expected: nil, message: "create")
        #expect(throws: GitError.self) { try repo.updateReference("refs/ml/test", to: other, expected: nil, message: "again") }
        do {
            try repo.updateReference("refs/ml/test", to: other, expected: other, message: "wrong expectation")
            Issue.record("a stale expected value must fail")
        } catch let e as GitError {
            #expect(e.isContention)
        }
        try repo.updateReference("refs/ml/test", to: other, expected: head, message: "ok")
        #expect(try repo.referenceTarget("refs/ml/test") == other)
        #expect(try repo.references(withPrefix: "refs/ml/").map(\.name) == ["refs/ml/test"])
    }

    @Test func exactlyOneConcurrentCreatorWins() throws {
        let s = try Scratch()
        let head = try #require(try s.open().headCommit())
        let root = s.root
        for round in 0..<15 {
            let wins = Mutex(0)
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                let repo = try! Repository.discover(from: root, environment: [:])
                do {
                    try repo.updateReference("refs/ml/race/\(round)", to: head, expected: nil, message: "race")
                    wins.withLock { $0 += 1 }
                } catch let e as GitError {
                    #expect(e.isContention, "\(e)")
                } catch { Issue.record("\(error)") }
            }
            #expect(wins.withLock { $0 } == 1, "round \(round)")
        }
    }

    @Test func concurrentNoteWritersLoseNothing() throws {
        let s = try Scratch()
        let head = try #require(try s.open().headCommit())
        let root = s.root
        DispatchQueue.concurrentPerform(iterations: 6) { i in
            let repo = try! Repository.discover(from: root, environment: [:])
            for j in 0..<5 {
                try! repo.updateNote(on: head, notesRef: "refs/notes/ml", author: Signature(name: "A", email: "a@b")) { old in
                    (old ?? "") + "line \(i)-\(j)\n"
                }
            }
        }
        let note = try #require(try s.open().note(on: head, notesRef: "refs/notes/ml"))
        #expect(note.split(separator: "\n").count == 30)
        #expect(try s.sh("git notes --ref=ml show HEAD | wc -l") == "30")
    }

    @Test func snapshotOfCleanAndDirtyWorkTree() throws {
        let s = try Scratch()
        try s.sh("echo '*.log' > .gitignore && git add .gitignore && git commit -qm ignore")
        let repo = try s.open()
        let clean = try repo.snapshotWorkTree()
        #expect(!clean.isDirty)
        #expect(clean.tree == clean.headTree)
        try s.sh("echo changed > a.txt && echo new > n.txt && rm d/b.txt && echo noise > x.log && ln -s a.txt link && printf '#!/bin/sh\\n' > run.sh && chmod +x run.sh")
        let indexBefore = FileManager.default.contents(atPath: s.root + "/.git/index")
        let dirty = try repo.snapshotWorkTree()
        #expect(dirty.isDirty)
        #expect(dirty.changedPaths == ["a.txt", "d/b.txt", "link", "n.txt", "run.sh"])
        #expect(FileManager.default.contents(atPath: s.root + "/.git/index") == indexBefore)
        #expect(try repo.readFile(in: dirty.tree, path: "a.txt") == Data("changed\n".utf8))
        #expect(try repo.treeEntry(in: dirty.tree, path: "d/b.txt") == nil)
        #expect(try repo.treeEntry(in: dirty.tree, path: "x.log") == nil)
        #expect(try repo.treeEntry(in: dirty.tree, path: "link")?.mode == .link)
        #expect(try repo.treeEntry(in: dirty.tree, path: "run.sh")?.mode == .executable)

        let out = s.root + "/../materialized-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: out) }
        try repo.materialize(tree: dirty.tree, into: out)
        #expect(FileManager.default.contents(atPath: out + "/a.txt") == Data("changed\n".utf8))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + "/link") == "a.txt")
        #expect(FileManager.default.isExecutableFile(atPath: out + "/run.sh"))
    }

    @Test func diffBetweenTrees() throws {
        let s = try Scratch()
        let repo = try s.open()
        let before = try repo.snapshotWorkTree().tree
        try s.sh("printf 'hello\\nworld\\n' > a.txt && echo n > new.txt")
        let after = try repo.snapshotWorkTree().tree
        let d = try repo.diff(from: before, to: after, patch: true)
        #expect(d.changes.map(\.path) == ["a.txt", "new.txt"])
        #expect(d.changes[0].kind == .modified && d.changes[0].additions == 1 && d.changes[0].deletions == 0)
        #expect(d.changes[1].kind == .added)
        #expect(d.patch?.contains("+world") == true)
    }
}

@Suite struct ParallelStatusTests {
    /// The parallel status must name exactly the paths libgit2's status names.
    func agree(_ repo: Repository, _ step: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reference = try repo.changedPaths()
        let parallel = try repo.parallelStatus(threads: 3)
        #expect(parallel != nil, "\(step): the parallel status handles this state itself", sourceLocation: sourceLocation)
        #expect(parallel == reference, "\(step)", sourceLocation: sourceLocation)
    }

    @Test func leavesConflictsAndIntentToAddToLibgit2() throws {
        let s = try Scratch()
        try s.sh("printf 'n\\n' > planned.txt && git add -N planned.txt")
        let repo = try s.open()
        #expect(try repo.parallelStatus(threads: 2) == nil)
        #expect(try repo.changedPathsParallel() == repo.changedPaths())
    }

    @Test(arguments: [2, 3, 4])
    func readsTheIndexFileLikeGit(version: Int) throws {
        let s = try Scratch()
        try s.sh("mkdir -p a/b && for i in 1 2 3; do printf \"$i\\n\" > a/b/file-with-a-longer-name-$i.txt; done && git add -A && git commit -qm more && git update-index --index-version \(version)")
        let parsed = try #require(IndexFile.parse(path: s.root + "/.git/index"))
        let listed = try s.sh("git ls-files -s").split(separator: "\n").map { line -> (String, String, String) in
            let parts = line.split(separator: "\t")
            let meta = parts[0].split(separator: " ")
            return (String(meta[0]), String(meta[1]), String(parts[1]))
        }
        #expect(parsed.entries.count == listed.count)
        for (entry, (mode, id, path)) in zip(parsed.entries, listed) {
            let name = parsed.paths.withUnsafeBufferPointer { String(cString: $0.baseAddress! + entry.pathOffset) }
            #expect(name == path)
            #expect(String(entry.mode, radix: 8) == mode)
            #expect(ObjectID(entry.id).hex == id)
        }
        let tree = try s.sh("git rev-parse HEAD^{tree}")
        #expect(parsed.rootTree.map { ObjectID($0).hex } == tree, "the cached tree of a freshly committed index")
    }

    @Test func agreesWithLibgit2StatusWithAVersion4Index() throws {
        let s = try Scratch()
        try s.sh("mkdir -p src/deep && printf 'a\\n' > src/deep/a.py && git add -A && git commit -qm v4 && git update-index --index-version 4 && sleep 1.1 && git status --porcelain >/dev/null")
        let repo = try s.open()
        try agree(repo, "clean, index v4")
        try s.sh("printf 'b\\n' >> src/deep/a.py && printf 'n\\n' > src/new.py && rm a.txt")
        try agree(repo, "modified, new and deleted, index v4")
    }

    @Test func agreesWithLibgit2StatusAcrossWorkTreeStates() throws {
        let s = try Scratch()
        try s.sh("""
            mkdir -p src/deep ignored keep && printf 'one\\n' > src/a.py && printf 'two\\n' > src/deep/b.py && printf 'x\\n' > src/same.txt \
            && printf 'link me\\n' > target.txt && ln -s target.txt link && printf '*.log\\nignored/\\n!keep.log\\n' > .gitignore \
            && printf 'k\\n' > keep/k.txt && git add -A && git commit -qm two && sleep 1.1 && git status --porcelain >/dev/null
            """)
        let repo = try s.open()
        try agree(repo, "clean")
        #expect(try repo.changedPathsParallel().isEmpty)

        try s.sh("printf 'one, longer\\n' > src/a.py")
        try agree(repo, "modified with another size")
        try s.sh("printf 'ONE\\n' > src/deep/b.py")
        try agree(repo, "modified with the same size, in the same second as before")
        try s.sh("touch -d '2001-01-01' src/same.txt")
        try agree(repo, "touched, same bytes")
        try s.sh("rm keep/k.txt")
        try agree(repo, "deleted")
        try s.sh("printf 'n\\n' > new.txt && printf 'n\\n' > src/deep/new.py && mkdir -p fresh/inner && printf 'f\\n' > fresh/inner/f.py")
        try agree(repo, "untracked files, also in an untracked folder")
        try s.sh("printf 'noise\\n' > run.log && printf 'kept\\n' > keep.log && mkdir -p ignored/x && printf 'i\\n' > ignored/x/i.txt && printf 'l\\n' > fresh/inner/skip.log")
        try agree(repo, "ignored files and folders, a negated pattern")
        try s.sh("chmod +x src/same.txt")
        try agree(repo, "mode change")
        try s.sh("rm link && ln -s src/a.py link")
        try agree(repo, "link target change")
        try s.sh("printf 'staged\\n' > staged.txt && git add staged.txt && git add src/a.py && printf 'one\\n' > src/a.py")
        try agree(repo, "staged new file; staged change undone in the work tree")
        try s.sh("rm target.txt && mkdir target.txt && printf 'd\\n' > target.txt/inside")
        try agree(repo, "a file replaced by a folder")
        try s.sh("mkdir -p nested && cd nested && git init -q && printf 'n\\n' > n.txt")
        try agree(repo, "a nested repository")
        #expect(try repo.changedPathsParallel().contains("fresh/inner/f.py"))
        #expect(try !repo.changedPathsParallel().contains("run.log"))
    }
}
