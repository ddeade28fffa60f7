import Foundation
import GazeKit
import LinearDynamics

/// Stage 3, gate: the fit is promoted only if it is valid and its held-out log-likelihood per
/// observed sample, filtering each sequence exactly as the daemon does (the stream's start
/// rule and time steps), beats the current parameters' by `min_improvement`.
struct GateStage {
    let configuration: RefitConfiguration

    /// The gate's decision.
    enum Outcome: Equatable {
        /// Install the fit.
        case promote
        /// Keep the current parameters (the reason is in the result).
        case refuse
    }

    /// Judges `fitted` against `current` on `heldOut`, recording the scores and the reason in `result`.
    func run(current: ModelParameters, fitted: ModelParameters, heldOut: [RecordingScan.Segment], _ result: inout StreamRefit) -> Outcome {
        let sequences = heldOut.map(\.observations)
        let currentScore = Self.logLikelihoodPerObservedSample(current, sequences, model: result.model)
        let fittedScore = Self.logLikelihoodPerObservedSample(fitted, sequences, model: result.model)
        result.heldOutCurrent = currentScore
        result.heldOutFitted = fittedScore
        result.decision = .refused
        do { try fitted.validate() } catch {
            result.reason = "the fitted parameters are invalid: \(error)"
            return .refuse
        }
        guard let currentScore, let fittedScore else {
            result.reason = "the held-out data could not be scored under the \(currentScore == nil ? "current" : "fitted") parameters (a singular covariance)"
            return .refuse
        }
        let gain = fittedScore - currentScore
        let comparison = "held-out log-likelihood per sample \(Self.rounded(fittedScore)) fitted vs \(Self.rounded(currentScore)) current: gain \(Self.rounded(gain))"
        let promote = gain >= configuration.minimumImprovement
        result.decision = promote ? .promoted : .refused
        result.reason = comparison + (promote ? " ≥ " : " is below the required ") + "\(configuration.minimumImprovement)"
        return promote ? .promote : .refuse
    }

    /// The log-likelihood per observed sample of sequences filtered the way the daemon does:
    /// each starts by the stream's start rule, its steps as the reader laid them out by the
    /// stream's time rule. Nil without an observed sample or on a numerical failure.
    static func logLikelihoodPerObservedSample(_ parameters: ModelParameters, _ sequences: [ObservationSequence], model: StreamModel) -> Double? {
        var total = 0.0, observed = 0
        for sequence in sequences where sequence.maskedCount < sequence.count {
            do { total += try parameters.logLikelihood(of: sequence, start: model.start) } catch { return nil }
            observed += sequence.count - sequence.maskedCount
        }
        guard observed > 0, total.isFinite else { return nil }
        return total / Double(observed)
    }

    static func rounded(_ value: Double) -> String { String(format: "%.4f", value) }
}
