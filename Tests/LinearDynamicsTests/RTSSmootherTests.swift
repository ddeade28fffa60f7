import LinearDynamics
import Testing
import _TestSupport

/// The smoother against the definition itself: the states and observations of a short sequence
/// are one joint Gaussian, so E[s | y], Cov(s_t | y) and the lag-one Cov(s_t, s_{t-1} | y) can be
/// computed by conditioning that Gaussian directly (no recursion) on exactly the observed
/// components: masked steps and missing components (NaN) simply left out. The offsets b (per
/// step too) and d enter the prior means; the observed components' own density is the
/// log-likelihood.
@Suite struct RTSSmootherTests {
    static func power(_ d: Matrix, _ k: Int) -> Matrix { (0..<k).reduce(Matrix.identity(d.rows)) { product, _ in d * product } }

    /// Joint moments of the stacked states given the observed components, and their log-density.
    static func conditioned(_ p: ModelParameters, _ rows: [[Double]?]) -> (mean: [[Double]], covariance: (Int, Int) -> Matrix, logLikelihood: Double) {
        let n = p.stateDimension, steps = rows.count
        var marginal = [p.initialCovariance]  // Cov(s_t)
        for _ in 1..<max(steps, 1) { marginal.append(p.transition * marginal.last! * p.transition.transposed + p.transitionCovariance) }
        func stateCovariance(_ t: Int, _ u: Int) -> Matrix {  // Cov(s_t, s_u)
            t >= u ? power(p.transition, t - u) * marginal[u] : stateCovariance(u, t).transposed
        }
        var priorMeans = [p.initialMean]
        for t in 1..<max(steps, 1) { priorMeans.append(zip(p.transition * priorMeans[t - 1], p.transitionOffset(after: t - 1)).map(+)) }
        // The observed components as (step, component) pairs, in order.
        let observed = (0..<steps).flatMap { t in (0..<p.observationDimension).compactMap { i in
            rows[t].map { !$0[i].isNaN } == true ? (t, i) : nil } }
        // Σ_YY, Σ_SY over the observed components, and the innovation y − E[y].
        let k = observed.count
        var yy = Matrix(rows: k, columns: k), sy = Matrix(rows: steps * n, columns: k)
        var innovation = [Double](repeating: 0, count: k)
        for (a, (t, i)) in observed.enumerated() {
            innovation[a] = rows[t]![i] - (p.observation * priorMeans[t])[i] - p.observationOffset[i]
            for (b, (u, j)) in observed.enumerated() {
                yy[a, b] = (p.observation * stateCovariance(t, u) * p.observation.transposed)[i, j]
                    + (t == u ? p.observationCovariance[i, j] : 0)
            }
            for s in 0..<steps {
                let block = stateCovariance(s, t) * p.observation.transposed
                for r in 0..<n { sy[s * n + r, a] = block[r, i] }
            }
        }
        let inverse = SymmetricEigen(yy).pseudoInverse
        let gain = sy * inverse
        let shift = gain * innovation
        let means = (0..<steps).map { s in (0..<n).map { priorMeans[s][$0] + shift[s * n + $0] } }
        let reduction = gain * sy.transposed
        let quadratic = zip(innovation, inverse * innovation).map(*).reduce(0, +)
        let logDeterminant = SymmetricEigen(yy).values.reduce(0) { $0 + $1.logarithmForTests }
        let logLikelihood = -0.5 * (quadratic + logDeterminant + Double(k) * (2 * Double.pi).logarithmForTests)
        return (means, { t, u in
            var block = stateCovariance(t, u)
            for i in 0..<n { for j in 0..<n { block[i, j] -= reduction[t * n + i, u * n + j] } }
            return block
        }, logLikelihood)
    }

