import Foundation
import Testing
import GitKit
@testable import Workspace

/// A record kind declared here, in the test, and nowhere in git-ml: everything it
/// does comes from the ledger alone.
private let widget = RecordKind(name: "widget", refPrefix: "refs/ml/widgets/", document: "widget.json", chainsHistory: true)
private let gadget = RecordKind(name: "gadget", refPrefix: "refs/ml/gadgets/", document: "gadget.json", chainsHistory: false)

private struct Widget: Codable, Equatable { var name: String; var size: Int }

/// A fresh repository with one commit, made by the real git.
func makeRepository() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for args in [["init", "-q"], ["-c", "user.name=T", "-c", "user.email=t@x", "commit", "-q", "--allow-empty", "-m", "first"]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", dir] + args
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }
    return dir
}

@Suite struct LedgerTests {
    @Test func aNewKindWritesReadsListsAndKeepsItsHistory() throws {
        let dir = try makeRepository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ws = try Workspace.open(at: dir)
        let ledger = ws.ledger
        for size in 1...3 {
            try ledger.write(widget, "blue", expecting: .latest) { _ in
                RecordContent(document: try Workspace.recordJSON(Widget(name: "blue", size: size)),
                              files: ["notes": .folder(["a.txt": .data(Data("size \(size)".utf8))])], message: "widget \(size)\n")
            }
        }
        try ledger.write(widget, "red", expecting: .absent) { _ in
            RecordContent(document: try Workspace.recordJSON(Widget(name: "red", size: 9)), message: "red\n")
        }
        let head = try #require(try ledger.head(widget, "blue"))
        #expect(try ledger.decode(Widget.self, widget, at: head) == Widget(name: "blue", size: 3))
        #expect(try ledger.file(at: head, path: "notes/a.txt") == Data("size 3".utf8))
        #expect(Set(try ledger.list(widget).map(\.key)) == ["blue", "red"])
        let history = try ledger.history(widget, "blue")
        #expect(try history.map { try ledger.decode(Widget.self, widget, at: $0).size } == [3, 2, 1])

        // The same content again is not a new state.
        try ledger.write(widget, "blue", expecting: .latest) { _ in
            RecordContent(document: try Workspace.recordJSON(Widget(name: "blue", size: 3)),
                          files: ["notes": .folder(["a.txt": .data(Data("size 3".utf8))])], message: "again\n")
        }
        #expect(try ledger.history(widget, "blue").count == 3)

        // A record that exists is not created again, and a stale owner cannot overwrite it.
        #expect(throws: (any Error).self) {
            try ledger.write(widget, "red", expecting: .absent) { _ in RecordContent(document: Data("{}".utf8), message: "x\n") }
        }
        #expect(throws: (any Error).self) {
            try ledger.write(widget, "blue", expecting: .at(history[1])) { _ in RecordContent(document: Data("{}".utf8), message: "x\n") }
        }
        #expect(try ledger.decode(Widget.self, widget, at: try #require(try ledger.head(widget, "blue"))).size == 3)
    }

    @Test func declaredParentsComeFirstAndAnUnchainedKindKeepsOnlyItsHead() throws {
        let dir = try makeRepository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ws = try Workspace.open(at: dir)
        let code = try ws.requireHead()
        let first = try ws.ledger.write(gadget, "g", expecting: .absent) { _ in
            RecordContent(document: Data("{\"n\":1}".utf8), parents: [code], message: "one\n")
        }
        let second = try ws.ledger.write(gadget, "g", expecting: .at(first)) { current in
            #expect(current == first)
            var content = try ws.ledger.content(at: first, gadget)
            content.document = Data("{\"n\":2}".utf8)
            return content
        }
        #expect(try ws.repository.readCommit(second).parents == [code])
        #expect(try ws.ledger.history(gadget, "g") == [second])
        #expect(try ws.ledger.document(gadget, at: second) == Data("{\"n\":2}".utf8))
    }

    /// A model version: first parent the run that made it, later states (tags) chained after it.
    @Test func aChainedKindDeclaresParentsOnItsFirstRecordAndItsHistoryStopsThere() throws {
        let dir = try makeRepository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ws = try Workspace.open(at: dir)
        let code = try ws.requireHead()
        let first = try ws.ledger.write(widget, "w/1", expecting: .absent) { _ in
            RecordContent(document: try Workspace.recordJSON(Widget(name: "w", size: 1)), parents: [code], message: "one\n")
        }
        let second = try ws.ledger.write(widget, "w/1", expecting: .latest) { _ in
            RecordContent(document: try Workspace.recordJSON(Widget(name: "w", size: 2)), message: "two\n")
        }
        #expect(try ws.repository.readCommit(first).parents == [code])
        #expect(try ws.repository.readCommit(second).parents == [first])
        // The code commit the first record names is not a state of the record.
        #expect(try ws.ledger.history(widget, "w/1") == [second, first])
    }

    @Test func concurrentNewVersionsNeverCollide() throws {
        let dir = try makeRepository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writers = 6, each = 5
        let failures = NSLock()
        nonisolated(unsafe) var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            do {
                // A workspace (and so a libgit2 handle) per thread, as separate processes would have.
                let ws = try Workspace.open(at: dir)
                for i in 0..<each {
                    _ = try ws.ledger.writeNextVersion(widget, name: "model") { version in
                        RecordContent(document: try Workspace.recordJSON(Widget(name: "w\(w)-\(i)", size: Int(version)!)), message: "v\(version)\n")
                    }
                }
            } catch {
                failures.lock(); errors.append("\(error)"); failures.unlock()
            }
        }
        #expect(errors.isEmpty)
        let ws = try Workspace.open(at: dir)
        let versions = try ws.ledger.list(widget, under: "model/")
        #expect(Set(versions.map(\.key)) == Set((1...writers * each).map { "model/\($0)" }))
        // Every writer's every record landed under a version of its own.
        let names = try versions.map { try ws.ledger.decode(Widget.self, widget, at: $0.commit).name }
        #expect(Set(names).count == writers * each)
        #expect(try ws.ledger.latestNumericVersion(widget, name: "model") == writers * each)
    }

    /// What a registration sees when another one holds the lock of the version it is about
    /// to take (two `git ml env create` at the same moment): it waits and counts again.
    @Test func aNextVersionWhoseRefIsLockedIsWaitedFor() throws {
        let dir = try makeRepository()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ws = try Workspace.open(at: dir)
        let target = try ws.ledger.write(gadget, "target", expecting: .absent) { _ in
            RecordContent(document: Data("{}".utf8), message: "target\n")
        }
        let lock = dir + "/.git/refs/ml/widgets/model/1.lock"
        try FileManager.default.createDirectory(atPath: dir + "/.git/refs/ml/widgets/model", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: lock, contents: nil))
        // The other writer lets go of its lock without taking the version.
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { try? FileManager.default.removeItem(atPath: lock) }
        let (version, commit) = try ws.ledger.linkNextVersion(widget, name: "model") { _ in target }
        #expect(version == "1" && commit == target)
        #expect(!FileManager.default.fileExists(atPath: lock))
    }
}
