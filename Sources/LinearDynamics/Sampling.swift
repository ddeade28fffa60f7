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

    /// A standard normal draw (Marsaglia's polar method: only sqrt and log, so it is
    /// reproducible wherever the C library's `log` is correctly rounded, as glibc's is).
    public mutating func nextStandardNormal() -> Double {
        while true {
            let u = 2 * nextUniform() - 1, v = 2 * nextUniform() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 { return u * (-2 * s.logarithm / s).squareRoot() }
        }
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
    /// and the observations of MODEL.md (`sample_lds` in the course material).
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
                state = zip(transition * state, noise(rootQ)).map(+)
            }
            for i in 0..<n { states.means[t * n + i] = state[i] }
            observations.append(zip(observation * state, noise(rootR)).map(+))
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
