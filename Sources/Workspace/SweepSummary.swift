import Foundation

/// What a sweep's parent record says of the sweep (`sweep` in run.json): how it searched,
/// and every trial with its parameters and objective. Written at the start (search space,
/// sampler and seed) and brought up to date as trials end.
public struct SweepSummary: Codable, Sendable, Equatable {
    public struct Objective: Codable, Sendable, Equatable {
        public var primaryMetric: String
        public var goal: String
        enum CodingKeys: String, CodingKey { case primaryMetric = "primary_metric", goal }
        public init(primaryMetric: String, goal: String) { self.primaryMetric = primaryMetric; self.goal = goal }
    }

    public struct Limits: Codable, Sendable, Equatable {
        public var maxTotalTrials: Int
        public var maxConcurrentTrials: Int
        public var timeout: Int?
        public var trialTimeout: Int?
        enum CodingKeys: String, CodingKey {
            case maxTotalTrials = "max_total_trials", maxConcurrentTrials = "max_concurrent_trials"
            case timeout, trialTimeout = "trial_timeout"
        }
        public init(maxTotalTrials: Int, maxConcurrentTrials: Int, timeout: Int?, trialTimeout: Int?) {
            self.maxTotalTrials = maxTotalTrials; self.maxConcurrentTrials = maxConcurrentTrials
            self.timeout = timeout; self.trialTimeout = trialTimeout
        }
    }

    public struct Trial: Codable, Sendable, Equatable {
        public var id: String
        /// Its number in the sweep, from 0 (a trial run again after an interruption keeps it).
        public var index: Int
        public var status: RunRecord.Status
        public var params: [String: String]
        /// The best value of the primary metric it reported (nil: none).
        public var objective: Double?
        /// Why it stopped early or failed (the policy's values compared).
        public var reason: String?
        public init(id: String, index: Int, status: RunRecord.Status, params: [String: String], objective: Double?, reason: String?) {
            self.id = id; self.index = index; self.status = status; self.params = params; self.objective = objective; self.reason = reason
        }
    }

    /// Each parameter's distribution, as Azure writes it: `lr: loguniform(-7, -1)`.
    public var searchSpace: [String: String]
    public var sampling: String
    public var seed: UInt64
    public var objective: Objective
    public var earlyTermination: String?
    public var limits: Limits
    public var trials: [Trial] = []
    public var best: Trial?
    /// Seconds the sweep has run so far, over every session (a resume goes on from it), for `limits.timeout`.
    public var elapsedSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case searchSpace = "search_space", sampling, seed, objective, earlyTermination = "early_termination", limits, trials, best
        case elapsedSeconds = "elapsed_seconds"
    }

    public init(searchSpace: [String: String], sampling: String, seed: UInt64, objective: Objective,
                earlyTermination: String?, limits: Limits) {
        self.searchSpace = searchSpace; self.sampling = sampling; self.seed = seed; self.objective = objective
        self.earlyTermination = earlyTermination; self.limits = limits
    }

    /// The best trial: the best objective among trials that reported one (completed or
    /// stopped by the policy; a failed trial's values do not count).
    public mutating func pickBest() {
        let maximize = objective.goal == "maximize"
        best = trials.filter { $0.objective != nil && ($0.status == .completed || $0.status == .stoppedByPolicy) }
            .max { a, b in maximize ? a.objective! < b.objective! : a.objective! > b.objective! }
    }
}
