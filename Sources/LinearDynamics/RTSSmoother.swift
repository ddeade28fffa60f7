/// The Rauch–Tung–Striebel smoother's output over a sequence.
public struct SmootherResult: Equatable, Sendable {
    /// The filter pass it started from.
    public let filter: FilterResult
    /// Smoothed means and covariances, mu_s_t and Σ_s_t.
    public internal(set) var smoothed: StateTrajectory
    /// Lag-one covariances V_{t,t-1} = Cov(s_t, s_{t-1} | all data), n×n blocks; block 0 is zero.
    public internal(set) var lagOneCovariances: [Double]

    /// The lag-one covariance V_{t,t-1} for t ≥ 1.
    public func lagOneCovariance(at t: Int) -> Matrix {
        let n = smoothed.dimension, size = n * n
        return Matrix(rows: n, columns: n, elements: Array(lagOneCovariances[(t * size)..<((t + 1) * size)]))
    }
}

extension ModelParameters {
    /// Filters, then smooths backwards (MODEL.md's RTS smoother, with lag-one covariances).
    ///
    /// - Parameter start: how the state starts (MODEL.md, "Start rule"); pykalman's rule by default.
    /// - Throws: `KalmanError` when the filter meets a singular innovation covariance.
    public func smooth(_ observations: ObservationSequence, start: StartRule = .parameters) throws(KalmanError) -> SmootherResult {
        smooth(filtered: try filter(observations, start: start))
    }

    /// The backward pass over a finished filter pass.
    ///
    /// J_t = Σ_t Dᵀ Σ_pred_{t+1}⁻¹ is computed by a Cholesky solve; a singular predicted
    /// covariance (possible when Q is only semi-definite) falls back to the pseudo-inverse,
    /// as pykalman does throughout. Steps of a diffuse start that are not yet identified take
    /// the information-form step of MODEL.md, "Start rule"; with the course's rule the steps
    /// before the first observed one keep mu_0 and sigma_0 and are linked to nothing.
    public func smooth(filtered filter: FilterResult) -> SmootherResult {
        let n = stateDimension, size = n * n, steps = filter.filtered.count
        var smoothed = filter.filtered
        var lagOne = [Double](repeating: 0, count: steps * size)
        guard steps > 1 else { return SmootherResult(filter: filter, smoothed: smoothed, lagOneCovariances: lagOne) }
        var scratch = [Double](repeating: 0, count: 5 * size + n)
        typealias LA = SmallLinearAlgebra
        // SmootherStep is the backward step the fixed-lag smoother runs too.
        transition.elements.withUnsafeBufferPointer { transitionBuffer in
        filter.filtered.means.withUnsafeBufferPointer { filteredMeans in
        filter.filtered.covariances.withUnsafeBufferPointer { filteredCovariances in
        filter.predicted.means.withUnsafeBufferPointer { predictedMeans in
        filter.predicted.covariances.withUnsafeBufferPointer { predictedCovariances in
        smoothed.means.withUnsafeMutableBufferPointer { smoothedMeans in
        smoothed.covariances.withUnsafeMutableBufferPointer { smoothedCovariances in
        lagOne.withUnsafeMutableBufferPointer { lagOneBuffer in
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            let d = transitionBuffer.baseAddress!
            let gain = scratchBuffer.baseAddress!          // J_t, n×n
            let work = gain + size                          // D Σ_t, then Σ_pred⁻¹ D Σ_t
            let factor = work + size                        // Cholesky factor of Σ_pred_{t+1}
            let difference = factor + size                  // Σ_s_{t+1} - Σ_pred_{t+1}
            let product = difference + size                 // J (Σ_s - Σ_pred)
            let meanDifference = product + size             // mu_s_{t+1} - mu_pred_{t+1}
            var t = steps - 2
            while t >= max(filter.startStep, filter.diffuseSteps) {
                let nextSmoothed = smoothedCovariances.baseAddress! + (t + 1) * size
                SmootherStep.gain(
                    filteredCovariance: filteredCovariances.baseAddress! + t * size, transition: d,
                    nextPredictedCovariance: predictedCovariances.baseAddress! + (t + 1) * size,
                    into: gain, work: work, factor: factor, n)
                SmootherStep.smooth(
                    filteredMean: filteredMeans.baseAddress! + t * n, filteredCovariance: filteredCovariances.baseAddress! + t * size,
                    gain: gain, nextSmoothedMean: smoothedMeans.baseAddress! + (t + 1) * n, nextSmoothedCovariance: nextSmoothed,
                    nextPredictedMean: predictedMeans.baseAddress! + (t + 1) * n,
                    nextPredictedCovariance: predictedCovariances.baseAddress! + (t + 1) * size,
                    mean: smoothedMeans.baseAddress! + t * n, covariance: smoothedCovariances.baseAddress! + t * size,
                    difference: difference, product: product, meanDifference: meanDifference, n)
                // V_{t+1,t} = Σ_s_{t+1} J_tᵀ
                LA.multiplyTransposed(nextSmoothed, gain, into: lagOneBuffer.baseAddress! + (t + 1) * size,
                                      rows: n, inner: n, columns: n)
                t -= 1
            }
        }}}}}}}}}
        var t = min(filter.diffuseSteps, steps - 1) - 1
        while t >= filter.startStep {
            diffuseBackwardStep(t, filter: filter, smoothed: &smoothed, lagOne: &lagOne)
            t -= 1
        }
        return SmootherResult(filter: filter, smoothed: smoothed, lagOneCovariances: lagOne)
    }
}

