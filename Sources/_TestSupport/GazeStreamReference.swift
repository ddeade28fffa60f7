import GazeKit
import LinearDynamics

/// What the daemon should publish for one stream, computed independently with the core's
/// batch filter: stale samples dropped, gaps bridged with masked steps, the state started
/// at the first unmasked sample (or at mu_0), the prior published before that.
public struct ExpectedEstimate: Sendable {
    public var t: Double
    public var estimate: [Double]
    public var covariance: [Double]
    public var state: [Double]
    public var masked: Bool
    public var sequence: Int
}

public enum GazeStreamReference {
    /// Expected estimates for samples `(t, x, y)` sent in this order.
    public static func expected(samples: [(t: Double, x: Double, y: Double)], parameters: ModelParameters,
                                rateHz: Double? = nil, startAtFirstSample: Bool = true) throws -> [ExpectedEstimate] {
        var accepted: [(t: Double, x: Double, y: Double)] = []
        for sample in samples where accepted.last.map({ sample.t >= $0.t }) ?? true { accepted.append(sample) }
        let isMasked = { (s: (t: Double, x: Double, y: Double)) in s.x < 0 || s.y < 0 }
        let h = parameters.observation
        var result: [ExpectedEstimate] = []
        let startIndex = startAtFirstSample ? (accepted.firstIndex { !isMasked($0) } ?? accepted.count) : 0
        for (index, sample) in accepted[..<startIndex].enumerated() {
            result.append(ExpectedEstimate(t: sample.t, estimate: h * parameters.initialMean,
                                           covariance: (h * parameters.initialCovariance * h.transposed).elements,
                                           state: parameters.initialMean, masked: true, sequence: index + 1))
        }
        guard startIndex < accepted.count else { return result }
        var start = parameters
        if startAtFirstSample {
            var mean = [Double](repeating: 0, count: parameters.stateDimension)
            mean[0] = accepted[startIndex].x
            if mean.count > 1 { mean[1] = accepted[startIndex].y }
            start.initialMean = mean
        }
        var sequence = ObservationSequence(dimension: 2)
        var stepOfSample: [Int] = []
        for (offset, sample) in accepted[startIndex...].enumerated() {
            if offset > 0, let rate = rateHz {
                let gap = (sample.t - accepted[startIndex + offset - 1].t) * rate
                if gap > 1.5 { for _ in 0..<(Int(gap.rounded()) - 1) { sequence.appendMasked() } }
            }
            stepOfSample.append(sequence.count)
            sequence.append(isMasked(sample) ? nil : [sample.x, sample.y])
        }
        let filtered = try start.filter(sequence).filtered
        for (offset, sample) in accepted[startIndex...].enumerated() {
            let step = stepOfSample[offset]
            let mean = filtered.mean(at: step), covariance = filtered.covariance(at: step)
            result.append(ExpectedEstimate(t: sample.t, estimate: h * mean, covariance: (h * covariance * h.transposed).elements,
                                           state: mean, masked: isMasked(sample), sequence: startIndex + offset + 1))
        }
        return result
    }
}
