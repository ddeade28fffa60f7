/// The filter's output over a whole sequence: what the smoother and EM need, and the answer.
public struct FilterResult: Equatable, Sendable {
    /// Filtered means and covariances, mu_t and Σ_t.
    public internal(set) var filtered: StateTrajectory
    /// Predicted means and covariances, mu_pred_t and Σ_pred_t (step 0: mu_0 and sigma_0).
    public internal(set) var predicted: StateTrajectory
    /// Each step's log-likelihood l_t (0 for masked steps).
    public internal(set) var stepLogLikelihoods: [Double]

    /// The sequence's log-likelihood, Σ_t l_t (pykalman's `loglikelihood`).
    public var logLikelihood: Double { stepLogLikelihoods.reduce(0, +) }
}

extension ModelParameters {
    /// Runs the filter over a whole sequence, step by step with `OnlineKalmanFilter`.
    ///
    /// - Throws: `KalmanError` when an innovation covariance is singular or the state overflows.
    public func filter(_ observations: ObservationSequence) throws(KalmanError) -> FilterResult {
        precondition(observations.dimension == observationDimension,
                     "observations have \(observations.dimension) components, the model \(observationDimension)")
        let n = stateDimension, m = observationDimension, steps = observations.count
        var result = FilterResult(
            filtered: StateTrajectory(dimension: n, count: steps),
            predicted: StateTrajectory(dimension: n, count: steps),
            stepLogLikelihoods: [Double](repeating: 0, count: steps))
        var online = OnlineKalmanFilter(parameters: self)
        var failure: KalmanError?
        observations.values.withUnsafeBufferPointer { values in
            result.filtered.means.withUnsafeMutableBufferPointer { means in
            result.filtered.covariances.withUnsafeMutableBufferPointer { covariances in
            result.predicted.means.withUnsafeMutableBufferPointer { predictedMeans in
            result.predicted.covariances.withUnsafeMutableBufferPointer { predictedCovariances in
            result.stepLogLikelihoods.withUnsafeMutableBufferPointer { logLikelihoods in
                for t in 0..<steps {
                    let observation = observations.mask[t] ? nil : values.baseAddress! + t * m
                    switch online.advance(observation: observation) {
                    case .success(let logLikelihood): logLikelihoods[t] = logLikelihood
                    case .failure(let error): failure = error; return
                    }
                    online.copyMoments(
                        predictedMean: predictedMeans.baseAddress! + t * n,
                        predictedCovariance: predictedCovariances.baseAddress! + t * n * n,
                        mean: means.baseAddress! + t * n, covariance: covariances.baseAddress! + t * n * n)
                }
            }}}}}
        }
        if let failure { throw failure }
        return result
    }

    /// The log-likelihood of a sequence under these parameters, Σ_t l_t.
    public func logLikelihood(of observations: ObservationSequence) throws(KalmanError) -> Double {
        var online = OnlineKalmanFilter(parameters: self)
        var total = 0.0
        let m = observationDimension
        var failure: KalmanError?
        observations.values.withUnsafeBufferPointer { values in
            for t in 0..<observations.count {
                let observation = observations.mask[t] ? nil : values.baseAddress! + t * m
                switch online.advance(observation: observation) {
                case .success(let logLikelihood): total += logLikelihood
                case .failure(let error): failure = error; return
                }
            }
        }
        if let failure { throw failure }
        return total
    }
}
