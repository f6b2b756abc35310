import Foundation
import Workspace

/// A trial a sampler has seen: its parameter values, and its objective once known
/// (the best value of the primary metric it reported; nil while it runs or when it
/// reported none).
public struct SampledTrial: Sendable {
    public var params: [String: String]
    public var objective: Double?
    public init(params: [String: String], objective: Double?) { self.params = params; self.objective = objective }
}

/// Draws the parameters of a sweep's trials. `index` counts the trials of the sweep from 0;
/// `history` holds every trial started before (finished or not). Nil: the space is exhausted.
public protocol Sampler: Sendable {
    func next(index: Int, history: [SampledTrial]) -> [String: ParamValue]?
    /// Said in the parent record: what the sampler was and from which seed.
    var description: String { get }
}

/// Every point of a discrete space, in order.
public struct GridSampler: Sampler {
    let space: SearchSpace
    public init(space: SearchSpace) { self.space = space }

    public func next(index: Int, history: [SampledTrial]) -> [String: ParamValue]? {
        guard let size = space.gridSize, index < size else { return nil }
        return space.gridValues(index)
    }

    public var description: String { "grid (\(space.gridSize ?? 0) points)" }
}

/// Independent uniform draws in the unit cube, or a digitally shifted Sobol sequence;
/// a trial's draw depends on the seed and its index only.
public struct RandomSampler: Sampler {
    let space: SearchSpace
    let seed: UInt64
    let sobol: Sobol?

    public init(space: SearchSpace, seed: UInt64, sobol: Bool) {
        self.space = space
        self.seed = seed
        self.sobol = sobol ? Sobol(dimensions: space.dimensions, seed: seed) : nil
    }

    public func next(index: Int, history: [SampledTrial]) -> [String: ParamValue]? {
        space.values(at: unitPoint(index))
    }

    func unitPoint(_ index: Int) -> [Double] {
        if let sobol { return sobol.point(index + 1) }
        var rng = SplitMix64(seed: seed, index: index)
        return (0..<space.dimensions).map { _ in rng.unit() }
    }

    public var description: String { (sobol == nil ? "random" : "random (sobol)") + ", seed \(seed)" }
}

/// Bayesian optimization: a Gaussian process (Matérn 5/2 kernel, length scales and noise
/// chosen by marginal likelihood) over the unit cube, fitted to the trials with an
/// objective, and the next point where the expected improvement is largest. Trials still
/// running count at the mean of what is known (a "constant liar"), so parallel trials
/// spread out. The first points come from a Sobol sequence.
public struct BayesianSampler: Sampler {
    let space: SearchSpace
    let seed: UInt64
    let goal: SweepJob.Goal
    let initial: Int
    let startup: RandomSampler

    public init(space: SearchSpace, seed: UInt64, goal: SweepJob.Goal) {
        self.space = space
        self.seed = seed
        self.goal = goal
        initial = max(5, 2 * space.dimensions)
        startup = RandomSampler(space: space, seed: seed, sobol: space.dimensions <= Sobol.maxDimensions)
    }

    public var description: String { "bayesian (gaussian process, expected improvement), seed \(seed)" }

    public func next(index: Int, history: [SampledTrial]) -> [String: ParamValue]? {
        // Observations, as minimization.
        var points: [[Double]] = [], ys: [Double] = [], pending: [[Double]] = []
        for t in history {
            guard let u = space.unit(of: t.params) else { continue }
            if let y = t.objective, y.isFinite { points.append(u); ys.append(goal == .maximize ? -y : y) } else { pending.append(u) }
        }
        if ys.count < initial { return startup.next(index: index, history: history) }
        let seen = Set(history.map { trial in space.parameters.map { trial.params[$0.name] ?? "" } })
        var rng = SplitMix64(seed: seed, index: index)
        let mean = ys.reduce(0, +) / Double(ys.count)
        let gp = GaussianProcess.fit(points + pending, ys + pending.map { _ in mean })
        let best = ys.min()!

        // Candidates: random points, and points near the best observed ones.
        var candidates: [[Double]] = (0..<1500).map { _ in (0..<space.dimensions).map { _ in rng.unit() } }
        let ranked = zip(points, ys).sorted { $0.1 < $1.1 }.prefix(5).map(\.0)
        for center in ranked {
            for scale in [0.02, 0.05, 0.15] {
                for _ in 0..<60 { candidates.append(center.map { min(max($0 + scale * rng.gaussian(), 0), 1 - 1e-12) }) }
            }
        }
        var scored = candidates.map { u -> (Double, [Double]) in
            let (m, s) = gp.predict(u)
            return (Self.expectedImprovement(mean: m, sd: s, best: gp.standardize(best)), u)
        }
        scored.sort { $0.0 > $1.0 }
        for (_, u) in scored.prefix(200) {
            let values = space.values(at: u)
            if !seen.contains(space.parameters.map { values[$0.name]!.rendered }) { return values }
        }
        // Every good candidate was tried already (a small discrete space): a fresh random point.
        return space.values(at: (0..<space.dimensions).map { _ in rng.unit() })
    }

    /// E[max(best - f, 0)] for f ~ N(mean, sd²): the expected gain below the best (minimizing).
    static func expectedImprovement(mean: Double, sd: Double, best: Double) -> Double {
        guard sd > 1e-12 else { return max(best - mean, 0) }
        let z = (best - mean) / sd
        return (best - mean) * Gaussian.cdf(z) + sd * Gaussian.pdf(z)
    }
}

