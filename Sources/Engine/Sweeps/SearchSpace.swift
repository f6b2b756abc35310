import Foundation
import Workspace

/// A sweep's search space seen from the unit cube: every sampler draws points in [0, 1)^d
/// and this maps them onto the parameters' distributions (and back, for trials already
/// run, so that a resumed sweep feeds its sampler the points it had).
public struct SearchSpace: Sendable {
    public let parameters: [SweepJob.Parameter]

    public init(_ parameters: [SweepJob.Parameter]) { self.parameters = parameters }

    public var dimensions: Int { parameters.count }

    /// The values at a point of the unit cube.
    public func values(at u: [Double]) -> [String: ParamValue] {
        var out: [String: ParamValue] = [:]
        for (p, x) in zip(parameters, u) { out[p.name] = Self.value(p.expression, at: x) }
        return out
    }

    /// The point of the unit cube that gives these values (the middle of a discrete value's
    /// bin); nil when a value is missing or outside its distribution.
    public func unit(of params: [String: String]) -> [Double]? {
        var u: [Double] = []
        for p in parameters {
            guard let text = params[p.name], let x = Self.unit(p.expression, of: text) else { return nil }
            u.append(min(max(x, 0), 1 - 1e-12))
        }
        return u
    }

    static func value(_ e: SweepJob.Expression, at u: Double) -> ParamValue {
        func quantize(_ v: Double, _ q: Double) -> ParamValue { .double((v / q).rounded() * q) }
        switch e {
        case .choice(let values): return values[min(Int(u * Double(values.count)), values.count - 1)]
        case .randint(let upper): return .int(min(Int64(u * Double(upper)), upper - 1))
        case .uniform(let a, let b): return .double(a + u * (b - a))
        case .quniform(let a, let b, let q): return quantize(a + u * (b - a), q)
        case .loguniform(let a, let b): return .double(exp(a + u * (b - a)))
        case .qloguniform(let a, let b, let q): return quantize(exp(a + u * (b - a)), q)
        case .normal(let m, let s): return .double(m + s * Gaussian.quantile(u))
        case .qnormal(let m, let s, let q): return quantize(m + s * Gaussian.quantile(u), q)
        case .lognormal(let m, let s): return .double(exp(m + s * Gaussian.quantile(u)))
        case .qlognormal(let m, let s, let q): return quantize(exp(m + s * Gaussian.quantile(u)), q)
        }
    }

    static func unit(_ e: SweepJob.Expression, of text: String) -> Double? {
        switch e {
        case .choice(let values):
            guard let i = values.firstIndex(where: { $0.rendered == text }) else { return nil }
            return (Double(i) + 0.5) / Double(values.count)
        case .randint(let upper):
            guard let v = Int64(text), v >= 0, v < upper else { return nil }
            return (Double(v) + 0.5) / Double(upper)
        default: break
        }
        guard let v = Double(text), v.isFinite else { return nil }
        switch e {
        case .uniform(let a, let b), .quniform(let a, let b, _): return (v - a) / (b - a)
        case .loguniform(let a, let b), .qloguniform(let a, let b, _):
            guard v > 0 else { return nil }
            return (log(v) - a) / (b - a)
        case .normal(let m, let s), .qnormal(let m, let s, _): return Gaussian.cdf((v - m) / s)
        case .lognormal(let m, let s), .qlognormal(let m, let s, _):
            guard v > 0 else { return nil }
            return Gaussian.cdf((log(v) - m) / s)
        default: return nil
        }
    }

    /// How many points grid sampling enumerates (nil when a parameter is continuous).
    public var gridSize: Int? {
        var n = 1
        for p in parameters {
            switch p.expression {
            case .choice(let values): n = n.multipliedReportingOverflow(by: values.count).overflow ? Int.max : n * values.count
            case .randint(let upper): n = n.multipliedReportingOverflow(by: Int(upper)).overflow ? Int.max : n * Int(upper)
            default: return nil
            }
        }
        return n
    }

    /// The `index`-th point of the grid, the last parameter varying fastest.
    public func gridValues(_ index: Int) -> [String: ParamValue] {
        var rest = index
        var out: [String: ParamValue] = [:]
        for p in parameters.reversed() {
            switch p.expression {
            case .choice(let values):
                out[p.name] = values[rest % values.count]
                rest /= values.count
            case .randint(let upper):
                out[p.name] = .int(Int64(rest % Int(upper)))
                rest /= Int(upper)
            default: break
            }
        }
        return out
    }
}

