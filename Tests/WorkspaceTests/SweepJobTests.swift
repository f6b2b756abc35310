import Foundation
import Testing
@testable import Workspace

@Suite struct SweepJobTests {
    func sweep(_ yaml: String, component: String? = nil) throws -> SweepJob {
        let tree = try SpecNode.parse(yaml, file: "sweep.yml")
        return try SweepJob.parse(tree, file: "sweep.yml") { path, line in
            guard let component else { throw WorkspaceError(.invalidArgument, "sweep.yml:\(line): no component \(path)") }
            return (try SpecNode.parse(component, file: path), path)
        }
    }

    static let base = """
        type: sweep
        trial:
          command: python train.py --lr ${{search_space.lr}}
        objective: {goal: minimize, primary_metric: loss}

        """

    @Test func everyExpressionTypeAndSamplerAsAzureWritesThem() throws {
        let s = try sweep(Self.base + """
            sampling_algorithm:
              type: random
              seed: 999
              rule: sobol
            search_space:
              a: {type: choice, values: [16, 0.5, "x", gbdt]}
              b: {type: randint, upper: 5}
              lr: {type: uniform, min_value: 0.01, max_value: 0.9}
              d: {type: quniform, min_value: 1, max_value: 100, q: 5}
              e: {type: loguniform, min_value: -7, max_value: -1}
              f: {type: qloguniform, min_value: 0, max_value: 5, q: 2}
              g: {type: normal, mu: 0, sigma: 1}
              h: {type: qnormal, mu: 10, sigma: 2, q: 1}
              i: {type: lognormal, mu: 0, sigma: 0.5}
              j: {type: qlognormal, mu: 1, sigma: 0.5, q: 0.1}
            limits: {max_total_trials: 20, max_concurrent_trials: 4, timeout: 600, trial_timeout: 60}
            early_termination: {type: bandit, slack_factor: 0.1, evaluation_interval: 2, delay_evaluation: 5}

            """)
        #expect(s.searchSpace.map(\.expression.typeName) == ["choice", "randint", "uniform", "quniform", "loguniform", "qloguniform",
                                                             "normal", "qnormal", "lognormal", "qlognormal"])
        #expect(s.searchSpace[0].expression == .choice([.int(16), .double(0.5), .string("x"), .string("gbdt")]))
        #expect(s.searchSpace[4].expression.description == "loguniform(-7, -1)")
        #expect(s.sampling == .random(seed: 999, sobol: true))
        #expect(s.limits == SweepJob.Limits(maxTotalTrials: 20, maxConcurrentTrials: 4, timeout: 600, trialTimeout: 60))
        #expect(s.earlyTermination == SweepJob.EarlyTermination(policy: .bandit(slackFactor: 0.1, slackAmount: nil), evaluationInterval: 2, delayEvaluation: 5))
        #expect(s.objective == SweepJob.Objective(primaryMetric: "loss", goal: .minimize))
        // The trial's own time limit goes to the trial's command job.
        #expect(s.trial["limits"]?["timeout"] == .scalar("60", quoted: false, line: 0))

        // A trial's values: into the command, as inputs, and as AZUREML_SWEEP_ variables.
        let trial = s.trialSpec(with: ["lr": .double(0.25)])
        guard case .scalar(let command, _, _)? = trial["command"] else { Issue.record("no command"); return }
        #expect(command == "python train.py --lr 0.25")
        #expect(trial["inputs"]?["lr"] == .scalar("0.25", quoted: false, line: 0))
        #expect(trial["environment_variables"]?["AZUREML_SWEEP_lr"] == .scalar("0.25", quoted: true, line: 0))

        for (text, expected) in [("grid", SweepJob.Sampling.grid), ("bayesian", .bayesian), ("random", .random(seed: nil, sobol: false))] {
            let g = try sweep(Self.base + "sampling_algorithm: \(text)\nsearch_space:\n  lr: {type: choice, values: [1, 2]}\n")
            #expect(g.sampling == expected)
        }
    }

    @Test func aComponentTrialTakesTheSweepsInputsAndNames() throws {
        let s = try sweep("""
            type: sweep
            inputs:
              degree: 3
            outputs:
              model_output:
            trial: file:./train.yml
            search_space:
              c_value: {type: uniform, min_value: 0.5, max_value: 0.9}
            objective: {goal: minimize, primary_metric: training_f1_score}
            experiment_name: tuning

            """, component: """
            $schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
            type: command
            name: train_model
            version: 2
            inputs:
              c_value: {type: number, default: 1.0}
              degree: {type: integer, default: 2}
            outputs:
              model_output: {type: mlflow_model}
            code: ./train-src
            command: python train.py --C ${{inputs.c_value}} --degree ${{inputs.degree}}

            """)
        let trial = s.trialSpec(with: ["c_value": .double(0.75)])
        #expect(trial["version"] == nil && trial["name"] == nil && trial["type"] == nil)
        #expect(trial["inputs"]?["degree"] == .scalar("3", quoted: false, line: 0))
        #expect(trial["outputs"]?["model_output"]?["type"] == .scalar("mlflow_model", quoted: false, line: 0))
        #expect(trial["inputs"]?["c_value"] == .scalar("0.75", quoted: false, line: 0))
        #expect(trial["experiment_name"] != nil)
        let job = try CommandJob.parse(trial, file: "sweep.yml")
        #expect(job.inputs["c_value"] == .literal(.number(0.75)) && job.inputs["degree"] == .literal(.integer(3)))
    }

    @Test func mistakesNameTheFileAndLine() {
        func error(_ yaml: String) -> String {
            do { _ = try sweep(yaml); return "" } catch let e as WorkspaceError { return e.message } catch { return "\(error)" }
        }
        #expect(error(Self.base + "search_space:\n  lr: {type: gaussian, mu: 0}\n").hasPrefix("sweep.yml:6: search_space.lr: unknown type 'gaussian'"))
        #expect(error(Self.base + "search_space:\n  lr:\n    type: uniform\n    min_value: 2\n    max_value: 1\n")
                == "sweep.yml:9: search_space.lr: max_value (1.0) must be above min_value (2.0)")
        #expect(error(Self.base + "sampling_algorithm: grid\nsearch_space:\n  lr: {type: loguniform, min_value: -3, max_value: 0}\n")
                .hasPrefix("sweep.yml:7: grid sampling enumerates the search space, but lr is loguniform"))
        #expect(error(Self.base + "search_space:\n  lr: {type: randint}\n") == "sweep.yml:6: search_space.lr: randint needs upper (values 0 to upper - 1)")
        #expect(error(Self.base + "search_space:\n  lr: {type: choice, values: [1]}\nearly_termination: {type: bandit}\n")
                .hasPrefix("sweep.yml:7: a bandit policy takes slack_factor or slack_amount"))
        #expect(error(Self.base + "search_space:\n  lr: {type: choice, values: [1]}\nlimits: {max_total_trials: 0}\n")
                == "sweep.yml:7: 'limits.max_total_trials' must be at least 1, not 0")
        #expect(error("type: sweep\ntrial: {command: x}\nsearch_space:\n  lr: {type: choice, values: [1]}\nobjective: {goal: up, primary_metric: m}\n")
                == "sweep.yml:5: objective.goal is maximize or minimize, not 'up'")
        #expect(error(Self.base + "search_space:\n  lr: {type: choice, values: [1]}\nmax_trials: 3\n")
                .hasPrefix("sweep.yml:7: unknown key 'max_trials' in a sweep job"))
        let space = "search_space:\n  lr: {type: choice, values: [1]}\n"
        let wide = (0..<33).map { "  p\($0): {type: uniform, min_value: 0, max_value: 1}\n" }.joined()
        #expect(error(Self.base.replacingOccurrences(of: "${{search_space.lr}}", with: "${{search_space.p0}}") + "search_space:\n" + wide
                      + "sampling_algorithm:\n  type: random\n  rule: sobol\n") == "sweep.yml:41: rule: sobol draws up to 32 parameters; this search space has 33")
        #expect(error(Self.base + space + "sampling_algorithm: {type: random, logbase: 10}\n")
                .hasPrefix("sweep.yml:7: sampling_algorithm.logbase 10 is not supported"))
        #expect(error(Self.base + space + "early_termination:\n  type: truncation_selection\n  truncation_percentage: 10\n  exclude_finished_jobs: maybe\n")
                == "sweep.yml:10: early_termination.exclude_finished_jobs is true or false, not 'maybe'")
        #expect(error(Self.base + space + "early_termination:\n  type: bandit\n  slack_amount: -1\n")
                == "sweep.yml:9: early_termination.slack_amount must not be negative, not -1.0")
        #expect(error("type: sweep\ntrial:\n  command: python train.py --lr ${{ search_space.learning_rate }}\n" + space + "objective: {goal: minimize, primary_metric: loss}\n")
                == "sweep.yml:3: the trial's command uses ${{search_space.learning_rate}}, but the search_space has no learning_rate; it has lr")
    }

    @Test func whatAzuresToolsWriteIsRead() throws {
        // Azure's REST defaults: evaluation_interval 0 (every report) and the slack not given as 0.
        let s = try sweep(Self.base + """
            search_space:
              lr: {type: choice, values: [0.5, 2]}
            sampling_algorithm: {type: random, logbase: e}
            early_termination: {type: bandit, evaluation_interval: 0, delay_evaluation: 0, slack_factor: 0.2, slack_amount: 0}

            """)
        #expect(s.earlyTermination == SweepJob.EarlyTermination(policy: .bandit(slackFactor: 0.2, slackAmount: nil), evaluationInterval: 1, delayEvaluation: 0))
        // ${{search_space.x}} with spaces inside the braces, as ${{ inputs.x }} may be written.
        let spaced = try sweep("type: sweep\ntrial: {command: 'run --lr ${{ search_space.lr }} --again ${{search_space.lr}}'}\n"
                               + "search_space:\n  lr: {type: choice, values: [0.5]}\nobjective: {goal: minimize, primary_metric: loss}\n")
        if case .scalar(let command, _, _)? = spaced.trialSpec(with: ["lr": .double(0.5)])["command"] {
            #expect(command == "run --lr 0.5 --again 0.5")
        } else {
            Issue.record("no command")
        }
    }
}
