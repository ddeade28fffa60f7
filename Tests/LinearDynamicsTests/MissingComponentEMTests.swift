import LinearDynamics
import Testing
import _TestSupport

/// EM with partly observed steps (MODEL.md, "Missing components"): the M-step treats the missing
/// components as part of the complete data, so the likelihood never falls, the fit's fixed point
/// is a stationary point of the likelihood of exactly the observed components, and on data drawn
/// from a known model the fit predicts fresh data as well as that model.
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

    /// A model of three observed components of a two-dimensional state, with an offset d.
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

    @Test func theLikelihoodNeverFalls() throws {
        let p = Self.truth()
        let sequence = Self.data(p, steps: 300, missing: 0.3, seed: 11)
        #expect(sequence.partialCount > 50)
        let result = try Self.start(p).fitEM(to: [sequence], configuration: EMConfiguration(
            fitting: [.observation, .observationCovariance, .observationOffset, .transition, .transitionCovariance, .transitionOffset],
            maximumIterations: 25))
        #expect(result.decreasedAt == nil)
        #expect(result.iterations == 25)
        for (before, after) in zip(result.logLikelihoods, result.logLikelihoods.dropFirst()) {
            #expect(after >= before - 1e-9 * abs(before), "\(before) → \(after)")
        }
    }

    /// Each M-step update against Fisher's identity: the log-likelihood's gradient at the E-step's
    /// parameters equals the expected complete-data log-likelihood's, which the update of H, R
    /// or d alone turns into ∂ℓ/∂R = ½|O| R⁻¹ (R_new − R) R⁻¹, ∂ℓ/∂d = |O| R⁻¹ (d_new − d) and
    /// ∂ℓ/∂H = R⁻¹ (H_new − H) Σ_{t∈O} P_t. The left sides by central differences of the filter's
    /// log-likelihood of exactly the observed components: any error in E[y_t | data] or in the
    /// missing components' covariances shows here.
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
    /// scores fresh data (also partly observed) as well as the true model does.
    @Test func theFitPredictsFreshDataLikeTheTruth() throws {
        let p = Self.truth()
        let training = Self.data(p, steps: 2000, missing: 0.3, seed: 13)
        let fresh = Self.data(p, steps: 2000, missing: 0.3, seed: 14)
        let fitted = try Self.start(p).fitEM(to: [training], configuration: EMConfiguration(
            fitting: [.observation, .observationCovariance, .observationOffset, .transitionCovariance, .transitionOffset],
            maximumIterations: 150, tolerance: 1e-4))
        let observed = Double((0..<fresh.count).filter { !fresh.mask[$0] }.count)
        let gap = (try p.logLikelihood(of: fresh) - fitted.parameters.logLikelihood(of: fresh)) / observed
        #expect(abs(gap) < 0.005, "true model ahead of the fit by \(gap) nats per observed step")
        #expect(try Self.start(p).logLikelihood(of: fresh) / observed < fitted.parameters.logLikelihood(of: fresh) / observed - 0.1)
    }
}
