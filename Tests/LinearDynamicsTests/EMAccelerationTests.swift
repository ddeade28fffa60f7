import LinearDynamics
import Testing
import _TestSupport

/// EM that converges, fast (issue 8): SQUAREM lands where plain EM run long lands and never
/// lowers the likelihood; the fit scores like the true model on fresh data; the steady-state
/// saving and the threads change nothing beyond rounding; "converged" means converged.
@Suite struct EMAccelerationTests {
    static let gaze = ModelParameters(
        transition: .identity(2), transitionCovariance: Matrix(nestedRows: [[4, 1], [1, 4]])!, observation: .identity(2),
        observationCovariance: Matrix(nestedRows: [[50, 10], [10, 60]])!, initialMean: [960, 540], initialCovariance: Matrix(rows: 2, columns: 2))
    static let velocity = ModelParameters(
        transition: Matrix(nestedRows: [[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 0.8, 0], [0, 0, 0, 0.8]])!,
        transitionCovariance: Matrix(nestedRows: [[1, 0.2, 0, 0], [0.2, 1, 0, 0], [0, 0, 2, 0.5], [0, 0, 0.5, 2]])!,
        observation: Matrix(nestedRows: [[1, 0, 0, 0], [0, 1, 0, 0]])!,
        observationCovariance: Matrix(nestedRows: [[20, 4], [4, 25]])!, initialMean: [960, 540, 0, 0], initialCovariance: Matrix(rows: 4, columns: 4))

    /// Trials from `truth`, each starting at a random point of a 1920×1080 screen, with masked runs.
    static func trials(_ truth: ModelParameters, count: Int, steps: Int, seed: UInt64) -> [ObservationSequence] {
        var generator = SeededGenerator(seed: seed)
        var model = truth
        return (0..<count).map { _ in
            model.initialMean[0] = 1920 * generator.nextUniform()
            model.initialMean[1] = 1080 * generator.nextUniform()
            let sampled = model.sample(steps: steps, using: &generator).observations
            var sequence = ObservationSequence(dimension: 2)
            var masked = 0
            for t in 0..<steps {
                if masked == 0 && generator.nextUniform() < 0.01 { masked = 8 }
                if masked > 0 { masked -= 1; sequence.appendMasked() } else { sequence.append(sampled[t]) }
            }
            return sequence
        }
    }

    static func perturbed(_ truth: ModelParameters) -> ModelParameters {
        var start = truth
        let n = truth.stateDimension
        start.transitionCovariance = 3 * Matrix.identity(n)
        start.observationCovariance = .diagonal([10, 10])
        if n == 4 { start.transition[2, 2] = 0.5; start.transition[3, 3] = 0.5 }
        return start
    }

    static func isMonotone(_ curve: [Double]) -> Bool {
        zip(curve, curve.dropFirst()).allSatisfy { $1 >= $0 - 1e-9 * abs($0) }
    }

    static func score(_ p: ModelParameters, _ data: [ObservationSequence]) throws -> Double {
        let observed = Double(data.reduce(0) { $0 + $1.count - $1.maskedCount })
        return try data.reduce(0.0) { $0 + (try p.logLikelihood(of: $1, start: .diffuse)) } / observed
    }

