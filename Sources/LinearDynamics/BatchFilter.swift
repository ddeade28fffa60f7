/// The filter's output over a whole sequence: what the smoother and EM need, and the answer.
public struct FilterResult: Equatable, Sendable {
    /// Filtered means and covariances, mu_t and Σ_t. During a diffuse start (t < `diffuseSteps`)
    /// these are the finite parts a_t and P*_t of a covariance κ·P∞_t + P*_t with κ → ∞.
    public internal(set) var filtered: StateTrajectory
    /// Predicted means and covariances, mu_pred_t and Σ_pred_t (step 0: the start rule's state).
    public internal(set) var predicted: StateTrajectory
    /// Each step's log-likelihood l_t (0 for masked steps; during a diffuse start, the step's
    /// part of the diffuse log-likelihood, MODEL.md "Start rule").
    public internal(set) var stepLogLikelihoods: [Double]
    /// The start rule the filter ran with.
    public internal(set) var start: StartRule = .parameters
    /// The first step of the state chain: for the course's rule, the first observed step (the
    /// steps before it hold mu_0 and sigma_0, linked to nothing); otherwise 0.
    public internal(set) var startStep: Int = 0
    /// How many leading steps have a filtered state that is not yet identified (P∞_t ≠ 0):
    /// 0 unless the start is diffuse; the sequence's length when it never is identified.
    public internal(set) var diffuseSteps: Int = 0
    /// How many leading steps have no finite estimate in observation space, H·mu_t with H·Σ_t·Hᵀ
    /// (the daemon publishes them as null, `OnlineKalmanFilter.hasObservationEstimate`): at most
    /// `diffuseSteps`, fewer when H sees only an identified part of the state (position and velocity).
    public internal(set) var observationUnknownSteps: Int = 0
    /// P∞_t of the filtered state for t < `diffuseSteps`, n×n blocks.
    public internal(set) var diffuseCovariances: [Double] = []
    /// P∞ of the predicted state for t ≤ `diffuseSteps` (within the sequence), n×n blocks.
    public internal(set) var predictedDiffuseCovariances: [Double] = []

    /// The sequence's log-likelihood, Σ_t l_t (pykalman's `loglikelihood`; for a diffuse start,
    /// the diffuse log-likelihood).
    public var logLikelihood: Double { stepLogLikelihoods.reduce(0, +) }

    /// Whether the filtered state at step t has a finite covariance (is identified).
    public func isIdentified(at t: Int) -> Bool { t >= diffuseSteps }

    /// P∞_t of the filtered state at step t (zero once identified).
    public func diffuseCovariance(at t: Int) -> Matrix {
        let n = filtered.dimension, size = n * n
        guard t < diffuseSteps else { return Matrix(rows: n, columns: n) }
        return Matrix(rows: n, columns: n, elements: Array(diffuseCovariances[(t * size)..<((t + 1) * size)]))
    }
}

