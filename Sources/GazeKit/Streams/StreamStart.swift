import LinearDynamics

extension StreamModel {
    /// A filter that starts a stream, or one recorded sequence, at a sample (`observation`, nil
    /// when the sample is masked) by this model's start rule; nil while the rule waits for an
    /// observed sample. Both the daemon (every start and restart) and the refit's gate start here.
    ///
    /// TODO(core): `.diffuse` runs the first-sample start until LinearDynamics' exact diffuse
    /// start lands; then every rule is handed to the core's `start:` entry points.
    public func startingFilter(_ parameters: ModelParameters, at observation: UnsafeBufferPointer<Double>?) -> OnlineKalmanFilter? {
        switch start {
        case .parameters:
            return OnlineKalmanFilter(parameters: parameters)
        case .firstSample, .diffuse:
            guard let observation else { return nil }
            var mean = [Double](repeating: 0, count: parameters.stateDimension)
            for i in 0..<min(mean.count, observation.count) { mean[i] = observation[i] }
            return OnlineKalmanFilter(parameters: parameters, initialMean: mean)
        }
    }
}