/// A Gaussian process regression over the unit cube: zero mean on standardized targets,
/// a Matérn 5/2 kernel with a length scale per dimension, and a noise term.
struct GaussianProcess {
    let x: [[Double]]
    let lengths: [Double]
    let noise: Double
    let yMean: Double
    let yScale: Double
    /// Cholesky factor of K + noise·I (lower, row-major) and alpha = K⁻¹y.
    let chol: [Double]
    let alpha: [Double]

    func standardize(_ y: Double) -> Double { (y - yMean) / yScale }

    static func kernel(_ a: [Double], _ b: [Double], _ lengths: [Double]) -> Double {
        var r2 = 0.0
        for i in a.indices { let d = (a[i] - b[i]) / lengths[i]; r2 += d * d }
        let r = (5 * r2).squareRoot()
        return (1 + r + r * r / 3) * exp(-r)
    }

    /// Fits the length scales (one shared scale from a grid, then each dimension's refined)
    /// and the noise by the log marginal likelihood.
    static func fit(_ x: [[Double]], _ y: [Double]) -> GaussianProcess {
        let n = y.count, d = x.first?.count ?? 0
        let mean = y.reduce(0, +) / Double(n)
        let variance = y.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(n - 1, 1))
        let scale = variance > 1e-300 ? variance.squareRoot() : 1
        let ys = y.map { ($0 - mean) / scale }
        func build(_ lengths: [Double], _ noise: Double) -> (GaussianProcess, Double)? {
            var k = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in 0...i {
                    let v = kernel(x[i], x[j], lengths)
                    k[i * n + j] = v; k[j * n + i] = v
                }
                k[i * n + i] += noise
            }
            guard let l = cholesky(k, n) else { return nil }
            let alpha = solveUpper(l, n, solveLower(l, n, ys))
            var logDet = 0.0
            for i in 0..<n { logDet += log(l[i * n + i]) }
            var fit = 0.0
            for i in 0..<n { fit += ys[i] * alpha[i] }
            let likelihood = -0.5 * fit - logDet
            return (GaussianProcess(x: x, lengths: lengths, noise: noise, yMean: mean, yScale: scale, chol: l, alpha: alpha), likelihood)
        }
        var best: (GaussianProcess, Double)?
        func consider(_ lengths: [Double], _ noise: Double) {
            if let c = build(lengths, noise), best == nil || c.1 > best!.1 { best = c }
        }
        for l in [0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 2.0] {
            for noise in [1e-6, 1e-4, 1e-2, 0.1] { consider([Double](repeating: l, count: d), noise) }
        }
        if var current = best {
            for _ in 0..<2 {
                for i in 0..<d {
                    for factor in [0.5, 0.7, 1.4, 2.0] {
                        var lengths = current.0.lengths
                        lengths[i] = min(max(lengths[i] * factor, 0.01), 10)
                        if let c = build(lengths, current.0.noise), c.1 > current.1 { current = c }
                    }
                }
            }
            best = current
        }
        // A kernel matrix that no noise level made positive definite: a wide, noisy prior.
        return best?.0 ?? build([Double](repeating: 1, count: d), 1)!.0
    }

    /// Mean and standard deviation at `u`, in standardized units.
    func predict(_ u: [Double]) -> (Double, Double) {
        let n = x.count
        let k = x.map { Self.kernel($0, u, lengths) }
        var m = 0.0
        for i in 0..<n { m += k[i] * alpha[i] }
        let v = Self.solveLower(chol, n, k)
        var variance = 1.0
        for i in 0..<n { variance -= v[i] * v[i] }
        return (m, max(variance, 1e-12).squareRoot())
    }

    static func cholesky(_ a: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = a[i * n + j]
                for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard sum > 1e-12 else { return nil }
                    l[i * n + i] = sum.squareRoot()
                } else {
                    l[i * n + j] = sum / l[j * n + j]
                }
            }
        }
        return l
    }

    static func solveLower(_ l: [Double], _ n: Int, _ b: [Double]) -> [Double] {
        var y = b
        for i in 0..<n {
            var sum = y[i]
            for k in 0..<i { sum -= l[i * n + k] * y[k] }
            y[i] = sum / l[i * n + i]
        }
        return y
    }

    /// Solves Lᵀx = b.
    static func solveUpper(_ l: [Double], _ n: Int, _ b: [Double]) -> [Double] {
        var x = b
        for i in stride(from: n - 1, through: 0, by: -1) {
            var sum = x[i]
            for k in (i + 1)..<n { sum -= l[k * n + i] * x[k] }
            x[i] = sum / l[i * n + i]
        }
        return x
    }
}

extension SweepJob {
    /// The sampler this sweep asks for; `seed` is the sweep's (drawn when the file gives none,
    /// and kept in the parent record so that a resumed sweep draws the same).
    public func sampler(seed: UInt64) -> any Sampler {
        let space = SearchSpace(searchSpace)
        switch sampling {
        case .grid: return GridSampler(space: space)
        case .random(_, let sobol): return RandomSampler(space: space, seed: seed, sobol: sobol)
        case .bayesian: return BayesianSampler(space: space, seed: seed, goal: objective.goal)
        }
    }
}
