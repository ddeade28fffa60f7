/// A small, fast, seedable generator (xoshiro256**, seeded through SplitMix64).
///
/// The same seed gives the same stream on every machine and every Swift version, which
/// `SystemRandomNumberGenerator` cannot promise; that is what makes sampled data reproducible.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose whole stream is determined by `seed`.
    public init(seed: UInt64) {
        var splitMix = seed
        func next() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A standard normal draw (Marsaglia's polar method). Its only functions are sqrt, which
    /// IEEE 754 rounds exactly, and `reproducibleLogarithm`, made of plain arithmetic, so the
    /// draws are the same bits on every machine whatever its C library's `log`.
    public mutating func nextStandardNormal() -> Double {
        while true {
            let u = 2 * nextUniform() - 1, v = 2 * nextUniform() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 { return u * (-2 * Self.reproducibleLogarithm(s) / s).squareRoot() }
        }
    }

    /// ln x for finite x > 0 from +, −, ×, ÷ alone in a fixed order (within 2 ulp of the true
    /// value): x = 2^e·m with m in [√½, √2), ln m = 2·atanh((m − 1)/(m + 1)) by its series.
    public static func reproducibleLogarithm(_ x: Double) -> Double {
        precondition(x > 0 && x.isFinite, "reproducibleLogarithm needs a finite positive number")
        var exponent = Int(x.exponent)
        var mantissa = x.significand  // [1, 2), exact
        if mantissa > 1.4142135623730951 {
            mantissa *= 0.5  // exact
            exponent += 1
        }
        let f = (mantissa - 1) / (mantissa + 1), f2 = f * f  // |f| ≤ 0.1716
        var series = 0.0  // Σ f^(2k) / (2k + 1), Horner from k = 11 (f^24 < 1e-18)
        for k in stride(from: 11, through: 0, by: -1) { series = series * f2 + 1 / Double(2 * k + 1) }
        // ln 2 split so that e·ln2High is exact for |e| < 2^11.
        let ln2High = 0.6931471803691238, ln2Low = 1.9082149292705877e-10
        let e = Double(exponent)
        return e * ln2High + (e * ln2Low + 2 * f * series)
    }
}

/// States and observations drawn from the model.
public struct SampledSequence: Sendable {
    /// The latent states s_t (T×n).
    public var states: StateTrajectory
    /// The observations m_t, none masked.
    public var observations: ObservationSequence
}

extension ModelParameters {
    /// Draws T steps from the generative model: s_0 ~ N(mu_0, sigma_0), then the dynamics
    /// and the observations of MODEL.md with their offsets (`sample_lds` in the course material).
    /// - Precondition: with per-step transition offsets, `steps` is at most their rows plus one.
    ///
    /// Covariances may be semi-definite; their symmetric square root is used.
    public func sample<Generator: RandomNumberGenerator & NormalSampling>(steps: Int, using generator: inout Generator) -> SampledSequence {
        let n = stateDimension, m = observationDimension
        let rootQ = SymmetricEigen(transitionCovariance).recomposed { max($0, 0).squareRoot() }
        let rootR = SymmetricEigen(observationCovariance).recomposed { max($0, 0).squareRoot() }
        let rootSigma0 = SymmetricEigen(initialCovariance).recomposed { max($0, 0).squareRoot() }
        var states = StateTrajectory(dimension: n, count: steps)
        var observations = ObservationSequence(dimension: m)
        observations.reserveCapacity(steps)
        var state = initialMean
        func noise(_ root: Matrix) -> [Double] {
            let draws = (0..<root.rows).map { _ in generator.nextStandardNormal() }
            return root * draws
        }
        for t in 0..<steps {
            if t == 0 {
                state = zip(initialMean, noise(rootSigma0)).map(+)
            } else {
                let offset = transitionOffset(after: t - 1)
                state = zip(zip(transition * state, noise(rootQ)).map(+), offset).map(+)
            }
            for i in 0..<n { states.means[t * n + i] = state[i] }
            observations.append(zip(zip(observation * state, noise(rootR)).map(+), observationOffset).map(+))
        }
        _ = m
        return SampledSequence(states: states, observations: observations)
    }
}

/// A generator that can draw standard normals reproducibly.
public protocol NormalSampling {
    /// The next N(0, 1) draw.
    mutating func nextStandardNormal() -> Double
}

extension SeededGenerator: NormalSampling {}
