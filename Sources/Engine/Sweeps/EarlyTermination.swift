import Foundation
import Workspace

/// What a trial has reported of the primary metric, in order (one value a report).
public struct TrialReports: Sendable {
    public var id: String
    public var values: [Double]
    public var finished: Bool
    public init(id: String, values: [Double], finished: Bool) { self.id = id; self.values = values; self.finished = finished }

    /// The best of the first `k` reports.
    func best(upTo k: Int, _ goal: SweepJob.Goal) -> Double? {
        let head = values.prefix(k)
        return goal == .maximize ? head.max() : head.min()
    }
}

/// Azure ML's early-termination policies, applied when a trial reports its primary metric.
/// A report counts as one interval; the policy is applied at every multiple of
/// `evaluation_interval` that is at least `delay_evaluation`, as Azure ML does. Each policy compares the trial's
/// best value so far with the other trials at the same number of reports.
public struct EarlyTerminationPolicy: Sendable {
    public let rule: SweepJob.EarlyTermination
    public let goal: SweepJob.Goal
    public let metric: String

    public init(_ rule: SweepJob.EarlyTermination, goal: SweepJob.Goal, metric: String) {
        self.rule = rule; self.goal = goal; self.metric = metric
    }

    /// Whether the policy is applied at a trial's `k`-th report.
    public func applies(atReport k: Int) -> Bool {
        k >= max(rule.delayEvaluation, 1) && k % rule.evaluationInterval == 0
    }

    /// The reason to stop `trial` at its `k`-th report (nil: it goes on), naming the values compared.
    public func decide(_ trial: TrialReports, all: [TrialReports]) -> String? {
        let k = trial.values.count
        guard applies(atReport: k), let mine = trial.best(upTo: k, goal) else { return nil }
        func worse(_ a: Double, than b: Double) -> Bool { goal == .maximize ? a < b : a > b }
        func n(_ v: Double) -> String { RunFormatting.number(v) }
        let name = "\(metric) \(n(mine))"
        switch rule.policy {
        case .bandit(let factor, let amount):
            // The best of every trial (this one too) over the same number of reports.
            let bests = all.compactMap { $0.values.isEmpty ? nil : $0.best(upTo: k, goal) }
            guard let top = goal == .maximize ? bests.max() : bests.min() else { return nil }
            let threshold: Double
            let formula: String
            if let factor, top >= 0 {
                threshold = goal == .maximize ? top / (1 + factor) : top * (1 + factor)
                formula = goal == .maximize ? "best \(n(top)) / (1 + \(n(factor)))" : "best \(n(top)) * (1 + \(n(factor)))"
            } else if let factor {
                // A negative best (a negated error, a log-likelihood): the slack is a fraction of its
                // size, on the worse side, as it is for a positive one; best / (1 + f) would be better than best.
                threshold = goal == .maximize ? top - abs(top) * factor / (1 + factor) : top + abs(top) * factor
                formula = goal == .maximize ? "best \(n(top)) - |\(n(top))| * \(n(factor)) / (1 + \(n(factor)))" : "best \(n(top)) + |\(n(top))| * \(n(factor))"
            } else {
                let a = amount ?? 0
                threshold = goal == .maximize ? top - a : top + a
                formula = goal == .maximize ? "best \(n(top)) - \(n(a))" : "best \(n(top)) + \(n(a))"
            }
            guard worse(mine, than: threshold) else { return nil }
            return "bandit policy at report \(k): \(name) is \(goal == .maximize ? "below" : "above") \(formula) = \(n(threshold))"
        case .medianStopping:
            // The running averages of every trial (this one too, as Azure ML says: "across all runs")
            // that reached as many reports.
            let averages = all.filter { $0.values.count >= k }.map { $0.values.prefix(k).reduce(0, +) / Double(k) }
            guard !averages.isEmpty else { return nil }
            let sorted = averages.sorted()
            let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            guard worse(mine, than: median) else { return nil }
            return "median stopping policy at report \(k): \(name) is worse than the median \(n(median)) of \(averages.count) trials' running averages"
        case .truncationSelection(let percentage, let excludeFinished):
            // The trials that reached as many reports, ranked by their best so far: the lowest percentage stops.
            let peers = all.filter { $0.values.count >= k && !(excludeFinished && $0.finished && $0.id != trial.id) }
            let cut = peers.count * percentage / 100
            guard cut >= 1 else { return nil }
            let ranked = peers.map { ($0.id, $0.best(upTo: k, goal)!) }.sorted { worse($0.1, than: $1.1) || ($0.1 == $1.1 && $0.0 > $1.0) }
            guard let place = ranked.firstIndex(where: { $0.0 == trial.id }), place < cut else { return nil }
            return "truncation selection policy at report \(k): \(name) ranks \(place + 1) of \(peers.count) from the bottom; the lowest \(percentage)% (\(cut)) stop (cut-off \(n(ranked[cut - 1].1)))"
        }
    }
}