/// The standard normal distribution.
enum Gaussian {
    static func cdf(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    static func pdf(_ x: Double) -> Double { exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() }

    /// The inverse of the CDF (Acklam's rational approximation, refined by one Halley step:
    /// relative error below 1e-15 on (0, 1)).
    static func quantile(_ p: Double) -> Double {
        let p = min(max(p, 1e-300), 1 - 1e-16)
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        var x: Double
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - low {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        } else {
            let q = (-2 * log(1 - p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        let e = cdf(x) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        return x - u / (1 + x * u / 2)
    }
}

/// SplitMix64: a small, fast generator whose whole state is one number, so that a trial's
/// draws follow from the sweep's seed and the trial's index alone (a resumed sweep draws
/// what it would have drawn).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    /// The generator of draw `index` of a sequence seeded with `seed`.
    init(seed: UInt64, index: Int) {
        var mixer = SplitMix64(seed: seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        state = mixer.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A double in [0, 1) with 53 random bits.
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    mutating func gaussian() -> Double {
        // Box-Muller; 1 - unit() is in (0, 1], so the logarithm is finite.
        let u1 = 1 - unit(), u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// The Sobol sequence (Joe and Kuo's direction numbers, new-joe-kuo-6.21201, for the first
/// 32 dimensions), in Gray-code order; with a seed, a random digital shift of each
/// dimension keeps its low discrepancy while making sweeps of different seeds differ.
struct Sobol {
    static let maxDimensions = 32
    /// d, s, a, m_1...m_s for dimensions 2...32 (dimension 1 is van der Corput's).
    static let table: [(s: Int, a: UInt32, m: [UInt32])] = [
        (1, 0, [1]), (2, 1, [1, 3]), (3, 1, [1, 3, 1]), (3, 2, [1, 1, 1]), (4, 1, [1, 1, 3, 3]), (4, 4, [1, 3, 5, 13]),
        (5, 2, [1, 1, 5, 5, 17]), (5, 4, [1, 1, 5, 5, 5]), (5, 7, [1, 1, 7, 11, 19]), (5, 11, [1, 1, 5, 1, 1]),
        (5, 13, [1, 1, 1, 3, 11]), (5, 14, [1, 3, 5, 5, 31]), (6, 1, [1, 3, 3, 9, 7, 49]), (6, 13, [1, 1, 1, 15, 21, 21]),
        (6, 16, [1, 3, 1, 13, 27, 49]), (6, 19, [1, 1, 1, 15, 7, 5]), (6, 22, [1, 3, 1, 15, 13, 25]), (6, 25, [1, 1, 5, 5, 19, 61]),
        (7, 1, [1, 3, 7, 11, 23, 15, 103]), (7, 4, [1, 3, 7, 13, 13, 15, 69]), (7, 7, [1, 1, 3, 13, 7, 35, 63]),
        (7, 8, [1, 3, 5, 9, 1, 25, 53]), (7, 14, [1, 3, 1, 13, 9, 35, 107]), (7, 19, [1, 3, 1, 5, 27, 61, 31]),
        (7, 21, [1, 1, 5, 11, 19, 41, 61]), (7, 28, [1, 3, 5, 3, 3, 13, 69]), (7, 31, [1, 1, 7, 13, 1, 19, 1]),
        (7, 32, [1, 3, 7, 5, 13, 19, 59]), (7, 37, [1, 1, 3, 9, 25, 29, 41]), (7, 41, [1, 3, 5, 13, 23, 1, 55]),
        (7, 42, [1, 3, 7, 3, 13, 59, 17]),
    ]

    /// Direction numbers: `v[dimension][bit]`, 32 bits.
    let v: [[UInt32]]
    let shift: [UInt32]

    init(dimensions: Int, seed: UInt64?) {
        precondition(dimensions >= 1 && dimensions <= Self.maxDimensions)
        var v: [[UInt32]] = [(0..<32).map { UInt32(1) << (31 - $0) }]
        for j in 1..<dimensions {
            let (s, a, m) = Self.table[j - 1]
            var dir = [UInt32](repeating: 0, count: 32)
            for i in 0..<32 {
                if i < s {
                    dir[i] = m[i] << (31 - i)
                } else {
                    var x = dir[i - s] ^ (dir[i - s] >> s)
                    for k in 1..<s where (a >> (s - 1 - k)) & 1 == 1 { x ^= dir[i - k] }
                    dir[i] = x
                }
            }
            v.append(dir)
        }
        self.v = v
        if let seed {
            var rng = SplitMix64(seed: seed)
            shift = (0..<dimensions).map { _ in UInt32(truncatingIfNeeded: rng.next() >> 32) }
        } else {
            shift = [UInt32](repeating: 0, count: dimensions)
        }
    }

    /// The point of index `n` (0 is the origin, unshifted).
    func point(_ n: Int) -> [Double] {
        let gray = UInt64(n) ^ (UInt64(n) >> 1)
        return v.indices.map { j in
            var x: UInt32 = 0
            var bits = gray, bit = 0
            while bits != 0 && bit < 32 {
                if bits & 1 == 1 { x ^= v[j][bit] }
                bits >>= 1
                bit += 1
            }
            return Double(x ^ shift[j]) * 0x1p-32
        }
    }
}
