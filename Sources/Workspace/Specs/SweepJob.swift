import Foundation

/// An Azure Machine Learning CLI v2 sweep job (`type: sweep`), as read from its YAML file:
/// the trial (inline, or a command component file), the search space, the sampler, the
/// objective, the limits and the early-termination policy, each checked so that a mistake
/// names the file, the line, the key and what is accepted there.
public struct SweepJob: Sendable {
    /// One parameter's distribution, with Azure's keys (`min_value`, `max_value`, `q`, `mu`, `sigma`, `upper`, `values`).
    public enum Expression: Sendable, Equatable {
        case choice([ParamValue])
        /// 0, 1, ..., upper - 1.
        case randint(upper: Int64)
        case uniform(min: Double, max: Double)
        case quniform(min: Double, max: Double, q: Double)
        /// exp(uniform(min, max)): the logarithm of the value is uniform.
        case loguniform(min: Double, max: Double)
        case qloguniform(min: Double, max: Double, q: Double)
        case normal(mu: Double, sigma: Double)
        case qnormal(mu: Double, sigma: Double, q: Double)
        /// exp(normal(mu, sigma)).
        case lognormal(mu: Double, sigma: Double)
        case qlognormal(mu: Double, sigma: Double, q: Double)

        public var typeName: String {
            switch self {
            case .choice: return "choice"
            case .randint: return "randint"
            case .uniform: return "uniform"
            case .quniform: return "quniform"
            case .loguniform: return "loguniform"
            case .qloguniform: return "qloguniform"
            case .normal: return "normal"
            case .qnormal: return "qnormal"
            case .lognormal: return "lognormal"
            case .qlognormal: return "qlognormal"
            }
        }

        /// Whether the values form a finite list (what grid sampling can enumerate).
        public var isDiscrete: Bool {
            switch self {
            case .choice, .randint: return true
            default: return false
            }
        }

        /// Azure's expression as text, for records and tables: `uniform(0.01, 0.9)`.
        public var description: String {
            func n(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)" }
            switch self {
            case .choice(let values): return "choice(\(values.map(\.rendered).joined(separator: ", ")))"
            case .randint(let upper): return "randint(\(upper))"
            case .uniform(let a, let b): return "uniform(\(n(a)), \(n(b)))"
            case .quniform(let a, let b, let q): return "quniform(\(n(a)), \(n(b)), \(n(q)))"
            case .loguniform(let a, let b): return "loguniform(\(n(a)), \(n(b)))"
            case .qloguniform(let a, let b, let q): return "qloguniform(\(n(a)), \(n(b)), \(n(q)))"
            case .normal(let m, let s): return "normal(\(n(m)), \(n(s)))"
            case .qnormal(let m, let s, let q): return "qnormal(\(n(m)), \(n(s)), \(n(q)))"
            case .lognormal(let m, let s): return "lognormal(\(n(m)), \(n(s)))"
            case .qlognormal(let m, let s, let q): return "qlognormal(\(n(m)), \(n(s)), \(n(q)))"
            }
        }
    }

    public struct Parameter: Sendable, Equatable {
        public var name: String
        public var expression: Expression
        public var line: Int
        public init(name: String, expression: Expression, line: Int) { self.name = name; self.expression = expression; self.line = line }
    }

    public enum Sampling: Sendable, Equatable {
        /// `random`, reproducible from `seed`; `rule: sobol` draws a scrambled Sobol sequence instead.
        case random(seed: UInt64?, sobol: Bool)
        case grid
        case bayesian

        public var description: String {
            switch self {
            case .random(let seed, let sobol): return (sobol ? "random (sobol)" : "random") + (seed.map { ", seed \($0)" } ?? "")
            case .grid: return "grid"
            case .bayesian: return "bayesian"
            }
        }
    }

    public enum Goal: String, Sendable, Codable { case maximize, minimize }

    public struct Objective: Sendable, Equatable {
        public var primaryMetric: String
        public var goal: Goal
    }

    public struct Limits: Sendable, Equatable {
        public var maxTotalTrials: Int?
        public var maxConcurrentTrials: Int?
        /// The whole sweep's seconds.
        public var timeout: Int?
        /// Each trial's seconds.
        public var trialTimeout: Int?
    }

