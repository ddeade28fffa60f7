import GazeKit
import LinearDynamics

/// Stage 2, fit: multi-sequence EM over the training sequences, from the parameters in force,
/// with the stream's start rule for every sequence.
struct FitStage {
    let configuration: RefitConfiguration
    let log: @Sendable (String) -> Void

    /// What fitting gave.
    enum Outcome {
        /// EM ran; its result (converged or not) is in the result too.
        case fitted(EMResult)
        /// EM failed (the reason is in the result); the current parameters stay.
        case failed
    }

    /// Fits `training` from `current`, recording the fit in `result`.
    func run(current: ModelParameters, training: [RecordingScan.Segment], _ result: inout StreamRefit) -> Outcome {
        let fit: EMResult
        let clock = ContinuousClock(), start = clock.now
        defer {
            let elapsed = clock.now - start
            result.fitSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        }
        do {
            fit = try current.fitEM(to: training.map(\.observations), configuration: EMConfiguration(
                fitting: configuration.fitting, maximumIterations: configuration.iterations, tolerance: configuration.tolerance,
                tolerancePerSample: configuration.tolerancePerSample, start: result.model.start, acceleration: configuration.acceleration))
        } catch {
            result.decision = .refused
            result.reason = "the fit failed: \(error)"
            return .failed
        }
        result.fitted = fit.parameters
        result.logLikelihoods = fit.logLikelihoods
        result.iterations = fit.iterations
        result.converged = fit.converged
        result.emDecreasedAt = fit.decreasedAt
        result.acceleration = configuration.acceleration.rawValue
        result.evaluations = fit.evaluations
        result.trainingObserved = fit.observedSteps > 0 ? fit.observedSteps : result.trainingObserved
        if let iteration = fit.decreasedAt {
            log("\(result.stream): EM iteration \(iteration) lowered the log-likelihood; kept the parameters before it (\(ModelParameters.decreaseCauses))")
        }
        return .fitted(fit)
    }
}
