import LinearDynamics
import Testing
import _TestSupport

/// EM with partly observed steps and offsets (MODEL.md, "Missing components" and "EM for b and
/// d"): the M-step treats the missing components as part of the complete data, so the likelihood
/// never falls, each update is a stationary point of the likelihood of exactly the observed
/// components in its own parameter, and on data drawn from a known model the fit predicts fresh
/// data as well as that model; the steady-state saving, the threads and per-step offsets cut
/// with the sequence change nothing.
@Suite struct MissingComponentEMTests {
    /// `steps` steps drawn from `p` with each component missing with probability `missing`, and a
    /// few whole steps masked.
    static func data(_ p: ModelParameters, steps: Int, missing: Double, seed: UInt64) -> ObservationSequence {
        var generator = SeededGenerator(seed: seed)
        let sampled = p.sample(steps: steps, using: &generator).observations
        var loss = SeededGenerator(seed: seed &+ 1)
        return ObservationSequence(dimension: p.observationDimension, rows: (0..<steps).map { t in
            if t % 37 == 5 { return nil }
            return sampled[t]!.map { loss.nextUniform() < missing ? .nan : $0 }
        })
    }

    /// A model of three observed components of a two-dimensional state, with offsets b and d.
    static func truth() -> ModelParameters {
        var p = RandomModels.make(n: 2, m: 3, seed: 901)
        p.observationOffset = [5, -3, 2]
        p.transitionOffset = [0.5, -0.25]
        return p
    }

    /// Parameters EM starts from: H, R, b and d away from the truth.
    static func start(_ p: ModelParameters) -> ModelParameters {
        var start = p
        start.observation = p.observation + Matrix(rows: 3, columns: 2, repeating: 0.3)
        start.observationCovariance = 2 * Matrix.identity(3)
        start.observationOffset = [0, 0, 0]
        start.transitionOffset = [0, 0]
        return start
    }

    /// Both eyes of one gaze point (m = 4, H = [I; I]), each eye with its own noise; trials start
    /// anywhere on a 1920×1080 screen, one eye is lost for stretches, the other for others, both
    /// now and then.
    static let binocular = ModelParameters(
        transition: .identity(2), transitionCovariance: Matrix(nestedRows: [[4, 1], [1, 4]])!,
        observation: Matrix(nestedRows: [[1, 0], [0, 1], [1, 0], [0, 1]])!,
        observationCovariance: Matrix(nestedRows: [[40, 8, 10, 0], [8, 50, 0, 10], [10, 0, 60, 5], [0, 10, 5, 45]])!,
        initialMean: [960, 540], initialCovariance: Matrix(rows: 2, columns: 2))

    static func binocularTrials(count: Int, steps: Int, seed: UInt64) -> [ObservationSequence] {
        var generator = SeededGenerator(seed: seed)
        var model = binocular
        return (0..<count).map { _ in
            model.initialMean = [1920 * generator.nextUniform(), 1080 * generator.nextUniform()]
            let sampled = model.sample(steps: steps, using: &generator).observations
            var sequence = ObservationSequence(dimension: 4)
            var lost = 0, eyes = [false, false]
            for t in 0..<steps {
                if lost == 0 && generator.nextUniform() < 0.02 {
                    lost = 5 + Int(generator.nextUniform() * 20)
                    let which = generator.nextUniform()
                    eyes = [which < 0.45 || which > 0.9, which >= 0.45]
                }
                var row = sampled[t]!
                if lost > 0 {
                    lost -= 1
                    if eyes[0] { row[0] = .nan; row[1] = .nan }
                    if eyes[1] { row[2] = .nan; row[3] = .nan }
                }
                sequence.append(row)
            }
            return sequence
        }
    }

    static func isMonotone(_ curve: [Double]) -> Bool {
        zip(curve, curve.dropFirst()).allSatisfy { $1 >= $0 - 1e-9 * abs($0) }
    }