    public enum Policy: Sendable, Equatable {
        case bandit(slackFactor: Double?, slackAmount: Double?)
        case medianStopping
        case truncationSelection(percentage: Int, excludeFinished: Bool)
    }

    public struct EarlyTermination: Sendable, Equatable {
        public var policy: Policy
        /// Apply the policy every this many reports of the primary metric.
        public var evaluationInterval: Int
        /// Reports of the primary metric before the policy is first applied.
        public var delayEvaluation: Int

        public init(policy: Policy, evaluationInterval: Int, delayEvaluation: Int) {
            self.policy = policy; self.evaluationInterval = evaluationInterval; self.delayEvaluation = delayEvaluation
        }

        public var description: String {
            let when = "every \(evaluationInterval) report(s) after \(delayEvaluation)"
            switch policy {
            case .bandit(let factor, let amount):
                return "bandit (" + (factor.map { "slack_factor \(ParamValue.double($0).rendered)" } ?? amount.map { "slack_amount \(ParamValue.double($0).rendered)" } ?? "") + ", \(when))"
            case .medianStopping: return "median_stopping (\(when))"
            case .truncationSelection(let p, let excl): return "truncation_selection (\(p)%\(excl ? ", finished trials excluded" : ""), \(when))"
            }
        }
    }

    public var file: String
    public var name: String?
    public var displayName: String?
    public var experimentName: String?
    public var description: String?
    public var tags: [String: String] = [:]
    public var searchSpace: [Parameter] = []
    public var sampling: Sampling
    public var objective: Objective
    public var limits: Limits
    public var earlyTermination: EarlyTermination?
    /// The trial as a command job (the inline trial or the component, with the sweep's
    /// inputs, outputs, compute and names), before any parameter is put in.
    public var trial: SpecNode
    /// The line of `trial:`, for messages about it.
    public var trialLine: Int
    /// The line of `objective.primary_metric`.
    public var objectiveLine = 0

    static let topKeys = ["$schema", "type", "name", "display_name", "experiment_name", "description", "tags", "properties", "trial",
                          "inputs", "outputs", "compute", "search_space", "sampling_algorithm", "objective", "limits",
                          "early_termination", "identity", "queue_settings", "resources"]
    static let trialKeys = ["command", "code", "environment", "environment_variables", "resources", "distribution", "$schema",
                            "type", "name", "display_name", "description", "tags", "version", "inputs", "outputs", "is_deterministic",
                            "additional_includes", "properties"]