    @Test(arguments: [(1, 1), (2, 2), (3, 2), (2, 3), (4, 2)])
    func smoothedMomentsAndLagOneCovariancesAreTheConditionalGaussian(_ shape: (Int, Int)) throws {
        let p = RandomModels.make(n: shape.0, m: shape.1, seed: UInt64(100 + shape.0 * 10 + shape.1))
        var generator = SeededGenerator(seed: 7)
        let sampled = p.sample(steps: 6, using: &generator).observations
        let rows: [[Double]?] = (0..<6).map { $0 == 2 || $0 == 5 ? nil : sampled[$0] }  // masked inside and at the end
        let result = try p.smooth(ObservationSequence(dimension: shape.1, rows: rows))
        let exact = Self.conditioned(p, rows)
        func agree(_ a: [Double], _ b: [Double]) -> Bool {
            let scale = max(1, b.reduce(0) { max($0, abs($1)) })
            return a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-8 * scale }
        }
        for t in 0..<6 {
            #expect(agree(result.smoothed.mean(at: t), exact.mean[t]), "mean t=\(t)")
            #expect(agree(result.smoothed.covariance(at: t).elements, exact.covariance(t, t).elements), "covariance t=\(t)")
            if t > 0 {
                #expect(agree(result.lagOneCovariance(at: t).elements, exact.covariance(t, t - 1).elements), "V(\(t),\(t - 1))")
            }
        }
    }

    /// Missing components: each step keeps its observed components (a NaN marks a missing one),
    /// with offsets b (per step) and d. Filtered moments are the Gaussian conditioned on the
    /// steps up to t, smoothed ones on all, and the log-likelihood is the observed components'
    /// density.
    @Test(arguments: [(2, 2), (3, 2), (2, 3), (4, 2), (4, 4)])
    func missingComponentsAreTheConditionalGaussianOfTheObservedOnes(_ shape: (Int, Int)) throws {
        let (n, m) = shape
        var p = RandomModels.make(n: n, m: m, seed: UInt64(700 + n * 10 + m))
        var generator = SeededGenerator(seed: 8)
        p.observationOffset = (0..<m).map { _ in 3 * generator.nextStandardNormal() }
        p.transitionOffsets = Matrix(rows: 6, columns: n, elements: (0..<(6 * n)).map { _ in generator.nextStandardNormal() })
        let sampled = p.sample(steps: 7, using: &generator).observations
        // Step 0 partly observed, step 2 masked, steps 3 and 5 partly, step 6 whole.
        let missing: [Int: Set<Int>] = [0: [0], 2: Set(0..<m), 3: [m - 1], 5: Set(0..<(m - 1))]
        let rows: [[Double]?] = (0..<7).map { t in
            let row = sampled[t]!
            return (0..<m).map { missing[t, default: []].contains($0) ? .nan : row[$0] }
        }
        let sequence = ObservationSequence(dimension: m, rows: rows)
        #expect(sequence.mask == [false, false, true, false, false, false, false])
        let result = try p.smooth(sequence)
        let exact = Self.conditioned(p, rows)
        func agree(_ a: [Double], _ b: [Double]) -> Bool {
            let scale = max(1, b.reduce(0) { max($0, abs($1)) })
            return a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-8 * scale }
        }
        #expect(isClose(result.filter.logLikelihood, exact.logLikelihood, relative: 1e-9, absolute: 1e-9),
                "\(result.filter.logLikelihood) vs \(exact.logLikelihood)")
        for t in 0..<7 {
            #expect(agree(result.smoothed.mean(at: t), exact.mean[t]), "mean t=\(t)")
            #expect(agree(result.smoothed.covariance(at: t).elements, exact.covariance(t, t).elements), "covariance t=\(t)")
            if t > 0 {
                #expect(agree(result.lagOneCovariance(at: t).elements, exact.covariance(t, t - 1).elements), "V(\(t),\(t - 1))")
            }
            let upToT = Self.conditioned(p, Array(rows[0...t]))
            #expect(agree(result.filter.filtered.mean(at: t), upToT.mean[t]), "filtered mean t=\(t)")
            #expect(agree(result.filter.filtered.covariance(at: t).elements, upToT.covariance(t, t).elements), "filtered covariance t=\(t)")
        }
    }

    /// A step whose every component is missing is a masked step: the same numbers as nil.
    @Test func allComponentsMissingIsAMaskedStep() throws {
        let p = RandomModels.make(n: 3, m: 2, seed: 710)
        var generator = SeededGenerator(seed: 9)
        let sampled = p.sample(steps: 8, using: &generator).observations
        let withNaN: [[Double]?] = (0..<8).map { $0 == 4 ? [.nan, .nan] : sampled[$0] }
        let withNil: [[Double]?] = (0..<8).map { $0 == 4 ? nil : sampled[$0] }
        #expect(try p.smooth(ObservationSequence(dimension: 2, rows: withNaN)) == p.smooth(ObservationSequence(dimension: 2, rows: withNil)))
    }
}