    @Test func theLikelihoodNeverFalls() throws {
        let p = Self.truth()
        let sequence = Self.data(p, steps: 300, missing: 0.3, seed: 11)
        #expect(sequence.partialCount > 50)
        let result = try Self.start(p).fitEM(to: [sequence], configuration: EMConfiguration(
            fitting: [.observation, .observationCovariance, .observationOffset, .transition, .transitionCovariance, .transitionOffset],
            maximumIterations: 25))
        #expect(result.decreasedAt == nil)
        #expect(result.iterations == 25)
        #expect(Self.isMonotone(result.logLikelihoods), "\(result.logLikelihoods)")
    }

    /// Each M-step update against Fisher's identity: the log-likelihood's gradient at the E-step's
    /// parameters equals the expected complete-data log-likelihood's, which the update of one
    /// parameter alone turns into ∂ℓ/∂R = ½|O| R⁻¹ (R_new − R) R⁻¹, ∂ℓ/∂d = |O| R⁻¹ (d_new − d),
    /// ∂ℓ/∂H = R⁻¹ (H_new − H) Σ_{t∈O} P_t and ∂ℓ/∂b = (T−1) Q⁻¹ (b_new − b). The left sides by
    /// central differences of the filter's log-likelihood of exactly the observed components:
    /// any error in E[y_t | data], in the missing components' covariances or in the offsets'
    /// sums shows here.
    @Test func eachUpdateMatchesTheLikelihoodGradient() throws {
        let p = Self.start(Self.truth())
        let sequence = Self.data(Self.truth(), steps: 200, missing: 0.35, seed: 12)
        let observed = Double((0..<sequence.count).filter { !sequence.mask[$0] }.count)
        func updated(_ fitting: FittedParameters) throws -> ModelParameters {
            try p.fitEM(to: [sequence], configuration: EMConfiguration(fitting: fitting, maximumIterations: 1)).parameters
        }
        func derivative(_ change: (inout ModelParameters, Double) -> Void) throws -> Double {
            let step = 1e-6
            var plus = p, minus = p
            change(&plus, step)
            change(&minus, -step)
            return (try plus.logLikelihood(of: sequence) - minus.logLikelihood(of: sequence)) / (2 * step)
        }
        func agree(_ numeric: Double, _ analytic: Double, _ label: String) {
            #expect(abs(numeric - analytic) <= 1e-5 * max(1, abs(analytic)), "\(label): numeric \(numeric), from the update \(analytic)")
        }
        let inverseR = NaiveKalman.inverse(p.observationCovariance)
        // R
        let rGradient = (0.5 * observed) * (inverseR * (try updated(.observationCovariance).observationCovariance - p.observationCovariance) * inverseR)
        for i in 0..<3 {
            for j in i..<3 {
                let numeric = try derivative { q, h in q.observationCovariance[i, j] += h; if i != j { q.observationCovariance[j, i] += h } }
                agree(numeric, i == j ? rGradient[i, j] : 2 * rGradient[i, j], "∂ℓ/∂R[\(i),\(j)]")
            }
        }
        // d
        let dNew = try updated(.observationOffset).observationOffset
        let dGradient = inverseR * zip(dNew, p.observationOffset).map { observed * ($0 - $1) }
        for i in 0..<3 { agree(try derivative { $0.observationOffset[i] += $1 }, dGradient[i], "∂ℓ/∂d[\(i)]") }
        // b
        let bNew = try updated(.transitionOffset).transitionOffset
        let bGradient = NaiveKalman.inverse(p.transitionCovariance) * zip(bNew, p.transitionOffset).map { Double(sequence.count - 1) * ($0 - $1) }
        for i in 0..<2 { agree(try derivative { $0.transitionOffset[i] += $1 }, bGradient[i], "∂ℓ/∂b[\(i)]") }
        // H
        let smoothed = try p.smooth(sequence)
        var moment = Matrix(rows: 2, columns: 2)
        for t in 0..<sequence.count where !sequence.mask[t] {
            let mean = smoothed.smoothed.mean(at: t)
            moment = moment + smoothed.smoothed.covariance(at: t) + Matrix(rows: 2, columns: 2, elements: [
                mean[0] * mean[0], mean[0] * mean[1], mean[1] * mean[0], mean[1] * mean[1]])
        }
        let hGradient = inverseR * (try updated(.observation).observation - p.observation) * moment
        for i in 0..<3 { for j in 0..<2 { agree(try derivative { $0.observation[i, j] += $1 }, hGradient[i, j], "∂ℓ/∂H[\(i),\(j)]") } }
    }

