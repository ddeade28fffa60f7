import LinearDynamics
import Testing
import _TestSupport

@Suite struct SamplingTests {
    @Test func sameSeedSameData() {
        let p = RandomModels.make(n: 4, m: 2, seed: 1)
        var a = SeededGenerator(seed: 123), b = SeededGenerator(seed: 123), c = SeededGenerator(seed: 124)
        let first = p.sample(steps: 100, using: &a), second = p.sample(steps: 100, using: &b), third = p.sample(steps: 100, using: &c)
        #expect(first.observations == second.observations && first.states == second.states)
        #expect(first.observations != third.observations)
    }

    @Test func observationNoiseHasTheModelsCovariance() throws {
        // With D = I, Q = 0 and sigma_0 = 0 the state is constant, so observations are
        // H·mu_0 + noise with covariance R: their sample covariance must approach R.
        let r = Matrix(nestedRows: [[4, 1.5], [1.5, 2]])!
        let p = ModelParameters(transition: .identity(2), transitionCovariance: Matrix(rows: 2, columns: 2),
                                observation: Matrix(nestedRows: [[1, 0], [0.5, 1]])!, observationCovariance: r,
                                initialMean: [10, -3], initialCovariance: Matrix(rows: 2, columns: 2))
        try p.validate()
        var generator = SeededGenerator(seed: 2024)
        let sample = p.sample(steps: 50_000, using: &generator).observations
        let expectedMean = p.observation * p.initialMean
        var mean = [0.0, 0.0], covariance = Matrix(rows: 2, columns: 2)
        for t in 0..<sample.count { for i in 0..<2 { mean[i] += sample[t]![i] / Double(sample.count) } }
        for t in 0..<sample.count {
            let y = sample[t]!
            for i in 0..<2 { for j in 0..<2 { covariance[i, j] += (y[i] - mean[i]) * (y[j] - mean[j]) / Double(sample.count) } }
        }
        for i in 0..<2 { #expect(abs(mean[i] - expectedMean[i]) < 0.05) }
        for (estimate, truth) in zip(covariance.elements, r.elements) { #expect(abs(estimate - truth) < 0.1) }
    }

    @Test func uniformDrawsCoverTheUnitInterval() {
        var generator = SeededGenerator(seed: 7)
        var low = 0, high = 0
        for _ in 0..<10_000 {
            let u = generator.nextUniform()
            #expect(u >= 0 && u < 1)
            if u < 0.1 { low += 1 }
            if u >= 0.9 { high += 1 }
        }
        #expect((800...1200).contains(low) && (800...1200).contains(high))
    }
}
