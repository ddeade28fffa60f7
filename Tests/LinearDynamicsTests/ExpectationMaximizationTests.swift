import LinearDynamics
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

    @Test func sequenceBoundaryIsNotATransition() throws {
        // Two halves fitted as separate sequences differ from the joined sequence: the join
        // would add one transition that is not in the data.
        let start = RandomModels.make(n: 2, m: 2, seed: 51)
        let data = Self.sampled(RandomModels.make(n: 2, m: 2, seed: 50), steps: 100, seed: 5)
        let configuration = EMConfiguration(fitting: [.transition, .transitionCovariance], maximumIterations: 1)
        let joined = try start.fitEM(to: [data], configuration: configuration)
        let split = try start.fitEM(to: [data.slice(0..<50), data.slice(50..<100)], configuration: configuration)
        #expect(joined.parameters.transition != split.parameters.transition)
        #expect(split.logLikelihoods.count == 2)
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
