import Foundation
import Testing
@testable import Workspace

@Suite struct MetricsParserTests {
    @Test func parsesMetricsParamsAndTagsAndCountsMalformedLines() {
        var p = MetricsParser()
        let fresh = p.feed(Data("""
        {"key":"loss","value":0.5,"step":3,"timestamp":1000}
        not json
        {"key":"loss","value":NaN}
        {"value":2}
        {"key":"loss","value":"high"}
        {"param":"lr","value":0.1}
        {"tag":"team","value":"vision"}
        {"key":"acc","value":1}
        {"key":"loss","value":0.25
        """.utf8))
        #expect(fresh.map(\.key) == ["loss", "acc"])
        #expect(p.skipped == 4)
        #expect(p.params == ["lr": "0.1"])
        #expect(p.tags == ["team": "vision"])
        #expect(p.feed(Data(",\"step\":4}\n".utf8)).map(\.value) == [0.25], "a partial line waits for its end")
        #expect(p.points.map(\.step) == [3, 0, 4])
        let s = p.summary["loss"]!
        #expect(s.last == 0.25 && s.min == 0.25 && s.max == 0.5 && s.steps == 2 && s.lastStep == 4)
    }

    @Test func defaultStepsCountUpPerKey() {
        var p = MetricsParser()
        p.feed(Data("{\"key\":\"a\",\"value\":1}\n{\"key\":\"a\",\"value\":2}\n{\"key\":\"b\",\"value\":3}\n".utf8))
        #expect(p.points.map(\.step) == [0, 1, 0])
    }
}

@Suite struct RecordTests {
    @Test func runIDsSortByTimeAndAreUnique() {
        let a = RunID.make(at: Date(timeIntervalSince1970: 1_700_000_000))
        let b = RunID.make(at: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(a < b)
        #expect(RunID.isValid(a) && a.count == 26)
        #expect(Set((0..<1000).map { _ in RunID.make() }).count == 1000)
    }

    @Test func timestampsRoundTripWithMilliseconds() {
        let d = Date(timeIntervalSince1970: 1_764_426_003.512)
        let text = Timestamps.format(d)
        #expect(text == "2025-11-29T14:20:03.512Z")
        #expect(abs(Timestamps.parse(text)!.timeIntervalSince1970 - d.timeIntervalSince1970) < 0.0005)
        #expect(Timestamps.parse("yesterday") == nil)
    }

    @Test func recordJSONUsesSnakeCaseAndRoundTrips() throws {
        let r = RunRecord(id: RunID.make(), name: "n", experiment: "e", status: .completed, statusReason: nil, exitCode: 0,
                          startTime: Date(timeIntervalSince1970: 1_700_000_000), endTime: Date(timeIntervalSince1970: 1_700_000_002),
                          user: "u", host: "h", pid: 1, command: ["python", "train.py"], workingDirectory: "",
                          code: .init(commit: String(repeating: "a", count: 40), tree: String(repeating: "b", count: 40), dirty: false, branch: "main", changedPaths: []),
                          params: ["lr": "0.1"], tags: [:], metrics: ["loss": .init(last: 0.1, min: 0.1, max: 0.9, steps: 3, lastStep: 2)],
                          metricsSkipped: 0, outputs: [], gitmlVersion: gitmlVersion)
        let data = try r.encoded()
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"start_time\" : \"2023-11-14T22:13:20.000Z\""))
        #expect(text.contains("\"last_step\""))
        #expect(try RunRecord.decode(data) == r)
    }
}

@Suite struct ConfigTests {
    @Test func parsesTheTemplate() throws {
        let c = try WorkspaceConfig.parse(WorkspaceConfig.template, file: ".mlops/config.yaml")
        #expect(c == WorkspaceConfig())
    }

    @Test func unknownKeyAndWrongTypeNameFileAndLine() {
        #expect(throws: WorkspaceError.self) { try WorkspaceConfig.parse("experiment: a\nfoo: 1\n", file: "c.yaml") }
        do { _ = try WorkspaceConfig.parse("experiment: a\n\npush_records: maybe\n", file: "c.yaml") } catch let e as WorkspaceError {
            #expect(e.message.hasPrefix("c.yaml:3:"))
        } catch { Issue.record("\(error)") }
        do { _ = try WorkspaceConfig.parse("experiment: [a\n", file: "c.yaml") } catch let e as WorkspaceError {
            #expect(e.message.hasPrefix("c.yaml:"))
        } catch { Issue.record("\(error)") }
    }
}

@Suite struct FormattingTests {
    @Test func numbersDurationsAndBytes() {
        #expect(RunFormatting.number(0.123456) == "0.1235")
        #expect(RunFormatting.number(3) == "3")
        #expect(RunFormatting.number(1.5e-7) == "1.5e-07")
        #expect(RunFormatting.duration(0.25) == "250ms")
        #expect(RunFormatting.duration(125) == "2m05s")
        #expect(RunFormatting.bytes(1_500_000) == "1.5 MB")
    }
}

@Suite struct NoteTests {
    typealias Line = (prefix: String, line: String)
    static func line(_ id: String, _ status: String) -> Line { ("git-ml run \(id) ", "git-ml run \(id) \(status) name=\(id)") }

    @Test func newRunsAreAppendedAndKnownRunsReplacedInPlace() {
        #expect(Workspace.mergeNote(nil, lines: [Self.line("a1", "running")]) == "git-ml run a1 running name=a1\n")
        let two = "git-ml run a1 running name=a1\ngit-ml run b2 running name=b2\n"
        // Appended: neither run is in the note (an id that is a prefix of another's is not a match).
        #expect(Workspace.mergeNote("git-ml run a1 running name=a1", lines: [Self.line("b2", "running")]) == two)
        #expect(Workspace.mergeNote(two, lines: [Self.line("a", "running")]) == two + "git-ml run a running name=a\n")
        // Replaced where it stands, the first line and a later one; a new run in the same update is appended.
        #expect(Workspace.mergeNote(two, lines: [Self.line("a1", "completed")])
                == "git-ml run a1 completed name=a1\ngit-ml run b2 running name=b2\n")
        #expect(Workspace.mergeNote(two, lines: [Self.line("c3", "running"), Self.line("b2", "failed")])
                == "git-ml run a1 running name=a1\ngit-ml run b2 failed name=b2\ngit-ml run c3 running name=c3\n")
        // A line of someone else's note text is kept.
        #expect(Workspace.mergeNote("reviewed by ann\n" + two, lines: [Self.line("b2", "completed")])
                == "reviewed by ann\ngit-ml run a1 running name=a1\ngit-ml run b2 completed name=b2\n")
    }
}