    /// Fitted from a wrong start on data with a third of the components missing, the model
    /// scores fresh data (also partly observed) as well as the true model does. (b is left out:
    /// with d and H free, b and d trade along a ridge that a state shift leaves flat.)
    @Test func theFitPredictsFreshDataLikeTheTruth() throws {
        let p = Self.truth()
        let training = (0..<3).map { Self.data(p, steps: 2000, missing: 0.3, seed: 13 + 100 * $0) }
        let fresh = Self.data(p, steps: 2000, missing: 0.3, seed: 14)
        let fitted = try Self.start(p).fitEM(to: training, configuration: EMConfiguration(
            fitting: [.observation, .observationCovariance, .observationOffset, .transitionCovariance],
            maximumIterations: 500, tolerancePerSample: 1e-8, acceleration: .squarem))
        #expect(fitted.converged && Self.isMonotone(fitted.logLikelihoods))
        let observed = Double((0..<fresh.count).filter { !fresh.mask[$0] }.count)
        let gap = (try p.logLikelihood(of: fresh) - fitted.parameters.logLikelihood(of: fresh)) / observed
        #expect(abs(gap) < 0.005, "true model ahead of the fit by \(gap) nats per observed step")
        #expect(try Self.start(p).logLikelihood(of: fresh) / observed < fitted.parameters.logLikelihood(of: fresh) / observed - 0.1)
    }

    /// Binocular gaze with one eye lost at a time (the refit's case: diffuse start, SQUAREM, many
    /// trials): the fit lands on the true model's likelihood on fresh trials, and learns R's
    /// cross-eye terms, which only steps with both eyes and the missing components' moments carry.
    @Test func binocularTrialsFitToTheTruth() throws {
        let truth = Self.binocular
        let training = Self.binocularTrials(count: 40, steps: 500, seed: 21)
        #expect(training.reduce(0) { $0 + $1.partialCount } > 2000)
        var start = truth
        start.transitionCovariance = 3 * Matrix.identity(2)
        start.observationCovariance = .diagonal([10, 10, 10, 10])
        let result = try start.fitEM(to: training, configuration: EMConfiguration(
            fitting: [.transition, .transitionCovariance, .observationCovariance], maximumIterations: 500,
            tolerancePerSample: 1e-8, start: .diffuse, acceleration: .squarem))
        #expect(result.converged && Self.isMonotone(result.logLikelihoods))
        let fresh = Self.binocularTrials(count: 40, steps: 500, seed: 22)
        func score(_ p: ModelParameters) throws -> Double {
            let observed = Double(fresh.reduce(0) { $0 + $1.count - $1.maskedCount })
            return try fresh.reduce(0.0) { $0 + (try p.logLikelihood(of: $1, start: .diffuse)) } / observed
        }
        let (fitted, true_) = (try score(result.parameters), try score(truth))
        #expect(abs(fitted - true_) < 0.003, "fitted \(fitted), true \(true_) nats/sample")
        #expect(abs(result.parameters.observationCovariance[0, 2] - 10) < 4, "R_lx,rx \(result.parameters.observationCovariance[0, 2])")
    }

