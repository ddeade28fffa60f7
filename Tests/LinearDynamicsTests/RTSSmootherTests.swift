import LinearDynamics
import Testing
import _TestSupport

/// The smoother against the definition itself: the states and observations of a short sequence
/// are one joint Gaussian, so E[s | y], Cov(s_t | y) and the lag-one Cov(s_t, s_{t-1} | y) can be
/// computed by conditioning that Gaussian directly (no recursion), masked steps simply left out.
@Suite struct RTSSmootherTests {
    static func power(_ d: Matrix, _ k: Int) -> Matrix { (0..<k).reduce(Matrix.identity(d.rows)) { product, _ in d * product } }

    /// Joint moments of the stacked states and of the observed steps' observations.
    static func conditioned(_ p: ModelParameters, _ rows: [[Double]?]) -> (mean: [[Double]], covariance: (Int, Int) -> Matrix) {
        let n = p.stateDimension, m = p.observationDimension, steps = rows.count
        var marginal = [p.initialCovariance]  // Cov(s_t)
        for _ in 1..<steps { marginal.append(p.transition * marginal.last! * p.transition.transposed + p.transitionCovariance) }
        func stateCovariance(_ t: Int, _ u: Int) -> Matrix {  // Cov(s_t, s_u)
            t >= u ? power(p.transition, t - u) * marginal[u] : stateCovariance(u, t).transposed
        }
        let priorMeans = (0..<steps).map { power(p.transition, $0) * p.initialMean }
        let observed = (0..<steps).filter { rows[$0] != nil }
        // Σ_YY, Σ_SY as block matrices, and the innovation y − E[y].
        let k = observed.count
        var yy = Matrix(rows: k * m, columns: k * m), sy = Matrix(rows: steps * n, columns: k * m)
        var innovation = [Double](repeating: 0, count: k * m)
        for (a, t) in observed.enumerated() {
            let expected = p.observation * priorMeans[t]
            for i in 0..<m { innovation[a * m + i] = rows[t]![i] - expected[i] }
            for (b, u) in observed.enumerated() {
                var block = p.observation * stateCovariance(t, u) * p.observation.transposed
                if t == u { block = block + p.observationCovariance }
                for i in 0..<m { for j in 0..<m { yy[a * m + i, b * m + j] = block[i, j] } }
            }
            for s in 0..<steps {
                let block = stateCovariance(s, t) * p.observation.transposed
                for i in 0..<n { for j in 0..<m { sy[s * n + i, a * m + j] = block[i, j] } }
            }
        }
        let gain = sy * SymmetricEigen(yy).pseudoInverse
        let shift = gain * innovation
        let means = (0..<steps).map { s in (0..<n).map { priorMeans[s][$0] + shift[s * n + $0] } }
        let reduction = gain * sy.transposed
        return (means, { t, u in
            var block = stateCovariance(t, u)
            for i in 0..<n { for j in 0..<n { block[i, j] -= reduction[t * n + i, u * n + j] } }
            return block
        })
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
}
