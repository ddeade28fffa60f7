import LinearDynamics
import Testing
import _TestSupport

/// The fixed-lag smoother against its definition: sample k's estimate is what the batch RTS
/// smoother, run on the sequence cut after sample k+N, gives at k.
@Suite struct FixedLagSmootherTests {
    /// Observations of `steps` steps drawn from `p`, with masked runs (inside, first, last).
    static func rows(_ p: ModelParameters, steps: Int, seed: UInt64) -> [[Double]?] {
        var generator = SeededGenerator(seed: seed)
        let sampled = p.sample(steps: steps, using: &generator).observations
        return (0..<steps).map { t in
            t == 0 || (7..<11).contains(t) || t == 20 || (31..<33).contains(t) || t == steps - 1 ? nil : sampled[t]
        }
    }

    /// Whether two lists agree to 1e-9 relative to the larger of 1 and the expected list's largest entry.
    static func agree(_ a: [Double], _ b: [Double]) -> Bool {
        let scale = max(1, b.reduce(0) { max($0, abs($1)) })
        return a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-9 * scale }
    }

    /// What `withSmoothed` hands out, copied.
    static func read(_ smoother: inout FixedLagSmoother, _ index: Int) -> ([Double], [Double]) {
        smoother.withSmoothed(index) { mean, covariance in (Array(mean), Array(covariance)) }
    }

    @Test(arguments: [(2, 2, 0), (2, 2, 1), (2, 2, 5), (4, 2, 3), (4, 2, 25), (3, 1, 2), (1, 1, 4)])
    func eachEstimateIsTheBatchSmootherOnTheTruncatedSequence(_ shape: (Int, Int, Int)) throws {
        let (n, m, lag) = shape
        let p = RandomModels.make(n: n, m: m, seed: UInt64(300 + 10 * n + m))
        let rows = Self.rows(p, steps: 40, seed: UInt64(lag + 1))
        var filter = OnlineKalmanFilter(parameters: p)
        var smoother = FixedLagSmoother(lag: lag, stateDimension: n)
        var published = 0
        for (t, row) in rows.enumerated() {
            try filter.step(row)
            guard let k = smoother.push(filter) else {
                #expect(t < lag, "sample \(t) made no estimate ready")
                continue
            }
            #expect(k == t - lag)
            let (mean, covariance) = Self.read(&smoother, k)
            let batch = try p.smooth(ObservationSequence(dimension: m, rows: Array(rows[0...t])))
            #expect(Self.agree(mean, batch.smoothed.mean(at: k)), "mean of sample \(k), lag \(lag)")
            #expect(Self.agree(covariance, batch.smoothed.covariance(at: k).elements), "covariance of sample \(k), lag \(lag)")
            published += 1
        }
        // Shutdown: the last N samples, smoothed with everything known.
        let pending = smoother.flush()
        #expect(pending == published..<rows.count)
        let full = try p.smooth(ObservationSequence(dimension: m, rows: rows))
        for k in pending {
            let (mean, covariance) = Self.read(&smoother, k)
            #expect(Self.agree(mean, full.smoothed.mean(at: k)), "flushed mean of sample \(k)")
            #expect(Self.agree(covariance, full.smoothed.covariance(at: k).elements), "flushed covariance of sample \(k)")
        }
        #expect(smoother.pendingCount == 0)
    }

    /// Model steps without a sample (a gap bridged at the stream's rate) are not samples: the
    /// window counts samples, and the estimate equals the batch smoother over all model steps,
    /// the bridged ones masked.
    @Test(arguments: [(2, 2, 3), (4, 2, 6)])
    func bridgedStepsAreSpannedExactly(_ shape: (Int, Int, Int)) throws {
        let (n, m, lag) = shape
        let p = RandomModels.make(n: n, m: m, seed: UInt64(400 + n))
        let rows = Self.rows(p, steps: 48, seed: 11)
        let bridged: Set<Int> = [3, 4, 15, 16, 17, 26, 40]  // steps with no sample at all
        let samples = (0..<rows.count).filter { !bridged.contains($0) }
        var modelRows = rows
        for t in bridged { modelRows[t] = nil }
        var filter = OnlineKalmanFilter(parameters: p)
        var smoother = FixedLagSmoother(lag: lag, stateDimension: n)
        var checked = 0
        for t in 0..<rows.count {
            if bridged.contains(t) {
                filter.predictOnly()
                smoother.bridge(filter)
                continue
            }
            try filter.step(rows[t])
            guard let k = smoother.push(filter) else { continue }
            let (mean, covariance) = Self.read(&smoother, k)
            let batch = try p.smooth(ObservationSequence(dimension: m, rows: Array(modelRows[0...t])))
            #expect(Self.agree(mean, batch.smoothed.mean(at: samples[k])), "mean of sample \(k) (step \(samples[k]))")
            #expect(Self.agree(covariance, batch.smoothed.covariance(at: samples[k]).elements), "covariance of sample \(k)")
            checked += 1
        }
        #expect(checked == samples.count - lag)
    }

    /// After a restart (`flush`, `reset`, a new filter) the next samples form a new sequence.
    @Test func aResetStartsANewSequence() throws {
        let p = RandomModels.make(n: 2, m: 2, seed: 501)
        let first = Self.rows(p, steps: 40, seed: 21), second = Self.rows(p, steps: 40, seed: 22)
        var smoother = FixedLagSmoother(lag: 4, stateDimension: 2)
        var filter = OnlineKalmanFilter(parameters: p)
        for row in first.prefix(12) {
            try filter.step(row)
            if let k = smoother.push(filter) { _ = Self.read(&smoother, k) }
        }
        let flushed = smoother.flush()
        #expect(flushed.count == 4)
        let head = try p.smooth(ObservationSequence(dimension: 2, rows: Array(first.prefix(12))))
        for (offset, k) in flushed.enumerated() {
            #expect(Self.agree(Self.read(&smoother, k).0, head.smoothed.mean(at: 8 + offset)))
        }
        smoother.reset()
        filter = OnlineKalmanFilter(parameters: p)
        for (t, row) in second.enumerated() {
            try filter.step(row)
            guard let k = smoother.push(filter) else { continue }
            let batch = try p.smooth(ObservationSequence(dimension: 2, rows: Array(second[0...t])))
            #expect(Self.agree(Self.read(&smoother, k).0, batch.smoothed.mean(at: k - 12)), "sample \(k) of the second sequence")
        }
    }

    /// The batch form (`gazefit fixed-lag`): every step's estimate, the last N given the whole
    /// sequence; lag 0 is the filter, a lag past the end the full smoother.
    @Test func theBatchFormIsTheSameEstimates() throws {
        let p = RandomModels.make(n: 4, m: 2, seed: 601)
        let rows = Self.rows(p, steps: 36, seed: 31)
        let sequence = ObservationSequence(dimension: 2, rows: rows)
        let full = try p.smooth(sequence)
        for lag in [0, 3, 100] {
            let result = try p.fixedLagSmooth(sequence, lag: lag)
            #expect(isClose(result.logLikelihood, full.filter.logLikelihood, relative: 1e-12, absolute: 1e-12))
            for t in 0..<rows.count {
                let cut = min(t + lag, rows.count - 1)
                let truncated = try p.smooth(ObservationSequence(dimension: 2, rows: Array(rows[0...cut])))
                #expect(Self.agree(result.estimates.mean(at: t), truncated.smoothed.mean(at: t)), "lag \(lag), step \(t)")
                #expect(Self.agree(result.estimates.covariance(at: t).elements, truncated.smoothed.covariance(at: t).elements))
            }
        }
        #expect(try p.fixedLagSmooth(sequence, lag: 0).estimates == full.filter.filtered)
    }

    /// Under every start rule, with bridged steps: a diffuse start's unidentified first samples
    /// take the information-form link, the course's rule links nothing before its first sample.
    @Test(arguments: [(StartRule.diffuse, 2, 2, 3), (.diffuse, 4, 2, 5), (.firstSample, 2, 2, 2), (.firstSample, 4, 2, 4), (.parameters, 4, 2, 3)])
    func everyStartRuleIsTheBatchSmoothers(_ shape: (StartRule, Int, Int, Int)) throws {
        let (start, n, m, lag) = shape
        var p = RandomModels.make(n: n, m: m, seed: UInt64(800 + n))
        p.transitionOffset = (0..<n).map { Double($0) - 0.5 }
        let rows = Self.rows(p, steps: 40, seed: 41)
        let bridged: Set<Int> = [2, 12, 13, 25]
        let samples = (0..<rows.count).filter { !bridged.contains($0) }
        var modelRows = rows
        for t in bridged { modelRows[t] = nil }
        var filter = OnlineKalmanFilter(parameters: p, start: start)
        var smoother = FixedLagSmoother(lag: lag, stateDimension: n)
        var checked = 0
        for t in 0..<rows.count {
            if bridged.contains(t) {
                filter.predictOnly()
                smoother.bridge(filter)
                continue
            }
            try filter.step(rows[t])
            guard let k = smoother.push(filter) else { continue }
            let (mean, covariance) = Self.read(&smoother, k)
            let batch = try p.smooth(ObservationSequence(dimension: m, rows: Array(modelRows[0...t])), start: start)
            #expect(Self.agree(mean, batch.smoothed.mean(at: samples[k])), "\(start): mean of sample \(k) (step \(samples[k]))")
            #expect(Self.agree(covariance, batch.smoothed.covariance(at: samples[k]).elements), "\(start): covariance of sample \(k)")
            checked += 1
        }
        let full = try p.smooth(ObservationSequence(dimension: m, rows: modelRows), start: start)
        for k in smoother.flush() {
            #expect(Self.agree(Self.read(&smoother, k).0, full.smoothed.mean(at: samples[k])), "\(start): flushed sample \(k)")
        }
        #expect(checked == samples.count - lag)
    }
}
