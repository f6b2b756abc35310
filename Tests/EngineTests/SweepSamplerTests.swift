import Foundation
import Testing
@testable import Engine
import Workspace

@Suite struct SamplerTests {
    static func param(_ name: String, _ e: SweepJob.Expression) -> SweepJob.Parameter { .init(name: name, expression: e, line: 1) }

    @Test("Sobol points match Joe and Kuo's sequence; every dimension's first 2^k points fill its 2^k bins once")
    func sobolIsTheRealSequence() {
        let s = Sobol(dimensions: 3, seed: nil)
        let expected: [[Double]] = [[0, 0, 0], [0.5, 0.5, 0.5], [0.75, 0.25, 0.25], [0.25, 0.75, 0.75], [0.375, 0.375, 0.625],
                                    [0.875, 0.875, 0.125], [0.625, 0.125, 0.875], [0.125, 0.625, 0.375], [0.1875, 0.3125, 0.9375],
                                    [0.6875, 0.8125, 0.4375]]
        for (i, point) in expected.enumerated() { #expect(s.point(i) == point, "point \(i)") }
        let all = Sobol(dimensions: Sobol.maxDimensions, seed: nil)
        let points = (0..<64).map(all.point)
        for d in 0..<Sobol.maxDimensions {
            #expect(Set(points.map { Int($0[d] * 64) }).count == 64, "dimension \(d + 1)")
        }
        // A digital shift keeps the stratification and moves the points.
        let shifted = Sobol(dimensions: 4, seed: 7)
        let sp = (0..<16).map(shifted.point)
        for d in 0..<4 { #expect(Set(sp.map { Int($0[d] * 16) }).count == 16) }
        #expect(sp[1] != Sobol(dimensions: 4, seed: nil).point(1))
    }

    @Test("random draws follow from the seed and the trial's index alone; grid enumerates the space once")
    func randomAndGrid() {
        let space = SearchSpace([Self.param("lr", .loguniform(min: -7, max: -1)), Self.param("batch", .choice([.int(16), .int(32), .int(64)])),
                                 Self.param("layers", .randint(upper: 4)), Self.param("q", .quniform(min: 1, max: 100, q: 5)),
                                 Self.param("n", .qnormal(mu: 10, sigma: 2, q: 1))])
        let a = RandomSampler(space: space, seed: 42, sobol: false), b = RandomSampler(space: space, seed: 42, sobol: false)
        let c = RandomSampler(space: space, seed: 43, sobol: false)
        let draws = (0..<50).map { a.next(index: $0, history: [])! }
        #expect(draws == (0..<50).map { b.next(index: $0, history: [])! })
        #expect(draws[7] == b.next(index: 7, history: [SampledTrial(params: ["lr": "0.1"], objective: 1)]))
        #expect(draws != (0..<50).map { c.next(index: $0, history: [])! })
        for d in draws {
            guard case .double(let lr) = d["lr"]!, case .double(let q) = d["q"]! else { Issue.record("types"); continue }
            #expect(lr >= exp(-7) && lr <= exp(-1))
            #expect(q.truncatingRemainder(dividingBy: 5) == 0 && q >= 0 && q <= 100)
            #expect([ParamValue.int(16), .int(32), .int(64)].contains(d["batch"]!))
            #expect([ParamValue.int(0), .int(1), .int(2), .int(3)].contains(d["layers"]!))
        }
        // Every value of a discrete parameter comes up; a draw maps back into the cube and to itself.
        #expect(Set(draws.map { $0["layers"]! }).count == 4)
        for d in draws.prefix(10) {
            let rendered = d.mapValues(\.rendered)
            let u = space.unit(of: rendered)!
            #expect(space.values(at: u).mapValues(\.rendered) == rendered)
        }

        let grid = GridSampler(space: SearchSpace([Self.param("a", .choice([.string("x"), .string("y")])), Self.param("b", .randint(upper: 3))]))
        let points = (0..<6).compactMap { grid.next(index: $0, history: []) }
        #expect(points.count == 6 && Set(points.map { $0.mapValues(\.rendered) }).count == 6)
        #expect(grid.next(index: 6, history: []) == nil)
    }

    @Test("the normal quantile inverts the CDF")
    func gaussianQuantile() {
        for x in stride(from: -6.0, through: 6.0, by: 0.25) {
            #expect(abs(Gaussian.quantile(Gaussian.cdf(x)) - x) < 1e-8, "x = \(x)")
        }
        #expect(abs(Gaussian.quantile(0.975) - 1.959963984540054) < 1e-12)
    }

    /// Branin-Hoo on x1 in [-5, 10], x2 in [0, 15]; its minimum is 0.397887 (three places).
    static func branin(_ p: [String: ParamValue]) -> Double {
        let x1 = p["x1"]!.number!, x2 = p["x2"]!.number!
        let b = 5.1 / (4 * Double.pi * Double.pi), c = 5 / Double.pi, t = 1 / (8 * Double.pi)
        let a = x2 - b * x1 * x1 + c * x1 - 6
        return a * a + 10 * (1 - t) * cos(x1) + 10
    }

    static func bestAfter(_ sampler: any Sampler, budget: Int) -> Double {
        var history: [SampledTrial] = []
        for i in 0..<budget {
            let p = sampler.next(index: i, history: history)!
            history.append(SampledTrial(params: p.mapValues(\.rendered), objective: branin(p)))
        }
        return history.compactMap(\.objective).min()!
    }

    @Test("bayesian optimization finds a better Branin minimum than random search with the same budget, over several seeds")
    func bayesianBeatsRandomOnBranin() {
        let space = SearchSpace([Self.param("x1", .uniform(min: -5, max: 10)), Self.param("x2", .uniform(min: 0, max: 15))])
        let seeds: [UInt64] = [1, 2, 3, 4, 5, 6]
        let budget = 30
        let bayes = seeds.map { Self.bestAfter(BayesianSampler(space: space, seed: $0, goal: .minimize), budget: budget) }
        let random = seeds.map { Self.bestAfter(RandomSampler(space: space, seed: $0, sobol: false), budget: budget) }
        let meanBayes = bayes.reduce(0, +) / Double(seeds.count), meanRandom = random.reduce(0, +) / Double(seeds.count)
        #expect(meanBayes < meanRandom, "bayesian \(bayes), random \(random)")
        // Close to the true minimum (0.398), which random search with 30 points rarely reaches.
        #expect(meanBayes < 0.6, "bayesian \(bayes)")
    }

    @Test("bayesian sampling maximizes too, and never proposes a point it has tried in a small discrete space")
    func bayesianDiscreteAndMaximize() {
        let space = SearchSpace([Self.param("k", .choice([.int(1), .int(2), .int(3), .int(4), .int(5), .int(6), .int(7), .int(8)]))])
        let sampler = BayesianSampler(space: space, seed: 9, goal: .maximize)
        var history: [SampledTrial] = []
        for i in 0..<8 {
            let p = sampler.next(index: i, history: history)!
            let k = p["k"]!.number!
            history.append(SampledTrial(params: p.mapValues(\.rendered), objective: -(k - 6) * (k - 6)))
        }
        #expect(history.contains { $0.params["k"] == "6" })
    }
}

@Suite struct EarlyTerminationTests {
    static func rule(_ p: SweepJob.Policy, interval: Int = 1, delay: Int = 0) -> SweepJob.EarlyTermination {
        .init(policy: p, evaluationInterval: interval, delayEvaluation: delay)
    }

    @Test("bandit stops a trial outside the slack of the best at the same report, and names the values")
    func bandit() {
        let policy = EarlyTerminationPolicy(Self.rule(.bandit(slackFactor: 0.1, slackAmount: nil), delay: 2), goal: .maximize, metric: "acc")
        let best = TrialReports(id: "a", values: [0.5, 0.8, 0.9], finished: true)
        // At report 1 the delay holds it; at report 2, 0.6 < 0.8 / 1.1.
        #expect(policy.decide(TrialReports(id: "b", values: [0.1], finished: false), all: [best]) == nil)
        let reason = policy.decide(TrialReports(id: "b", values: [0.1, 0.6], finished: false), all: [best])
        #expect(reason == "bandit policy at report 2: acc 0.6 is below best 0.8 / (1 + 0.1) = 0.7273")
        #expect(policy.decide(TrialReports(id: "b", values: [0.1, 0.75], finished: false), all: [best]) == nil)
        let amount = EarlyTerminationPolicy(Self.rule(.bandit(slackFactor: nil, slackAmount: 0.5), interval: 2), goal: .minimize, metric: "loss")
        let low = TrialReports(id: "a", values: [2, 1], finished: true)
        #expect(amount.decide(TrialReports(id: "b", values: [3, 1.6], finished: false), all: [low])?.hasPrefix("bandit policy at report 2: loss 1.6 is above best 1 + 0.5") == true)
        #expect(amount.decide(TrialReports(id: "b", values: [3, 1.6, 1.7], finished: false), all: [low]) == nil, "not an interval")
    }

    @Test("bandit with slack_factor on a negative metric keeps the best trial and stops one beyond the slack, for either goal")
    func banditNegativeMetric() {
        let maximize = EarlyTerminationPolicy(Self.rule(.bandit(slackFactor: 0.1, slackAmount: nil)), goal: .maximize, metric: "neg_rmse")
        let leader = TrialReports(id: "a", values: [-0.5], finished: false)
        // The leader is never below its own slack: -0.5 - 0.5 * 0.1 / 1.1 = -0.5455.
        #expect(maximize.decide(leader, all: [leader]) == nil)
        #expect(maximize.decide(TrialReports(id: "b", values: [-0.54], finished: false), all: [leader]) == nil)
        #expect(maximize.decide(TrialReports(id: "b", values: [-0.6], finished: false), all: [leader])
                == "bandit policy at report 1: neg_rmse -0.6 is below best -0.5 - |-0.5| * 0.1 / (1 + 0.1) = -0.5455")
        let minimize = EarlyTerminationPolicy(Self.rule(.bandit(slackFactor: 0.1, slackAmount: nil)), goal: .minimize, metric: "nll")
        let low = TrialReports(id: "a", values: [-2], finished: false)
        #expect(minimize.decide(low, all: [low]) == nil)
        #expect(minimize.decide(TrialReports(id: "b", values: [-1.7], finished: false), all: [low])?.hasSuffix("above best -2 + |-2| * 0.1 = -1.8") == true)
        #expect(minimize.decide(TrialReports(id: "b", values: [-1.9], finished: false), all: [low]) == nil)
    }

    @Test("median stopping compares with every trial's running average, its own too; truncation stops the lowest percentage")
    func medianAndTruncation() {
        let median = EarlyTerminationPolicy(Self.rule(.medianStopping), goal: .maximize, metric: "acc")
        let others = [TrialReports(id: "a", values: [0.5, 0.7], finished: true), TrialReports(id: "c", values: [0.3, 0.5], finished: false),
                      TrialReports(id: "d", values: [0.6, 0.8], finished: true)]
        // Running averages at report 2: 0.6, 0.4, 0.7 and b's own; median (0.4 + 0.6) / 2 = 0.5 with b's 0.325.
        let weak = TrialReports(id: "b", values: [0.2, 0.45], finished: false)
        #expect(median.decide(weak, all: others + [weak])?.contains("acc 0.45 is worse than the median 0.5 of 4 trials'") == true)
        let fair = TrialReports(id: "b", values: [0.2, 0.55], finished: false)
        #expect(median.decide(fair, all: others + [fair]) == nil, "0.55 beats the median 0.5 of 0.375, 0.4, 0.6, 0.7")
        // A trial alone is never below the median: its best is at least its average.
        #expect(median.decide(weak, all: [weak]) == nil)

        let truncation = EarlyTerminationPolicy(Self.rule(.truncationSelection(percentage: 50, excludeFinished: false)), goal: .minimize, metric: "loss")
        let peers = [TrialReports(id: "a", values: [1.0], finished: false), TrialReports(id: "c", values: [2.0], finished: false),
                     TrialReports(id: "d", values: [3.0], finished: true)]
        let worst = TrialReports(id: "b", values: [4.0], finished: false)
        #expect(truncation.decide(worst, all: peers + [worst])?.contains("ranks 1 of 4") == true)
        let second = TrialReports(id: "c", values: [2.0], finished: false)
        #expect(truncation.decide(second, all: peers + [worst]) == nil)
        let excluding = EarlyTerminationPolicy(Self.rule(.truncationSelection(percentage: 50, excludeFinished: true)), goal: .minimize, metric: "loss")
        #expect(excluding.decide(TrialReports(id: "d2", values: [3.5], finished: false), all: peers + [worst, TrialReports(id: "d2", values: [3.5], finished: false)])?.contains("ranks 2 of 4") == true)
    }
}