extension ModelParameters {
    /// Runs the filter over a whole sequence, step by step with `OnlineKalmanFilter`.
    ///
    /// - Parameter start: how the state starts (MODEL.md, "Start rule"); pykalman's rule by default.
    /// - Throws: `KalmanError` when an innovation covariance is singular or the state overflows.
    public func filter(_ observations: ObservationSequence, start: StartRule = .parameters) throws(KalmanError) -> FilterResult {
        precondition(observations.dimension == observationDimension,
                     "observations have \(observations.dimension) components, the model \(observationDimension)")
        let n = stateDimension, m = observationDimension, steps = observations.count, size = n * n
        var result = FilterResult(
            filtered: StateTrajectory(dimension: n, count: steps),
            predicted: StateTrajectory(dimension: n, count: steps),
            stepLogLikelihoods: [Double](repeating: 0, count: steps), start: start)
        var online = OnlineKalmanFilter(parameters: self, start: start)
        var failure: KalmanError?
        var diffuse: [Double] = [], predictedDiffuse: [Double] = [], diffuseSteps = 0
        var startStep = 0, waiting = start == .firstSample, observationUnknownSteps = 0
        var block = [Double](repeating: 0, count: 2 * size)
        withTransitionOffsets(steps: steps) { offsets in
        observations.values.withUnsafeBufferPointer { values in
            result.filtered.means.withUnsafeMutableBufferPointer { means in
            result.filtered.covariances.withUnsafeMutableBufferPointer { covariances in
            result.predicted.means.withUnsafeMutableBufferPointer { predictedMeans in
            result.predicted.covariances.withUnsafeMutableBufferPointer { predictedCovariances in
            result.stepLogLikelihoods.withUnsafeMutableBufferPointer { logLikelihoods in
                for t in 0..<steps {
                    let observation = observations.mask[t] ? nil : values.baseAddress! + t * m
                    let tracksDiffuse = start == .diffuse && diffuseSteps == t
                    switch online.advance(observation: observation, transitionOffset: offsets(t)) {
                    case .success(let logLikelihood): logLikelihoods[t] = logLikelihood
                    case .failure(let error): failure = error; return
                    }
                    if waiting && !online.isAwaitingSample { waiting = false; startStep = t }
                    if observationUnknownSteps == t && !online.hasObservationEstimate { observationUnknownSteps += 1 }
                    online.copyMoments(
                        predictedMean: predictedMeans.baseAddress! + t * n,
                        predictedCovariance: predictedCovariances.baseAddress! + t * size,
                        mean: means.baseAddress! + t * n, covariance: covariances.baseAddress! + t * size)
                    if tracksDiffuse {
                        block.withUnsafeMutableBufferPointer {
                            online.copyDiffuseMoments(predicted: $0.baseAddress!, filtered: $0.baseAddress! + size)
                        }
                        predictedDiffuse.append(contentsOf: block[0..<size])
                        if !online.hasEstimate {
                            diffuse.append(contentsOf: block[size...])
                            diffuseSteps += 1
                        }
                    }
                }
            }}}}}
        }}
        if let failure { throw failure }
        if waiting { startStep = steps }
        result.startStep = startStep
        result.diffuseSteps = diffuseSteps
        result.observationUnknownSteps = observationUnknownSteps
        result.diffuseCovariances = diffuse
        result.predictedDiffuseCovariances = predictedDiffuse
        return result
    }

    /// The log-likelihood of a sequence under these parameters, Σ_t l_t (for a diffuse start,
    /// the diffuse log-likelihood of MODEL.md, "Start rule").
    public func logLikelihood(of observations: ObservationSequence, start: StartRule = .parameters) throws(KalmanError) -> Double {
        var online = OnlineKalmanFilter(parameters: self, start: start)
        var total = 0.0
        let m = observationDimension
        var failure: KalmanError?
        withTransitionOffsets(steps: observations.count) { offsets in
        observations.values.withUnsafeBufferPointer { values in
            for t in 0..<observations.count {
                let observation = observations.mask[t] ? nil : values.baseAddress! + t * m
                switch online.advance(observation: observation, transitionOffset: offsets(t)) {
                case .success(let logLikelihood): total += logLikelihood
                case .failure(let error): failure = error; return
                }
            }
        }}
        if let failure { throw failure }
        return total
    }
}

extension ModelParameters {
    /// Calls `body` with a lookup of step t's transition offset: row t−1 of the per-step
    /// offsets, or nil (the filter's own b) when there are none. No copy is made.
    /// - Precondition: per-step offsets have a row for each of the `steps` − 1 transitions.
    func withTransitionOffsets<Result>(steps: Int, _ body: ((Int) -> UnsafePointer<Double>?) throws -> Result) rethrows -> Result {
        guard let offsets = transitionOffsets else { return try body { _ in nil } }
        precondition(offsets.rows >= steps - 1, "a sequence of \(steps) steps needs \(steps - 1) transition offsets, there are \(offsets.rows)")
        let n = stateDimension
        return try offsets.elements.withUnsafeBufferPointer { rows in
            try body { t in t > 0 ? rows.baseAddress! + (t - 1) * n : nil }
        }
    }
}
