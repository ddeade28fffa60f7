/// The RTS smoother's backward step (MODEL.md) on raw storage: the one implementation that the
/// batch smoother and the fixed-lag smoother both run.
///
/// Callers own every buffer (allocated once) and pass pointers in; shapes are their contract.
@usableFromInline
enum SmootherStep {
    typealias Pointer = UnsafeMutablePointer<Double>
    typealias ConstPointer = UnsafePointer<Double>
    typealias LA = SmallLinearAlgebra

    /// The smoother gain J_t = Σ_t Dᵀ Σ_pred_{t+1}⁻¹ (n×n) into `gain`.
    ///
    /// Computed as (Σ_pred⁻¹ D Σ_t)ᵀ with a Cholesky solve (both covariances are symmetric); a
    /// singular Σ_pred (possible when Q is only semi-definite) falls back to its pseudo-inverse,
    /// as pykalman does throughout. Only that rare fallback allocates.
    /// - Parameters:
    ///   - work, factor: n×n scratch each.
    @inline(__always)
    static func gain(
        filteredCovariance sigma: ConstPointer, transition d: ConstPointer, nextPredictedCovariance predicted: ConstPointer,
        into gain: Pointer, work: Pointer, factor: Pointer, _ n: Int
    ) {
        let size = n * n
        LA.multiply(d, sigma, into: work, rows: n, inner: n, columns: n)
        if LA.cholesky(predicted, into: factor, n) != nil {
            LA.solveLower(factor, work, n, columns: n)
            LA.solveLowerTransposed(factor, work, n, columns: n)
        } else {
            let pseudoInverse = SymmetricEigen(Matrix(rows: n, columns: n,
                elements: Array(UnsafeBufferPointer(start: predicted, count: size)))).pseudoInverse
            let solved = pseudoInverse * Matrix(rows: n, columns: n, elements: Array(UnsafeBufferPointer(start: work, count: size)))
            for i in 0..<size { work[i] = solved.elements[i] }
        }
        for i in 0..<n { for j in 0..<n { gain[i * n + j] = work[j * n + i] } }
    }

    /// One backward step: mu_s_t = mu_t + J (mu_s_{t+1} − mu_pred_{t+1}) and
    /// Σ_s_t = Σ_t + J (Σ_s_{t+1} − Σ_pred_{t+1}) Jᵀ, made exactly symmetric.
    ///
    /// `gain` may also be a product of the gains of several steps whose filtered moments equal
    /// their predictions (masked steps): the step then spans them exactly.
    /// - Parameters:
    ///   - difference, product: n×n scratch each; `meanDifference`: n scratch.
    @inline(__always)
    static func smooth(
        filteredMean: ConstPointer, filteredCovariance sigma: ConstPointer, gain: ConstPointer,
        nextSmoothedMean: ConstPointer, nextSmoothedCovariance: ConstPointer,
        nextPredictedMean: ConstPointer, nextPredictedCovariance: ConstPointer,
        mean: Pointer, covariance: Pointer,
        difference: Pointer, product: Pointer, meanDifference: Pointer, _ n: Int
    ) {
        let size = n * n
        for i in 0..<n { meanDifference[i] = nextSmoothedMean[i] - nextPredictedMean[i] }
        for i in 0..<n {
            var sum = filteredMean[i]
            for j in 0..<n { sum += gain[i * n + j] * meanDifference[j] }
            mean[i] = sum
        }
        for i in 0..<size { difference[i] = nextSmoothedCovariance[i] - nextPredictedCovariance[i] }
        LA.multiply(gain, difference, into: product, rows: n, inner: n, columns: n)
        LA.multiplyTransposed(product, gain, into: covariance, rows: n, inner: n, columns: n)
        for i in 0..<size { covariance[i] += sigma[i] }
        LA.symmetrize(covariance, n)
    }
}
