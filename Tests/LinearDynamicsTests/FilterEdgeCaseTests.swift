import LinearDynamics
import Testing
import _TestSupport

/// The filter and smoother on shapes and masks the reference cases do not cover, checked
/// against the plain textbook implementation in `NaiveKalman`.
@Suite struct FilterEdgeCaseTests {
    static let shapes: [(n: Int, m: Int)] = [(1, 1), (2, 2), (4, 2), (2, 3), (3, 1), (5, 4), (6, 6)]

    static func observations(_ p: ModelParameters, steps: Int, seed: UInt64, maskEvery: Int?) -> [[Double]?] {
        var generator = SeededGenerator(seed: seed)
        let sampled = p.sample(steps: steps, using: &generator)
        return (0..<steps).map { t in
            if let maskEvery, t % maskEvery == maskEvery - 1 { return nil }
            return sampled.observations[t]
        }
    }

    static func agree(_ a: [Double], _ b: [Double], _ tolerance: Double = 1e-8) -> Bool {
        let scale = max(1, b.reduce(0) { max($0, abs($1)) })
        return zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * scale }
    }

    @Test(arguments: shapes)
    func agreesWithTextbookImplementation(_ shape: (n: Int, m: Int)) throws {
        let p = RandomModels.make(n: shape.n, m: shape.m, seed: UInt64(shape.n * 10 + shape.m))
        try p.validate()
        let rows = Self.observations(p, steps: 60, seed: 5, maskEvery: 7)
        let sequence = ObservationSequence(dimension: shape.m, rows: rows)
        let smoothed = try p.smooth(sequence)
        let naive = NaiveKalman.run(p, rows)
        for t in 0..<rows.count {
            #expect(Self.agree(smoothed.filter.filtered.mean(at: t), naive.filtered[t].0), "filter mean t=\(t)")
            #expect(Self.agree(smoothed.filter.filtered.covariance(at: t).elements, naive.filtered[t].1.elements), "filter cov t=\(t)")
            #expect(Self.agree(smoothed.smoothed.mean(at: t), naive.smoothed[t].0), "smoothed mean t=\(t)")
            #expect(Self.agree(smoothed.smoothed.covariance(at: t).elements, naive.smoothed[t].1.elements), "smoothed cov t=\(t)")
        }
        #expect(abs(smoothed.filter.logLikelihood - naive.logLikelihood) <= 1e-8 * abs(naive.logLikelihood))
    }

    @Test(arguments: shapes)
    func onlineFilterEqualsBatchFilter(_ shape: (n: Int, m: Int)) throws {
        let p = RandomModels.make(n: shape.n, m: shape.m, seed: 99)
        let rows = Self.observations(p, steps: 40, seed: 3, maskEvery: 5)
        let batch = try p.filter(ObservationSequence(dimension: shape.m, rows: rows))
        var online = OnlineKalmanFilter(parameters: p)
        for (t, row) in rows.enumerated() {
            let logLikelihood = try online.step(row)
            #expect(online.mean == batch.filtered.mean(at: t))
            #expect(online.covariance == batch.filtered.covariance(at: t))
            #expect(logLikelihood == batch.stepLogLikelihoods[t])
            #expect(online.stepCount == t + 1)
        }
    }

    @Test func allMaskedSequencePropagatesThePrior() throws {
        let p = RandomModels.make(n: 4, m: 2, seed: 1)
        let sequence = ObservationSequence(dimension: 2, rows: Array(repeating: nil, count: 25))
        let result = try p.smooth(sequence)
        #expect(result.filter.logLikelihood == 0)
        #expect(result.filter.filtered.mean(at: 0) == p.initialMean)
        #expect(result.filter.filtered.covariance(at: 0) == p.initialCovariance)
        let naive = NaiveKalman.run(p, Array(repeating: nil, count: 25))
        for t in 0..<25 {
            #expect(Self.agree(result.filter.filtered.mean(at: t), naive.filtered[t].0))
            #expect(Self.agree(result.smoothed.mean(at: t), naive.smoothed[t].0))
            #expect(result.smoothed.means.allSatisfy(\.isFinite) && result.smoothed.covariances.allSatisfy(\.isFinite))
        }
    }

    @Test func singleStepSmoothsToTheFilter() throws {
        let p = RandomModels.make(n: 2, m: 2, seed: 2)
        let sequence = ObservationSequence(dimension: 2, rows: [[0.5, -1.5]])
        let result = try p.smooth(sequence)
        #expect(result.smoothed == result.filter.filtered)
        #expect(result.filter.logLikelihood < 0)
    }

    @Test func maskedFirstStepKeepsTheInitialState() throws {
        let p = RandomModels.make(n: 3, m: 2, seed: 4)
        let rows: [[Double]?] = [nil, [1, 2], [2, 3]]
        let result = try p.filter(ObservationSequence(dimension: 2, rows: rows))
        #expect(result.filtered.mean(at: 0) == p.initialMean)
        #expect(result.filtered.covariance(at: 0) == p.initialCovariance)
        #expect(result.stepLogLikelihoods[0] == 0 && result.stepLogLikelihoods[1] < 0)
        let naive = NaiveKalman.run(p, rows)
        #expect(Self.agree(result.filtered.mean(at: 2), naive.filtered[2].0))
    }

    @Test func covariancesStaySymmetric() throws {
        let p = RandomModels.make(n: 5, m: 3, seed: 8)
        let result = try p.smooth(ObservationSequence(dimension: 3, rows: Self.observations(p, steps: 200, seed: 1, maskEvery: 9)))
        for t in 0..<200 {
            #expect(result.filter.filtered.covariance(at: t).asymmetry == 0)
            #expect(result.smoothed.covariance(at: t).asymmetry == 0)
        }
    }

    @Test func singularInnovationCovarianceIsAnErrorNotNaN() throws {
        // R = 0 and sigma_0 = 0: S_0 = H·0·Hᵀ + 0 is singular (validation would refuse R = 0;
        // the filter must still not produce NaN when handed such parameters).
        let p = ModelParameters(transition: .identity(2), transitionCovariance: .identity(2), observation: .identity(2),
                                observationCovariance: Matrix(rows: 2, columns: 2), initialMean: [0, 0],
                                initialCovariance: Matrix(rows: 2, columns: 2))
        #expect(throws: ParameterError.self) { try p.validate() }
        #expect(throws: KalmanError.singularInnovationCovariance(step: 0)) {
            try p.filter(ObservationSequence(dimension: 2, rows: [[1, 1], [2, 2]]))
        }
        var online = OnlineKalmanFilter(parameters: p)
        #expect(throws: KalmanError.singularInnovationCovariance(step: 0)) { try online.step([1, 1]) }
        #expect(online.mean.allSatisfy(\.isFinite) && online.covariance.isFinite)
        #expect(online.stepCount == 1)
    }

    @Test func anOverflowingStateIsAnErrorNotInfinity() throws {
        // D = 1.5·I over a long masked stretch: the prediction overflows; no step hands out ∞ or NaN.
        var p = RandomModels.make(n: 2, m: 2, seed: 13)
        p.transition = Matrix.diagonal([1.5, 1.5])
        let rows: [[Double]?] = [[1, 2]] + Array(repeating: nil, count: 999) + [[3, 4]]
        var failure: KalmanError?
        do { _ = try p.filter(ObservationSequence(dimension: 2, rows: rows)) } catch { failure = error }
        guard case .nonFiniteState(let step)? = failure else { Issue.record("expected nonFiniteState, got \(String(describing: failure))"); return }
        #expect(step > 800 && step < 1000)
        var online = OnlineKalmanFilter(parameters: p)
        try online.step([1, 2])
        for _ in 1..<step { online.predictOnly() }  // steps 1 ..< step: still finite
        #expect(online.mean.allSatisfy(\.isFinite) && online.covariance.isFinite)
        #expect(throws: KalmanError.nonFiniteState(step: step)) { try online.step([3, 4]) }
    }

    /// A gap bridged with `predictOnly` is the batch filter's masked steps, bit for bit.
    @Test func predictOnlyIsAMaskedStep() throws {
        let p = RandomModels.make(n: 4, m: 2, seed: 14)
        let rows: [[Double]?] = [[1, 2], nil, nil, nil, [4, 3], nil, [5, 5]]
        let batch = try p.filter(ObservationSequence(dimension: 2, rows: rows))
        var online = OnlineKalmanFilter(parameters: p)
        for (t, row) in rows.enumerated() {
            if let row { try online.step(row) } else { online.predictOnly() }
            #expect(online.mean == batch.filtered.mean(at: t) && online.covariance == batch.filtered.covariance(at: t), "t=\(t)")
            #expect(online.predictedMean == batch.predicted.mean(at: t), "t=\(t)")
        }
        #expect(online.stepCount == rows.count)
    }

    @Test func observationEstimateIsHTimesTheState() throws {
        let p = RandomModels.make(n: 4, m: 2, seed: 12)
        var online = OnlineKalmanFilter(parameters: p)
        try online.step([3, 4])
        var estimate = [Double](repeating: 0, count: 2), covariance = [Double](repeating: 0, count: 4)
        online.observationEstimate(mean: &estimate, covariance: &covariance)
        #expect(Self.agree(estimate, p.observation * online.mean, 1e-12))
        #expect(Self.agree(covariance, (p.observation * online.covariance * p.observation.transposed).elements, 1e-12))
    }
}