    /// Reads a sweep job (after `--set`). `readComponent` reads a trial given as a file path
    /// (relative to the sweep file's folder) and returns its tree and shown name.
    public static func parse(_ root: SpecNode, file: String,
                             readComponent: (String, Int) throws -> (spec: SpecNode, shown: String)) throws -> SweepJob {
        let reader = SpecReader(file: file)
        guard case .mapping = root else { throw reader.fail(root.line, "a sweep job is a mapping of keys (type, trial, search_space, objective, ...)") }
        try reader.allowed(root, topKeys, in: "a sweep job")

        // The search space.
        guard let spaceNode = root["search_space"], case .mapping(let space, _) = spaceNode, !space.isEmpty else {
            throw reader.fail(root["search_space"]?.line ?? root.line, "a sweep job needs a search_space: a mapping of parameter names to distributions",
                       hint: "e.g. search_space: {lr: {type: loguniform, min_value: -7, max_value: -1}}")
        }
        var parameters: [Parameter] = []
        for p in space {
            let where_ = "search_space.\(p.key)"
            guard case .mapping = p.value else { throw reader.fail(p.line, "\(where_) must be a mapping with type and its values") }
            guard let type = try reader.string(p.value["type"], "type") else {
                throw reader.fail(p.line, "\(where_) needs a type: choice, randint, uniform, quniform, loguniform, qloguniform, normal, qnormal, lognormal or qlognormal")
            }
            func keys(_ k: [String]) throws { try reader.allowed(p.value, ["type"] + k, in: where_) }
            func range() throws -> (Double, Double) {
                let a = try reader.number(p.value["min_value"], "min_value", in: where_), b = try reader.number(p.value["max_value"], "max_value", in: where_)
                guard a < b else { throw reader.fail(p.value["max_value"]!.line, "\(where_): max_value (\(ParamValue.double(b).rendered)) must be above min_value (\(ParamValue.double(a).rendered))") }
                return (a, b)
            }
            func q() throws -> Double {
                let v = try reader.number(p.value["q"], "q", in: where_)
                guard v > 0 else { throw reader.fail(p.value["q"]!.line, "\(where_): q must be above 0") }
                return v
            }
            func gauss() throws -> (Double, Double) {
                let m = try reader.number(p.value["mu"], "mu", in: where_), s = try reader.number(p.value["sigma"], "sigma", in: where_)
                guard s > 0 else { throw reader.fail(p.value["sigma"]!.line, "\(where_): sigma must be above 0") }
                return (m, s)
            }
            let expression: Expression
            switch type {
            case "choice":
                try keys(["values"])
                guard case .sequence(let items, _)? = p.value["values"], !items.isEmpty else {
                    throw reader.fail(p.value["values"]?.line ?? p.line, "\(where_): choice needs values, a non-empty list")
                }
                expression = .choice(try items.map { item in
                    guard case .scalar(let s, let quoted, _) = item else { throw reader.fail(item.line, "\(where_): each value of a choice is a single value") }
                    return ParamValue.parse(s, quoted: quoted)
                })
            case "randint":
                try keys(["upper"])
                guard let upper = try reader.int(p.value["upper"], "upper", min: 1) else { throw reader.fail(p.line, "\(where_): randint needs upper (values 0 to upper - 1)") }
                expression = .randint(upper: Int64(upper))
            case "uniform": try keys(["min_value", "max_value"]); let (a, b) = try range(); expression = .uniform(min: a, max: b)
            case "quniform": try keys(["min_value", "max_value", "q"]); let (a, b) = try range(); expression = .quniform(min: a, max: b, q: try q())
            case "loguniform": try keys(["min_value", "max_value"]); let (a, b) = try range(); expression = .loguniform(min: a, max: b)
            case "qloguniform": try keys(["min_value", "max_value", "q"]); let (a, b) = try range(); expression = .qloguniform(min: a, max: b, q: try q())
            case "normal": try keys(["mu", "sigma"]); let (m, s) = try gauss(); expression = .normal(mu: m, sigma: s)
            case "qnormal": try keys(["mu", "sigma", "q"]); let (m, s) = try gauss(); expression = .qnormal(mu: m, sigma: s, q: try q())
            case "lognormal": try keys(["mu", "sigma"]); let (m, s) = try gauss(); expression = .lognormal(mu: m, sigma: s)
            case "qlognormal": try keys(["mu", "sigma", "q"]); let (m, s) = try gauss(); expression = .qlognormal(mu: m, sigma: s, q: try q())
            default:
                throw reader.fail(p.value["type"]!.line, "\(where_): unknown type '\(type)'; accepted: choice, randint, uniform, quniform, loguniform, qloguniform, normal, qnormal, lognormal, qlognormal")
            }
            parameters.append(Parameter(name: p.key, expression: expression, line: p.line))
        }

        // The sampler.
        var sampling = Sampling.random(seed: nil, sobol: false)
        if let node = root["sampling_algorithm"] {
            let known = "random, grid or bayesian"
            var type: String?
            switch node {
            case .scalar(let s, _, _): type = s
            case .mapping:
                try reader.allowed(node, ["type", "seed", "rule", "logbase"], in: "sampling_algorithm")
                type = try reader.string(node["type"], "type")
                if let base = try reader.string(node["logbase"], "logbase"), base.lowercased() != "e" {
                    throw reader.fail(node["logbase"]!.line, "sampling_algorithm.logbase \(base) is not supported: git-ml samples the log distributions in base e",
                                      hint: "remove logbase, or give the bounds as natural logarithms (log10 x = ln x / 2.302585)")
                }
            case .null: type = "random"
            default: throw reader.fail(node.line, "sampling_algorithm is \(known), or a mapping with type")
            }
            switch type?.lowercased() {
            case "random":
                var seed: UInt64?
                if let s = try reader.string(node["seed"], "seed") {
                    guard let v = UInt64(s) else { throw reader.fail(node["seed"]!.line, "sampling_algorithm.seed must be a whole number, not '\(s)'") }
                    seed = v
                }
                let rule = try reader.string(node["rule"], "rule")?.lowercased() ?? "random"
                guard rule == "random" || rule == "sobol" else { throw reader.fail(node["rule"]!.line, "sampling_algorithm.rule is random or sobol, not '\(rule)'") }
                // The Sobol direction numbers git-ml carries (Joe and Kuo's) reach 32 dimensions.
                if rule == "sobol", parameters.count > 32 {
                    throw reader.fail(node["rule"]!.line, "rule: sobol draws up to 32 parameters; this search space has \(parameters.count)", hint: "use rule: random")
                }
                sampling = .random(seed: seed, sobol: rule == "sobol")
            case "grid":
                for p in parameters where !p.expression.isDiscrete {
                    throw reader.fail(p.line, "grid sampling enumerates the search space, but \(p.name) is \(p.expression.typeName), a continuous distribution",
                               hint: "give it as choice (or randint), or use sampling_algorithm: random or bayesian")
                }
                sampling = .grid
            case "bayesian":
                sampling = .bayesian
            default:
                throw reader.fail(node.line, "unknown sampling_algorithm '\(type ?? "")'; accepted: \(known)")
            }
        }

        // The objective.
        guard let objectiveNode = root["objective"] else {
            throw reader.fail(root.line, "a sweep job needs an objective: primary_metric (a metric the trial logs) and goal (maximize or minimize)")
        }
        try reader.allowed(objectiveNode, ["primary_metric", "goal"], in: "objective")
        guard let metric = try reader.string(objectiveNode["primary_metric"], "primary_metric"), !metric.isEmpty else {
            throw reader.fail(objectiveNode.line, "objective needs primary_metric: the name of a metric the trial logs")
        }
        let goalText = try reader.string(objectiveNode["goal"], "goal")?.lowercased() ?? ""
        guard let goal = Goal(rawValue: goalText) else {
            throw reader.fail(objectiveNode["goal"]?.line ?? objectiveNode.line, "objective.goal is maximize or minimize\(goalText.isEmpty ? "" : ", not '\(goalText)'")")
        }

        // Limits.
        var limits = Limits()
        if let node = root["limits"] {
            try reader.allowed(node, ["max_total_trials", "max_concurrent_trials", "timeout", "trial_timeout", "timeout_plus"], in: "limits")
            limits.maxTotalTrials = try reader.int(node["max_total_trials"], "limits.max_total_trials", min: 1)
            limits.maxConcurrentTrials = try reader.int(node["max_concurrent_trials"], "limits.max_concurrent_trials", min: 1)
            limits.timeout = try reader.int(node["timeout"], "limits.timeout", min: 1)
            limits.trialTimeout = try reader.int(node["trial_timeout"], "limits.trial_timeout", min: 1)
        }

        // Early termination.
        var early: EarlyTermination?
        if let node = root["early_termination"], !node.isNull {
            do {
                try reader.allowed(node, ["type", "evaluation_interval", "delay_evaluation", "slack_factor", "slack_amount", "truncation_percentage", "exclude_finished_jobs"], in: "early_termination")
                // Azure's own tools write 0 for "every report" (its REST default), as for no slack.
                let interval = max(try reader.int(node["evaluation_interval"], "early_termination.evaluation_interval", min: 0) ?? 1, 1)
                let delay = try reader.int(node["delay_evaluation"], "early_termination.delay_evaluation", min: 0) ?? 0
                let type = try reader.string(node["type"], "type")?.lowercased() ?? ""
                let policy: Policy
                switch type {
                case "bandit":
                    func slack(_ key: String) throws -> Double? {
                        guard let value = node[key], !value.isNull else { return nil }
                        let v = try reader.number(value, key, in: "early_termination")
                        guard v >= 0 else { throw reader.fail(value.line, "early_termination.\(key) must not be negative, not \(ParamValue.double(v).rendered)") }
                        return v
                    }
                    var factor = try slack("slack_factor"), amount = try slack("slack_amount")
                    // Azure writes the slack it was not given as 0: the other one is the policy's.
                    if factor == 0, amount != nil { factor = nil }
                    if amount == 0, factor != nil { amount = nil }
                    guard (factor == nil) != (amount == nil) else {
                        throw reader.fail(node.line, "a bandit policy takes slack_factor or slack_amount (one of them)", hint: "e.g. slack_factor: 0.1 stops trials more than 10% worse than the best")
                    }
                    policy = .bandit(slackFactor: factor, slackAmount: amount)
                case "median_stopping":
                    policy = .medianStopping
                case "truncation_selection":
                    guard let p = try reader.int(node["truncation_percentage"], "early_termination.truncation_percentage", min: 1), p <= 99 else {
                        throw reader.fail(node["truncation_percentage"]?.line ?? node.line, "truncation_selection needs truncation_percentage, 1 to 99")
                    }
                    var excl = false
                    if let text = try reader.string(node["exclude_finished_jobs"], "exclude_finished_jobs") {
                        switch text.lowercased() {
                        case "true", "yes", "on": excl = true
                        case "false", "no", "off": excl = false
                        default: throw reader.fail(node["exclude_finished_jobs"]!.line, "early_termination.exclude_finished_jobs is true or false, not '\(text)'")
                        }
                    }
                    policy = .truncationSelection(percentage: p, excludeFinished: excl)
                default:
                    throw reader.fail(node["type"]?.line ?? node.line, "unknown early_termination type '\(type)'; accepted: bandit, median_stopping, truncation_selection")
                }
                early = EarlyTermination(policy: policy, evaluationInterval: interval, delayEvaluation: delay)
            }
        }

        // The trial: inline, or a component file; the sweep's inputs, outputs and names go with it.
        guard let trialNode = root["trial"] else {
            throw reader.fail(root.line, "a sweep job needs a trial: the command job each trial runs (inline, or the path of a command component)")
        }
        var trial: SpecNode
        switch trialNode {
        case .scalar(let given, _, let line):
            // `trial: ./train.yml`, or `trial: file:./train.yml` as Azure's examples write it.
            let path = given.hasPrefix("file:") ? String(given.dropFirst(5)) : given
            let component = try readComponent(path, line)
            trial = component.spec
            guard case .mapping = trial else { throw reader.fail(line, "the trial \(component.shown) is not a command component") }
            if let t = try reader.string(trial["type"], "type"), t != "command" {
                throw reader.fail(line, "the trial \(component.shown) is a \(t) component; a sweep's trial is a command component")
            }
        case .mapping:
            try reader.allowed(trialNode, trialKeys, in: "trial")
            trial = trialNode
        default:
            throw reader.fail(trialNode.line, "trial is an inline command job (command, code, environment) or the path of a command component")
        }
        guard trial["command"] != nil else { throw reader.fail(trialNode.line, "the trial needs a command") }
        // A component's own keys that a command job does not take.
        for key in ["version", "is_deterministic", "additional_includes", "$schema", "name", "display_name", "description", "tags", "properties", "type"] {
            trial.remove(key)
        }
        // Component inputs declare types and defaults; the sweep's inputs give the values.
        if let sweepInputs = root["inputs"], case .mapping(let given, _) = sweepInputs {
            for e in given { trial.set(path: ["inputs", e.key], to: e.value) }
        }
        if let outputs = root["outputs"], case .mapping(let given, _) = outputs {
            for e in given {
                // An empty output (`model_output:`) binds the trial's own declaration when it has one.
                let empty: Bool
                switch e.value {
                case .null: empty = true
                case .mapping(let m, _): empty = m.isEmpty
                default: empty = false
                }
                if empty && trial["outputs"]?[e.key] != nil { continue }
                trial.set(path: ["outputs", e.key], to: e.value)
            }
        }
        if let compute = root["compute"] { trial.set(path: ["compute"], to: compute) }
        if let experiment = root["experiment_name"] { trial.set(path: ["experiment_name"], to: experiment) }
        if let limit = limits.trialTimeout { trial.set(path: ["limits", "timeout"], to: .scalar(String(limit), quoted: false, line: 0)) }

        var job = SweepJob(file: file, sampling: sampling, objective: Objective(primaryMetric: metric, goal: goal), limits: limits,
                           earlyTermination: early, trial: trial, trialLine: trialNode.line)
        job.searchSpace = parameters
        // A value set with --set has no line of its own: the objective's then.
        job.objectiveLine = (objectiveNode["primary_metric"]?.line).flatMap { $0 > 0 ? $0 : nil } ?? objectiveNode.line
        job.name = try reader.string(root["name"], "name")
        job.displayName = try reader.string(root["display_name"], "display_name")
        job.experimentName = try reader.string(root["experiment_name"], "experiment_name")
        job.description = try reader.string(root["description"], "description")
        if case .mapping(let tags, _)? = root["tags"] {
            for t in tags { job.tags[t.key] = try reader.string(t.value, "tags.\(t.key)") ?? "" }
        }
        // Every ${{search_space.X}} of the trial's command names a parameter of the space.
        if case .scalar(let command, _, let line)? = job.trial["command"] {
            for (_, name) in searchSpaceReferences(in: command) where !parameters.contains(where: { $0.name == name }) {
                throw reader.fail(line, "the trial's command uses ${{search_space.\(name)}}, but the search_space has no \(name); it has \(parameters.map(\.name).joined(separator: ", "))")
            }
        }
        return job
    }

