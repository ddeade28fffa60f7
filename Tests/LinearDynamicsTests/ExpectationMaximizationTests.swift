import LinearDynamics
import GazeKit
import Testing
import _TestSupport

@Suite struct ExpectationMaximizationTests {
    static func sampled(_ p: ModelParameters, steps: Int, seed: UInt64) -> ObservationSequence {
        var generator = SeededGenerator(seed: seed)
        return p.sample(steps: steps, using: &generator).observations
    }

    static func isMonotone(_ curve: [Double]) -> Bool {
        zip(curve, curve.dropFirst()).allSatisfy { $1 >= $0 - 1e-9 * abs($0) }
    }

    @Test(arguments: [(2, 2), (4, 2), (2, 3), (1, 1), (3, 2)])
    func logLikelihoodNeverDecreases(_ shape: (Int, Int)) throws {
        let truth = RandomModels.make(n: shape.0, m: shape.1, seed: 21)
        let start = RandomModels.make(n: shape.0, m: shape.1, seed: 77)
        let data = Self.sampled(truth, steps: 400, seed: 9)
        let result = try start.fitEM(to: [data], configuration: EMConfiguration(fitting: .all, maximumIterations: 25))
        #expect(result.iterations == 25)
        #expect(Self.isMonotone(result.logLikelihoods), "\(result.logLikelihoods)")
        #expect(result.logLikelihoods.last! > result.logLikelihoods.first!)
        try result.parameters.validate()
    }

    @Test func multiSequenceLogLikelihoodIsTheSumAndNeverDecreases() throws {
        let truth = RandomModels.make(n: 4, m: 2, seed: 31)
        let start = RandomModels.make(n: 4, m: 2, seed: 32)
        let sequences = [Self.sampled(truth, steps: 150, seed: 1), Self.sampled(truth, steps: 90, seed: 2), Self.sampled(truth, steps: 1, seed: 3)]
        let result = try start.fitEM(to: sequences, configuration: EMConfiguration(fitting: [.transition, .transitionCovariance, .observation, .observationCovariance], maximumIterations: 12))
        let initialSum = try sequences.reduce(0) { $0 + (try start.logLikelihood(of: $1)) }
        let finalSum = try sequences.reduce(0) { $0 + (try result.parameters.logLikelihood(of: $1)) }
        #expect(abs(result.logLikelihoods.first! - initialSum) <= 1e-9 * abs(initialSum))
        #expect(abs(result.logLikelihoods.last! - finalSum) <= 1e-9 * abs(finalSum))
        #expect(Self.isMonotone(result.logLikelihoods))
    }