    /// n = 2: SQUAREM and plain EM run long land on the same maximum.
    @Test func squaremReachesPlainEMsMaximum() throws {
        let training = Self.trials(Self.gaze, count: 40, steps: 500, seed: 1)
        let start = Self.perturbed(Self.gaze)
        let fitting: FittedParameters = [.transition, .transitionCovariance, .observationCovariance]
        let fast = try start.fitEM(to: training, configuration: EMConfiguration(
            fitting: fitting, maximumIterations: 500, tolerancePerSample: 1e-9, start: .diffuse, acceleration: .squarem))
        let long = try start.fitEM(to: training, configuration: EMConfiguration(
            fitting: fitting, maximumIterations: 3000, tolerancePerSample: 1e-10, start: .diffuse, acceleration: .none))
        #expect(fast.converged && long.converged, "\(fast.iterations), \(long.iterations)")
        #expect(Self.isMonotone(fast.logLikelihoods) && Self.isMonotone(long.logLikelihoods))
        #expect(abs(fast.logLikelihoods.last! - long.logLikelihoods.last!) / Double(fast.observedSteps) < 1e-6,
                "SQUAREM \(fast.logLikelihoodPerSample) vs plain \(long.logLikelihoodPerSample) after \(long.iterations)")
        #expect(fast.evaluations * 3 < long.evaluations, "\(fast.evaluations) E-steps against plain's \(long.evaluations)")
        let rescored = try training.reduce(0.0) { $0 + (try fast.parameters.logLikelihood(of: $1, start: .diffuse)) }
        #expect(abs(rescored - fast.logLikelihoods.last!) <= 1e-9 * abs(rescored))
        let fresh = Self.trials(Self.gaze, count: 40, steps: 500, seed: 2)
        let (fitted, true_) = (try Self.score(fast.parameters, fresh), try Self.score(Self.gaze, fresh))
        #expect(abs(fitted - true_) < 0.002, "fitted \(fitted), true \(true_) nats/sample")
    }

    /// n = 4 with velocity: Q's 10 entries make a long, flat ridge that plain EM climbs for
    /// thousands of iterations; SQUAREM reaches the maximum found from the true parameters,
    /// stays at least as high as plain EM run long, and never lowers the likelihood.
    @Test func squaremClimbsTheVelocityModelsRidge() throws {
        let truth = Self.velocity
        let training = Self.trials(truth, count: 40, steps: 500, seed: 1)
        var start = truth
        start.transitionCovariance = 2 * truth.transitionCovariance
        start.observationCovariance = 0.6 * truth.observationCovariance
        let fitting: FittedParameters = [.transitionCovariance, .observationCovariance]
        let configuration = EMConfiguration(fitting: fitting, maximumIterations: 1000, tolerancePerSample: 1e-10, start: .diffuse, acceleration: .squarem)
        let fast = try start.fitEM(to: training, configuration: configuration)
        let best = try truth.fitEM(to: training, configuration: configuration)
        let long = try start.fitEM(to: training, configuration: EMConfiguration(
            fitting: fitting, maximumIterations: 400, start: .diffuse, acceleration: .none))
        #expect(Self.isMonotone(fast.logLikelihoods) && Self.isMonotone(long.logLikelihoods))
        let samples = Double(fast.observedSteps)
        #expect(abs(fast.logLikelihoods.last! - best.logLikelihoods.last!) / samples < 1e-6,
                "SQUAREM \(fast.logLikelihoodPerSample) vs from the truth \(best.logLikelihoodPerSample)")
        #expect(fast.logLikelihoods.last! >= long.logLikelihoods.last! - 1e-9 * samples,
                "SQUAREM \(fast.logLikelihoodPerSample) after \(fast.evaluations) E-steps vs plain \(long.logLikelihoodPerSample) after \(long.evaluations)")
        let fresh = Self.trials(truth, count: 40, steps: 500, seed: 2)
        let (fitted, true_) = (try Self.score(fast.parameters, fresh), try Self.score(truth, fresh))
        #expect(abs(fitted - true_) < 0.002, "fitted \(fitted), true \(true_) nats/sample")
    }

    @Test func theSteadyStateSavingChangesNothingBeyondRounding() throws {
        for (truth, fitting) in [(Self.gaze, FittedParameters([.transition, .transitionCovariance, .observation, .observationCovariance])),
                                 (Self.velocity, FittedParameters([.transition, .transitionCovariance, .observationCovariance]))] {
            let data = Self.trials(truth, count: 6, steps: 400, seed: 3)
            let start = Self.perturbed(truth)
            for rule in StartRule.allCases {
                let saved = try start.fitEM(to: data, configuration: EMConfiguration(fitting: fitting, maximumIterations: 2, start: rule))
                let full = try start.fitEM(to: data, configuration: EMConfiguration(fitting: fitting, maximumIterations: 2, start: rule, reuseSteadyState: false))
                #expect(firstMismatch(saved.parameters, full.parameters, relative: 1e-11, absolute: 1e-11) == nil, "\(rule)")
                #expect(firstMismatch(saved.logLikelihoods, full.logLikelihoods, relative: 1e-12, absolute: 1e-9, label: "curve") == nil, "\(rule)")
            }
        }
    }

    @Test func threadsDoNotChangeTheResult() throws {
        let data = Self.trials(Self.gaze, count: 9, steps: 300, seed: 4)
        let configuration = { (workers: Int) in
            EMConfiguration(fitting: [.transitionCovariance, .observationCovariance], maximumIterations: 6, start: .diffuse,
                            acceleration: .squarem, workers: workers)
        }
        let one = try Self.gaze.fitEM(to: data, configuration: configuration(1))
        let two = try Self.gaze.fitEM(to: data, configuration: configuration(2))
        let five = try Self.gaze.fitEM(to: data, configuration: configuration(5))
        #expect(one == two && two == five)
    }

    /// The batch smoother and the E-step's sums agree: one plain M-step against MODEL.md's
    /// formulas over the public smoother's output, with a diffuse start.
    @Test func oneDiffuseMStepIsMODELmdsFormulas() throws {
        let truth = Self.velocity
        let data = Self.trials(truth, count: 3, steps: 60, seed: 5)
        let fit = try truth.fitEM(to: data, configuration: EMConfiguration(
            fitting: [.transition, .transitionCovariance, .observationCovariance], maximumIterations: 1, start: .diffuse))
        let n = 4
        let smoothed = try data.map { try truth.smooth($0, start: .diffuse) }
        func outer(_ a: [Double], _ b: [Double]) -> Matrix { Matrix(rows: a.count, columns: b.count, elements: a.flatMap { x in b.map { x * $0 } }) }
        var cross = Matrix(rows: n, columns: n), previous = Matrix(rows: n, columns: n), transitions = 0.0
        var residual = Matrix(rows: 2, columns: 2), observed = 0.0
        for (sequence, s) in zip(data, smoothed) {
            for t in 0..<sequence.count {
                if let y = sequence[t] {
                    let e = zip(y, truth.observation * s.smoothed.mean(at: t)).map(-)
                    residual = residual + outer(e, e) + truth.observation * s.smoothed.covariance(at: t) * truth.observation.transposed
                    observed += 1
                }
                guard t > 0 else { continue }
                cross = cross + s.lagOneCovariance(at: t) + outer(s.smoothed.mean(at: t), s.smoothed.mean(at: t - 1))
                previous = previous + s.smoothed.covariance(at: t - 1) + outer(s.smoothed.mean(at: t - 1), s.smoothed.mean(at: t - 1))
                transitions += 1
            }
        }
        let d = cross * SymmetricEigen(previous).pseudoInverse
        #expect(firstMismatch(fit.parameters.transition.elements, d.elements, relative: 1e-7, absolute: 1e-9, label: "D") == nil)
        var q = Matrix(rows: n, columns: n)
        for s in smoothed {
            for t in 0..<(s.smoothed.count - 1) {
                let error = zip(s.smoothed.mean(at: t + 1), d * s.smoothed.mean(at: t)).map(-)
                let v = s.lagOneCovariance(at: t + 1)
                q = q + outer(error, error) + d * s.smoothed.covariance(at: t) * d.transposed + s.smoothed.covariance(at: t + 1)
                    - v * d.transposed - d * v.transposed
            }
        }
        #expect(firstMismatch(fit.parameters.transitionCovariance.elements, ((1 / transitions) * q).elements,
                              relative: 1e-7, absolute: 1e-9, label: "Q") == nil)
        #expect(firstMismatch(fit.parameters.observationCovariance.elements, ((1 / observed) * residual).elements,
                              relative: 1e-9, absolute: 1e-9, label: "R") == nil)
        #expect(abs(fit.logLikelihoods[0] - smoothed.reduce(0) { $0 + $1.filter.logLikelihood }) < 1e-9 * abs(fit.logLikelihoods[0]))
    }

    @Test func convergedMeansNearTheMaximum() throws {
        // Plain EM stopped by the per-sample rule is within the tolerance's reach of the maximum
        // found by running far longer, and an iteration cap that comes first says "not converged".
        let data = Self.trials(Self.gaze, count: 20, steps: 400, seed: 6)
        let start = Self.perturbed(Self.gaze)
        let fitting: FittedParameters = [.transitionCovariance, .observationCovariance]
        let stopped = try start.fitEM(to: data, configuration: EMConfiguration(fitting: fitting, maximumIterations: 5000, tolerancePerSample: 1e-6, start: .diffuse))
        let long = try start.fitEM(to: data, configuration: EMConfiguration(fitting: fitting, maximumIterations: 5000, tolerancePerSample: 1e-11, start: .diffuse))
        #expect(stopped.converged && long.converged)
        #expect((long.logLikelihoods.last! - stopped.logLikelihoods.last!) / Double(stopped.observedSteps) < 1e-5)
        let capped = try start.fitEM(to: data, configuration: EMConfiguration(fitting: fitting, maximumIterations: 3, tolerancePerSample: 1e-9, start: .diffuse))
        #expect(!capped.converged && capped.iterations == 3)
    }

    @Test func badSettingsAreClearErrors() {
        let data = [ObservationSequence(dimension: 2, rows: [[1, 2], [3, 4]])]
        for (configuration, words) in [
            (EMConfiguration(fitting: [.transitionCovariance], maximumIterations: 3, tolerancePerSample: 0), "tolerance per sample must be a positive number"),
            (EMConfiguration(fitting: [.transitionCovariance], maximumIterations: 3, workers: 0), "workers must be at least 1"),
            (EMConfiguration(fitting: [.initialMean], maximumIterations: 3, start: .firstSample), "mu_0 cannot be fitted with the first-sample start rule"),
        ] {
            do {
                _ = try Self.gaze.fitEM(to: data, configuration: configuration)
                Issue.record("accepted: \(words)")
            } catch {
                #expect("\(error)".contains(words), "\(error)")
            }
        }
    }
}