    /// The trial with one set of parameter values put in: `${{search_space.NAME}}` in its
    /// command becomes the value, and each value is also a literal input of that name
    /// (a component's command reads it as `${{inputs.NAME}}`).
    public func trialSpec(with values: [String: ParamValue]) -> SpecNode {
        var spec = trial
        if case .scalar(let command, let quoted, let line)? = spec["command"] {
            var out = "", rest = Substring(command)
            for (range, name) in Self.searchSpaceReferences(in: command) {
                out += command[rest.startIndex..<range.lowerBound]
                out += values[name]?.rendered ?? String(command[range])
                rest = command[range.upperBound...]
            }
            spec.set(path: ["command"], to: .scalar(out + rest, quoted: quoted, line: line))
        }
        for (name, value) in values {
            let line = searchSpace.first { $0.name == name }?.line ?? trialLine
            spec.set(path: ["inputs", name], to: .scalar(value.rendered, quoted: value.isString, line: line))
            // As Azure ML's SDK documents for a sweep's trials.
            spec.set(path: ["environment_variables", "AZUREML_SWEEP_\(name)"], to: .scalar(value.rendered, quoted: true, line: line))
        }
        return spec
    }

    /// Each `${{search_space.NAME}}` in a command (spaces allowed inside the braces), in order.
    static func searchSpaceReferences(in command: String) -> [(range: Range<String.Index>, name: String)] {
        guard command.contains("search_space") else { return [] }
        let pattern = try! NSRegularExpression(pattern: #"\$\{\{\s*search_space\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}"#)
        return pattern.matches(in: command, range: NSRange(command.startIndex..., in: command)).compactMap { m in
            guard let whole = Range(m.range, in: command), let name = Range(m.range(at: 1), in: command) else { return nil }
            return (whole, String(command[name]))
        }
    }
}

/// A parameter's value as the sampler drew it and the command gets it.
public enum ParamValue: Sendable, Equatable, Hashable {
    case int(Int64)
    case double(Double)
    case string(String)

    /// As the command line gets it (and as params are recorded): 0.01, 32, gbdt.
    public var rendered: String {
        switch self {
        case .int(let i): return String(i)
        case .double(let d):
            if d == d.rounded(), abs(d) < 1e15 { return String(format: "%.1f", d) }
            return "\(d)"
        case .string(let s): return s
        }
    }

    public var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s): return Double(s)
        }
    }

    var isString: Bool { if case .string = self { return true } else { return false } }

    /// A YAML scalar as a value: a number when it reads as one (unless quoted).
    public static func parse(_ text: String, quoted: Bool) -> ParamValue {
        if !quoted {
            if let i = Int64(text) { return .int(i) }
            if let d = Double(text), d.isFinite, text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .double(d) }
        }
        return .string(text)
    }
}
