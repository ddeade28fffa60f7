import GazeKit
import LinearDynamics

/// What the daemon should publish for one stream, computed independently with the core's
/// batch filter: stale samples dropped, gaps bridged with masked steps, the state started by
/// the start rule; what is not known yet (a diffuse start before enough observations) is NaN,
/// which the daemon publishes as null.
public struct ExpectedEstimate: Sendable {
    public var t: Double
    public var estimate: [Double]
    public var covariance: [Double]
    public var state: [Double]
    public var masked: Bool
    public var sequence: Int
}

public enum GazeStreamReference {
    /// Expected estimates for samples `(t, x, y)` sent in this order (negative coordinates lost,
    /// no restart in between).
    public static func expected(samples: [(t: Double, x: Double, y: Double)], parameters: ModelParameters,
                                rateHz: Double? = nil, start: StartRule = .diffuse) throws -> [ExpectedEstimate] {
        var accepted: [(t: Double, x: Double, y: Double)] = []
        for sample in samples where accepted.last.map({ sample.t >= $0.t }) ?? true { accepted.append(sample) }
        let isMasked = { (s: (t: Double, x: Double, y: Double)) in s.x < 0 || s.y < 0 }
        let h = parameters.observation
        var sequence = ObservationSequence(dimension: 2)
        var stepOfSample: [Int] = []
        for (offset, sample) in accepted.enumerated() {
            if offset > 0, let rate = rateHz {
                let gap = (sample.t - accepted[offset - 1].t) * rate
                if gap > 1.5 { for _ in 0..<(Int(gap.rounded()) - 1) { sequence.appendMasked() } }
            }
            stepOfSample.append(sequence.count)
            sequence.append(isMasked(sample) ? nil : [sample.x, sample.y])
        }
        let result = try parameters.filter(sequence, start: start)
        let filtered = result.filtered
        let n = parameters.stateDimension, m = parameters.observationDimension
        return accepted.enumerated().map { offset, sample in
            let step = stepOfSample[offset]
            let mean = filtered.mean(at: step), covariance = filtered.covariance(at: step)
            var estimate = h * mean, observed = (h * covariance * h.transposed).elements, state = mean
            if !result.isIdentified(at: step) {
                state = [Double](repeating: .nan, count: n)
                let diffuse = h * result.diffuseCovariance(at: step) * h.transposed
                let scale = (0..<n).map { result.diffuseCovariance(at: step)[$0, $0] }.max() ?? 1
                if (0..<m).contains(where: { diffuse[$0, $0] > 1e-6 * scale }) {
                    estimate = [Double](repeating: .nan, count: m)
                    observed = [Double](repeating: .nan, count: m * m)
                }
            }
            return ExpectedEstimate(t: sample.t, estimate: estimate, covariance: observed, state: state,
                                    masked: isMasked(sample), sequence: offset + 1)
        }
    }
}