    /// With partly observed steps and offsets, the steady-state saving changes nothing beyond
    /// rounding and the threads change no bit.
    @Test func theSavingAndTheThreadsChangeNothing() throws {
        var truth = Self.binocular
        truth.transitionOffset = [3, -2]
        truth.observationOffset = [4, -4, -4, 4]
        let data = Self.binocularTrials(count: 7, steps: 400, seed: 23).map { sequence in
            var shifted = ObservationSequence(dimension: 4)
            for t in 0..<sequence.count { shifted.append(sequence[t].map { zip($0, truth.observationOffset).map(+) }) }
            return shifted
        }
        var start = truth
        start.observationCovariance = .diagonal([10, 10, 10, 10])
        let fitting: FittedParameters = [.transition, .transitionCovariance, .observation, .observationCovariance, .transitionOffset, .observationOffset]
        for rule in StartRule.allCases {
            let saved = try start.fitEM(to: data, configuration: EMConfiguration(fitting: fitting, maximumIterations: 3, start: rule))
            let full = try start.fitEM(to: data, configuration: EMConfiguration(fitting: fitting, maximumIterations: 3, start: rule, reuseSteadyState: false))
            #expect(firstMismatch(saved.parameters, full.parameters, relative: 1e-10, absolute: 1e-10) == nil, "\(rule)")
            #expect(firstMismatch(saved.logLikelihoods, full.logLikelihoods, relative: 1e-12, absolute: 1e-9, label: "curve") == nil, "\(rule)")
        }
        let configuration = { (workers: Int) in
            EMConfiguration(fitting: fitting, maximumIterations: 4, start: .diffuse, acceleration: .squarem, workers: workers)
        }
        let one = try start.fitEM(to: data, configuration: configuration(1))
        let two = try start.fitEM(to: data, configuration: configuration(2))
        let five = try start.fitEM(to: data, configuration: configuration(5))
        #expect(one == two && two == five)
    }

    /// Per-step transition offsets follow the sequence when EM cuts its masked start: fitting a
    /// sequence that starts with masked steps equals fitting it cut by hand with its offsets' rows.
    @Test func perStepOffsetsStayAlignedWhenTheStartIsCut() throws {
        let p = RandomModels.make(n: 2, m: 2, seed: 31)
        let steps = 300, cut = 7
        var generator = SeededGenerator(seed: 32)
        let rows = (0..<(steps - 1)).flatMap { t in [Double(t % 13) - 6, generator.nextStandardNormal()] }
        var truth = p
        truth.transitionOffsets = Matrix(rows: steps - 1, columns: 2, elements: rows)
        let sampled = truth.sample(steps: steps, using: &generator).observations
        let sequence = ObservationSequence(dimension: 2, rows: (0..<steps).map { $0 < cut ? nil : sampled[$0] })
        let whole = ObservationSequence(dimension: 2, rows: (cut..<steps).map { sampled[$0] })
        var cutModel = truth
        cutModel.transitionOffsets = Matrix(rows: steps - 1 - cut, columns: 2, elements: Array(rows[(cut * 2)...]))
        for rule in [StartRule.diffuse, .firstSample] {
            let configuration = EMConfiguration(fitting: [.transition, .transitionCovariance, .observationCovariance], maximumIterations: 3, start: rule)
            let fromMasked = try truth.fitEM(to: [sequence], configuration: configuration)
            let fromCut = try cutModel.fitEM(to: [whole], configuration: configuration)
            #expect(firstMismatch(fromMasked.parameters.transition.elements, fromCut.parameters.transition.elements, relative: 1e-12, absolute: 1e-12, label: "D") == nil, "\(rule)")
            #expect(firstMismatch(fromMasked.logLikelihoods, fromCut.logLikelihoods, relative: 1e-12, absolute: 1e-9, label: "curve") == nil, "\(rule)")
        }
    }

