import ArgumentParser
import Foundation
import ObjectStore
import Workspace

struct AuditCommand: WorkspaceCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Print the chain behind a model, run or data object with the evidence of each link; --verify re-hashes every byte.",
        discussion: """
        For a model version: the registration (who, when, signature) -> the run that made it (user, host, times, command, its record against its ref) -> the code commit (author, date, signature; the recorded snapshot) -> environment lock -> each input (and the run that produced it, recursively) -> outputs. --verify re-hashes every object on the chain on every core. Any broken link: a non-zero exit naming it. With `git config ml.requireSignedModels true`, an unsigned or badly signed registration is a broken link.

        Examples:
          git ml audit churn@production
          git ml audit churn:3 --verify
          git ml audit churn@production --verify --format md >> "$GITHUB_STEP_SUMMARY"
          git ml audit latest --format json
        """)
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, md, json }
    @Argument(help: "A model (NAME:VERSION, NAME@ALIAS), run, data pointer, object id or commit.")
    var ref: String
    @Flag(help: "Re-hash every object on the chain.")
    var verify = false
    @Option(help: "text, md or json.")
    var format: Format = .text
    @Flag(help: "The same as --format json.")
    var json = false

    func run(in workspace: Workspace) throws {
        let subject = try workspace.lineageSubject(ref)
        let bar: (@Sendable (StoreProgress) -> Void)? = verify && Terminal.current.stderrIsTTY ? ProgressLine(label: "verifying").update : nil
        let report = try workspace.audit(subject, verify: verify, progress: bar)
        switch json ? .json : format {
        case .json: Out.print(try Render.json(AuditJSON(report: report)))
        case .md: Out.print(AuditRendering.markdown(report))
        case .text: Out.print(AuditRendering.text(report, .current))
        }
        if let (link, problem) = report.firstProblem {
            let broken = report.links.filter { $0.status == .broken }.count
            var hint = ""
            if !report.missingObjects.isEmpty {
                hint = "; \(report.missingObjects.count) object(s) missing from .git/ml/objects (\(report.missingObjects.prefix(3).map { String($0.prefix(12)) }.joined(separator: ", "))\(report.missingObjects.count > 3 ? ", …" : "")): git ml pull fetches them from the object remote, or copy them from a clone that has them"
            }
            Out.error("git-ml: audit of \(subject) failed: \(link): \(problem)" + (broken > 1 ? " (\(broken) broken links)" : "") + hint)
            throw ExitCode(1)
        }
    }
}

struct AuditJSON: Encodable {
    var report: AuditReport
    enum Keys: String, CodingKey { case subject, verified, ok, links, objects, bytes, missing_objects }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(report.subject, forKey: .subject)
        try c.encode(report.verified, forKey: .verified)
        try c.encode(report.ok, forKey: .ok)
        try c.encode(report.links, forKey: .links)
        try c.encode(report.objects, forKey: .objects)
        try c.encode(report.bytes, forKey: .bytes)
        try c.encode(report.missingObjects, forKey: .missing_objects)
    }
}

enum AuditRendering {
    static func summary(_ r: AuditReport) -> String {
        let broken = r.links.filter { $0.status == .broken }.count
        return (r.ok ? "every link holds" : "\(broken) broken link(s)") + " · \(r.links.count) links · \(r.objects) objects, "
            + RunFormatting.bytes(r.bytes) + (r.verified ? " re-hashed" : " present (not re-hashed; --verify re-hashes)")
    }

    static func text(_ r: AuditReport, _ t: Terminal) -> String {
        var lines = [t.bold("audit of \(r.subject)") + "  " + t.dim(summary(r))]
        let width = min((r.links.flatMap(\.evidence).map(\.key.count).max() ?? 8) + 2, 20)
        for l in r.links {
            lines.append((l.status == .ok ? t.green("✔ ") : t.red("✘ ")) + t.bold(l.name))
            for e in l.evidence { lines.append("    " + t.dim(e.key.padding(toLength: width, withPad: " ", startingAt: 0)) + e.value) }
            for p in l.problems { lines.append("    " + t.red("✘ " + p)) }
        }
        return lines.joined(separator: "\n")
    }

    static func markdown(_ r: AuditReport) -> String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var lines = ["### Audit of \(cell(r.subject))", "", (r.ok ? "✅ " : "❌ ") + summary(r), "", "| | link | evidence |", "| --- | --- | --- |"]
        for l in r.links {
            let evidence = l.evidence.map { "**\(cell($0.key))**: \(cell($0.value))" } + l.problems.map { "❌ **\(cell($0))**" }
            lines.append("| \(l.status == .ok ? "✅" : "❌") | \(cell(l.name)) | \(evidence.joined(separator: "<br>")) |")
        }
        return lines.joined(separator: "\n")
    }
}