    @Test func oneSequenceTwiceFitsLikeOnce() throws {
        let start = RandomModels.make(n: 2, m: 2, seed: 41)
        let data = Self.sampled(RandomModels.make(n: 2, m: 2, seed: 40), steps: 200, seed: 4)
        let configuration = EMConfiguration(fitting: .all, maximumIterations: 8)
        let once = try start.fitEM(to: [data], configuration: configuration)
        let twice = try start.fitEM(to: [data, data], configuration: configuration)
        #expect(firstMismatch(twice.parameters, once.parameters, relative: 1e-9, absolute: 1e-12) == nil)
        for (a, b) in zip(twice.logLikelihoods, once.logLikelihoods) { #expect(abs(a - 2 * b) <= 1e-9 * abs(b)) }
    }

    static func outer(_ a: [Double], _ b: [Double]) -> Matrix {
        Matrix(rows: a.count, columns: b.count, elements: a.flatMap { x in b.map { x * $0 } })
    }

    /// D and Q of one M-step over several sequences, written out from MODEL.md with the
    /// public smoother: sums over each sequence's own transitions, Q normalised by Σ_k (T_k − 1).
    static func transitionUpdate(_ p: ModelParameters, _ sequences: [ObservationSequence]) throws -> (Matrix, Matrix) {
        let n = p.stateDimension
        let smoothed = try sequences.map { try p.smooth($0) }
        var cross = Matrix(rows: n, columns: n), previous = Matrix(rows: n, columns: n)
        var transitions = 0
        for s in smoothed {
            for t in 1..<s.smoothed.count {
                cross = cross + s.lagOneCovariance(at: t) + outer(s.smoothed.mean(at: t), s.smoothed.mean(at: t - 1))
                previous = previous + s.smoothed.covariance(at: t - 1) + outer(s.smoothed.mean(at: t - 1), s.smoothed.mean(at: t - 1))
                transitions += 1
            }
        }
        let d = cross * SymmetricEigen(previous).pseudoInverse
        var q = Matrix(rows: n, columns: n)
        for s in smoothed {
            for t in 0..<(s.smoothed.count - 1) {
                let error = zip(s.smoothed.mean(at: t + 1), d * s.smoothed.mean(at: t)).map { $0 - $1 }
                let v = s.lagOneCovariance(at: t + 1)
                q = q + outer(error, error) + d * s.smoothed.covariance(at: t) * d.transposed + s.smoothed.covariance(at: t + 1)
                    - v * d.transposed - d * v.transposed
            }
        }
        return (d, (1 / Double(transitions)) * q)
    }

    @Test func sequenceBoundaryIsNotATransition() throws {
        // Each sequence contributes only its own transitions, and Q is normalised by
        // Σ_k (T_k − 1): checked against MODEL.md's sums written out over the smoother's output.
        let start = RandomModels.make(n: 2, m: 2, seed: 51)
        let data = Self.sampled(RandomModels.make(n: 2, m: 2, seed: 50), steps: 100, seed: 5)
        let halves = [data.slice(0..<50), data.slice(50..<100)]
        let configuration = EMConfiguration(fitting: [.transition, .transitionCovariance], maximumIterations: 1)
        let split = try start.fitEM(to: halves, configuration: configuration)
        let (d, q) = try Self.transitionUpdate(start, halves)
        #expect(firstMismatch(split.parameters.transition.elements, d.elements, relative: 1e-9, absolute: 1e-12, label: "D") == nil)
        #expect(firstMismatch(split.parameters.transitionCovariance.elements, q.elements, relative: 1e-9, absolute: 1e-12, label: "Q") == nil)
        let joined = try start.fitEM(to: [data], configuration: configuration)
        #expect(joined.parameters.transition != split.parameters.transition)
        #expect(split.logLikelihoods.count == 2)
    }

    @Test func initialStateAveragesOverTheSequences() throws {
        // mu_0 = mean of the sequences' smoothed first states; sigma_0 averages their
        // covariances plus the spread around the new mu_0 (MODEL.md, several sequences).
        let start = RandomModels.make(n: 3, m: 2, seed: 52)
        let truth = RandomModels.make(n: 3, m: 2, seed: 53)
        let sequences = [Self.sampled(truth, steps: 40, seed: 1), Self.sampled(truth, steps: 25, seed: 2), Self.sampled(truth, steps: 60, seed: 3)]
        let fit = try start.fitEM(to: sequences, configuration: EMConfiguration(fitting: [.initialMean, .initialCovariance], maximumIterations: 1))
        let firsts = try sequences.map { try start.smooth($0).smoothed }
        let k = Double(sequences.count)
        let mean = (0..<3).map { i in firsts.reduce(0) { $0 + $1.mean(at: 0)[i] } / k }
        var covariance = Matrix(rows: 3, columns: 3)
        for first in firsts {
            let offset = zip(first.mean(at: 0), mean).map { $0 - $1 }
            covariance = covariance + first.covariance(at: 0) + Self.outer(offset, offset)
        }
        #expect(firstMismatch(fit.parameters.initialMean, mean, relative: 1e-9, absolute: 1e-12, label: "mu_0") == nil)
        #expect(firstMismatch(fit.parameters.initialCovariance.elements, ((1 / k) * covariance).elements,
                              relative: 1e-9, absolute: 1e-12, label: "sigma_0") == nil)
        #expect(fit.parameters.transition == start.transition && fit.parameters.observationCovariance == start.observationCovariance)
    }

    @Test func errorsNameTheSequenceAsGivenEmptyOnesIncluded() throws {
        // Sequence 2 (0-based, after an empty one) meets a singular S at its first step.
        var p = RandomModels.make(n: 2, m: 2, seed: 54)
        p.observationCovariance = Matrix(rows: 2, columns: 2)
        p.initialCovariance = Matrix(rows: 2, columns: 2)
        let empty = ObservationSequence(dimension: 2), masked = ObservationSequence(dimension: 2, rows: [nil, nil])
        let observed = ObservationSequence(dimension: 2, rows: [[1, 2], [3, 4]])
        #expect(throws: EMError.filter(iteration: 0, sequence: 2, .singularInnovationCovariance(step: 0))) {
            try p.fitEM(to: [empty, masked, observed], configuration: EMConfiguration(fitting: [.observationCovariance], maximumIterations: 2))
        }
    }

    @Test func aFitLosingPrecisionStopsWithTheBestParameters() throws {
        // Gaze 10 million pixels from the origin: Σ μμᵀ swamps the state covariance, the
        // M-step's D loses precision and can lower the likelihood. Whatever happens, the curve
        // never falls and the parameters returned score its last value.
        var start = try ParameterFile.read(packageRoot + "/config/params/simulate-gaze.json").parameters
        start.initialMean = [1e7, 2e7]
        let data = Self.sampled(start, steps: 3000, seed: 3)
        let result = try start.fitEM(to: [data], configuration: EMConfiguration(fitting: [.transition, .transitionCovariance], maximumIterations: 10))
        #expect(Self.isMonotone(result.logLikelihoods), "\(result.logLikelihoods)")
        let score = try result.parameters.logLikelihood(of: data)
        #expect(abs(score - result.logLikelihoods.last!) <= 1e-9 * abs(score))
        #expect((result.decreasedAt == nil) == (result.iterations == 10), "\(String(describing: result.decreasedAt)) after \(result.iterations)")
    }

    @Test func toleranceStopsEarly() throws {
        let start = RandomModels.make(n: 2, m: 2, seed: 61)
        let data = Self.sampled(start, steps: 300, seed: 6)
        let result = try start.fitEM(to: [data], configuration: EMConfiguration(fitting: [.observationCovariance], maximumIterations: 500, tolerance: 1e-3))
        #expect(result.converged)
        #expect(result.iterations < 500)
        let last = result.logLikelihoods.suffix(2)
        #expect(last.last! - last.first! < 1e-3)
    }

    @Test func allMaskedDataKeepsObservationParameters() throws {
        let start = RandomModels.make(n: 2, m: 2, seed: 71)
        let data = ObservationSequence(dimension: 2, rows: Array(repeating: nil, count: 20))
        let result = try start.fitEM(to: [data], configuration: EMConfiguration(fitting: [.observation, .observationCovariance], maximumIterations: 3))
        #expect(result.parameters.observation == start.observation)
        #expect(result.parameters.observationCovariance == start.observationCovariance)
        #expect(result.logLikelihoods == [0, 0, 0, 0])
    }

    @Test func zeroIterationsReportsTheStartingLikelihood() throws {
        let start = RandomModels.make(n: 2, m: 2, seed: 81)
        let data = Self.sampled(start, steps: 30, seed: 8)
        let result = try start.fitEM(to: [data], configuration: EMConfiguration(fitting: .all, maximumIterations: 0))
        let initial = try start.logLikelihood(of: data)
        #expect(result.parameters == start && result.logLikelihoods == [initial])
    }

    @Test func noDataIsAnError() {
        #expect(throws: EMError.noData) {
            try RandomModels.make(n: 2, m: 2, seed: 1).fitEM(to: [], configuration: EMConfiguration(fitting: .all, maximumIterations: 1))
        }
    }
}