    /// SQUAREM fitting b from per-step offsets ends with one constant b, monotone; too few
    /// per-step offsets for a sequence is a clear error, not a crash.
    @Test func perStepOffsetsBecomeOneFittedB() throws {
        let truth = Self.truth()
        let sequence = Self.data(truth, steps: 400, missing: 0.2, seed: 41)
        var start = truth
        start.transitionOffsets = Matrix(rows: 399, columns: 2, elements: (0..<798).map { Double($0 % 5) })
        let result = try start.fitEM(to: [sequence], configuration: EMConfiguration(
            fitting: [.transitionCovariance, .transitionOffset], maximumIterations: 30, acceleration: .squarem))
        #expect(result.parameters.transitionOffsets == nil)
        #expect(Self.isMonotone(result.logLikelihoods))
        #expect(zip(result.parameters.transitionOffset, truth.transitionOffset).allSatisfy { abs($0 - $1) < 0.5 },
                "b \(result.parameters.transitionOffset) against \(truth.transitionOffset)")
        start.transitionOffsets = Matrix(rows: 100, columns: 2)
        #expect(throws: EMError.self) {
            try start.fitEM(to: [sequence], configuration: EMConfiguration(fitting: [.transitionCovariance], maximumIterations: 2))
        }
    }

    /// Gaze reverting to the screen's centre (b = (I − D) c, c a thousand pixels out): D and b
    /// updated as one block reach the maximum (at least the true model's likelihood on the data
    /// it fits) in a few iterations, where pykalman's order, one after the other, is still far
    /// below after many more; both never lower the likelihood.
    @Test func jointBlocksClimbTheRidgeBetweenDAndB() throws {
        var truth = ModelParameters(
            transition: 0.99 * .identity(2), transitionCovariance: Matrix(nestedRows: [[9, 2], [2, 9]])!, observation: .identity(2),
            observationCovariance: Matrix(nestedRows: [[26, 19.6], [19.6, 26.7]])!, initialMean: [960, 540], initialCovariance: .identity(2))
        truth.transitionOffset = [9.6, 5.4]
        truth.observationOffset = [0, 0]
        var generator = SeededGenerator(seed: 51)
        let data = truth.sample(steps: 20000, using: &generator).observations
        var start = truth
        start.transition = .identity(2)
        start.transitionOffset = [0, 0]
        let fitting: FittedParameters = [.transition, .transitionCovariance, .observation, .observationCovariance, .transitionOffset, .observationOffset]
        let joint = try start.fitEM(to: [data], configuration: EMConfiguration(
            fitting: fitting, maximumIterations: 200, tolerancePerSample: 1e-8, start: .diffuse, acceleration: .squarem))
        let sequential = try start.fitEM(to: [data], configuration: EMConfiguration(
            fitting: fitting, maximumIterations: 200, start: .diffuse, acceleration: .squarem, jointOffsets: false))
        let trueLogLikelihood = try truth.logLikelihood(of: data, start: .diffuse)
        #expect(joint.converged && Self.isMonotone(joint.logLikelihoods) && Self.isMonotone(sequential.logLikelihoods))
        #expect(joint.logLikelihoods.last! >= trueLogLikelihood, "joint \(joint.logLikelihoods.last!) vs true \(trueLogLikelihood)")
        #expect(sequential.logLikelihoods.last! < joint.logLikelihoods.last! - 1, "pykalman's order reached \(sequential.logLikelihoods.last!)")
        // Crawling along the ridge (README's example: D, Q, R, b from a random walk), pykalman's
        // order must not claim convergence while it is still below the true model.
        var generator1 = SeededGenerator(seed: 1)
        let example = truth.sample(steps: 20000, using: &generator1).observations
        var walk = start
        walk.transitionCovariance = Matrix(nestedRows: [[9, 2], [2, 9]])!
        let crawl = try walk.fitEM(to: [example], configuration: EMConfiguration(
            fitting: [.transition, .transitionCovariance, .observationCovariance, .transitionOffset], maximumIterations: 500,
            tolerancePerSample: 1e-7, start: .diffuse, acceleration: .squarem, jointOffsets: false))
        let exampleTruth = try truth.logLikelihood(of: example, start: .diffuse)
        #expect(!crawl.converged || crawl.logLikelihoods.last! >= exampleTruth,
                "claimed convergence at \(crawl.logLikelihoods.last!) after \(crawl.iterations) iterations, the truth scores \(exampleTruth)")
        let d = joint.parameters.transition, b = joint.parameters.transitionOffset
        let centre = NaiveKalman.inverse(Matrix.identity(2) - d) * b
        #expect(abs(centre[0] - 960) < 30 && abs(centre[1] - 540) < 30, "reverts to \(centre)")
    }
}