extension ModelParameters {
    /// J_t = Σ_t Dᵀ Σ_pred_{t+1}⁻¹ into `gain` (n×n), as (Σ_pred_{t+1}⁻¹ D Σ_t)ᵀ by a Cholesky solve
    /// (both covariances symmetric); a singular Σ_pred_{t+1} falls back to the pseudo-inverse,
    /// as pykalman does. `work` and `factor` are n×n scratch.
    static func smootherGain(_ d: UnsafePointer<Double>, _ sigma: UnsafePointer<Double>, _ nextPredicted: UnsafePointer<Double>,
                             into gain: UnsafeMutablePointer<Double>, work: UnsafeMutablePointer<Double>,
                             factor: UnsafeMutablePointer<Double>, _ n: Int) {
        SmootherStep.gain(filteredCovariance: sigma, transition: d, nextPredictedCovariance: nextPredicted,
                          into: gain, work: work, factor: factor, n)
    }

    /// The smoother's step at a diffuse-start step t whose filtered state is not identified
    /// (P∞_t ≠ 0), in information form (MODEL.md, "Start rule"): with Λ_t = lim (κP∞_t + P*_t)⁻¹,
    /// C = (Λ_t + Dᵀ Q⁻¹ D)⁻¹, J_t = C Dᵀ Q⁻¹, mu_s_t = C Λ_t a_t + J_t (mu_s_{t+1} − b_t),
    /// Σ_s_t = C + J_t Σ_s_{t+1} J_tᵀ and V_{t+1,t} = Σ_s_{t+1} J_tᵀ. Pseudo-inverses keep it finite
    /// when Q is singular or s_t is not determined even by s_{t+1} (singular D).
    func diffuseBackwardStep(_ t: Int, filter: FilterResult, smoothed: inout StateTrajectory, lagOne: inout [Double]) {
        let n = stateDimension, size = n * n
        let link = diffuseSmootherLink(filteredMean: filter.filtered.mean(at: t), infinite: filter.diffuseCovariance(at: t),
                                       finite: filter.filtered.covariance(at: t), transitionOffset: transitionOffset(after: t))
        let nextCovariance = smoothed.covariance(at: t + 1)
        let mean = zip(link.shift, link.gain * smoothed.mean(at: t + 1)).map(+)
        let covariance = (link.covariance + link.gain * nextCovariance * link.gain.transposed).symmetrized
        let lag = nextCovariance * link.gain.transposed
        for i in 0..<n { smoothed.means[t * n + i] = mean[i] }
        for i in 0..<size {
            smoothed.covariances[t * size + i] = covariance.elements[i]
            lagOne[(t + 1) * size + i] = lag.elements[i]
        }
    }

    /// mu_s_t, Σ_s_t and V_{t+1,t} at an unidentified diffuse step from its filtered a_t, P*_t,
    /// P∞_t and the smoothed moments of step t+1 (see `diffuseBackwardStep`), with b_t the offset of the step t → t+1.
    func diffuseBackwardMoments(filteredMean: [Double], finite: Matrix, infinite: Matrix, nextMean: [Double], nextCovariance: Matrix,
                                transitionOffset b: [Double]) -> (mean: [Double], covariance: Matrix, lag: Matrix) {
        let link = diffuseSmootherLink(filteredMean: filteredMean, infinite: infinite, finite: finite, transitionOffset: b)
        let mean = zip(link.shift, link.gain * nextMean).map(+)
        return (mean, (link.covariance + link.gain * nextCovariance * link.gain.transposed).symmetrized, nextCovariance * link.gain.transposed)
    }

    /// The information-form step of a diffuse-start step t as an affine map of the next step's
    /// smoothed moments: mu_s_t = shift + J_t mu_s_{t+1} and Σ_s_t = C + J_t Σ_s_{t+1} J_tᵀ, with
    /// shift = C Λ_t a_t − J_t b_t (MODEL.md, "Start rule"). Shared by the batch smoother and the
    /// fixed-lag smoother; allocates (it runs only for the few steps before the state is identified).
    func diffuseSmootherLink(filteredMean a: [Double], infinite: Matrix, finite: Matrix, transitionOffset b: [Double])
        -> (shift: [Double], covariance: Matrix, gain: Matrix) {
        let information = Self.diffuseLimitInverse(infinite: infinite, finite: finite)
        let inverseQ = SymmetricEigen(transitionCovariance).pseudoInverse
        let c = SymmetricEigen(information + transition.transposed * inverseQ * transition).pseudoInverse
        let gain = c * transition.transposed * inverseQ
        // The transition s_{t+1} = D s_t + b_t + w_t: the offset leaves the next state's mean.
        let shift = zip(c * (information * a), gain * b).map(-)
        return (shift, c, gain)
    }

    /// lim_{κ→∞} (κ·P∞ + P*)⁻¹ = U (Uᵀ P* U)⁻¹ Uᵀ, U spanning the null space of P∞ (pseudo-inverse
    /// when Uᵀ P* U is singular).
    static func diffuseLimitInverse(infinite: Matrix, finite: Matrix) -> Matrix {
        let n = infinite.rows
        let eigen = SymmetricEigen(infinite)
        let largest = eigen.values.reduce(0) { max($0, abs($1)) }
        let null = (0..<n).filter { abs(eigen.values[$0]) <= OnlineKalmanFilter.diffuseTolerance * largest }
        guard !null.isEmpty else { return Matrix(rows: n, columns: n) }
        var u = Matrix(rows: n, columns: null.count)
        for (k, column) in null.enumerated() { for i in 0..<n { u[i, k] = eigen.vectors[i, column] } }
        return (u * SymmetricEigen(u.transposed * finite * u).pseudoInverse * u.transposed).symmetrized
    }
}
