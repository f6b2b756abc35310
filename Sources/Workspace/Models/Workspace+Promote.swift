import Foundation

/// One condition of `git ml model promote --if`: `metrics.<key> <op> base` (the alias's current
/// version's run) or `metrics.<key> <op> <number>`.
public struct PromotionCheck: Sendable, Codable, Equatable {
    public var condition: String
    public var metric: String
    public var op: String
    /// The candidate's value (the last logged).
    public var candidate: Double
    /// What it is compared with: the base's value or the number given; nil when the alias points nowhere yet.
    public var against: Double?
    public var holds: Bool
}

/// What `git ml model promote` decided.
public struct PromotionResult: Sendable, Codable, Equatable {
    public var name: String
    public var alias: String
    public var version: String
    /// The version the alias pointed at before (the base), if any.
    public var base: String?
    public var checks: [PromotionCheck]
    public var promoted: Bool
}

extension Workspace {
    static let comparisonOperators = [">=", "<=", "==", "!=", ">", "<"]

    /// Moves NAME@ALIAS to VERSION only when every condition holds: a gate for CI. Each condition
    /// compares a metric of the run that made VERSION with the same metric of the run that made the
    /// alias's current version (`base`), or with a number. An alias that points nowhere yet has no
    /// base to beat: conditions against `base` hold.
    public func promoteModel(name: String, version: String, alias: String, conditions: [String]) throws -> PromotionResult {
        try Self.checkModelName(name)
        try Self.checkAlias(alias)
        // `latest`: the highest version (what CI just registered).
        let wanted = version == "latest" ? String(try git { try ledger.latestNumericVersion(.modelVersion, name: name) }) : version
        let candidate = try modelEntry(name: name, version: wanted)
        let current = try modelAlias(name: name, alias: alias)?.version
        let baseEntry = try current.map { try modelEntry(name: name, version: $0) }
        var checks: [PromotionCheck] = []
        for condition in conditions {
            let (metric, op, rhs) = try Self.parseCondition(condition)
            let mine = try metricValue(metric, of: candidate.model, what: "\(name):\(candidate.model.version)")
            var against: Double?
            if rhs == "base" {
                if let baseEntry { against = try metricValue(metric, of: baseEntry.model, what: "\(name)@\(alias) (\(name):\(baseEntry.model.version))") }
            } else {
                against = Double(rhs)
            }
            let holds = against.map { Self.compare(mine, op, $0) } ?? true
            checks.append(PromotionCheck(condition: condition, metric: metric, op: op, candidate: mine, against: against, holds: holds))
        }
        let promoted = checks.allSatisfy(\.holds)
        if promoted && current != candidate.model.version {
            _ = try writeAlias(name: name, alias: alias, version: candidate.model.version, commit: candidate.commit)
        }
        return PromotionResult(name: name, alias: alias, version: candidate.model.version, base: current, checks: checks, promoted: promoted)
    }

    /// `metrics.acc >= base` → ("acc", ">=", "base").
    static func parseCondition(_ text: String) throws -> (metric: String, op: String, rhs: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for op in comparisonOperators {
            guard let range = trimmed.range(of: op) else { continue }
            let left = trimmed[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
            let right = trimmed[range.upperBound...].trimmingCharacters(in: .whitespaces)
            guard left.hasPrefix("metrics."), left.count > 8 else { break }
            guard right == "base" || Double(right) != nil else {
                throw WorkspaceError(.invalidArgument, "--if \"\(text)\": the right side must be 'base' or a number, not '\(right)'",
                                     hint: "e.g. --if \"metrics.acc >= base\" or --if \"metrics.loss < 0.3\"")
            }
            return (String(left.dropFirst(8)), op, right)
        }
        throw WorkspaceError(.invalidArgument, "--if \"\(text)\": expected metrics.<key> <op> base|<number>, with op one of \(comparisonOperators.joined(separator: " "))",
                             hint: "e.g. --if \"metrics.acc >= base\"")
    }

    static func compare(_ a: Double, _ op: String, _ b: Double) -> Bool {
        switch op {
        case ">=": return a >= b
        case "<=": return a <= b
        case ">": return a > b
        case "<": return a < b
        case "==": return a == b
        default: return a != b
        }
    }

    /// The last value of `metric` logged by the run that made a model version.
    func metricValue(_ metric: String, of model: ModelVersion, what: String) throws -> Double {
        guard let run = model.source.run else {
            throw WorkspaceError(.invalidArgument, "\(what) was registered from a folder, not a run, so it has no metrics to compare",
                                 hint: "register versions from runs (git ml model register NAME --run RUN --path ...)")
        }
        let record = try readRecord(commit: try resolveRun(run).commit)
        guard let summary = record.metrics[metric] else {
            throw WorkspaceError(.invalidArgument, "run \(record.id), which made \(what), logged no metric '\(metric)'",
                                 hint: "its metrics: \(record.metrics.keys.sorted().joined(separator: ", "))")
        }
        return summary.last
    }
}
