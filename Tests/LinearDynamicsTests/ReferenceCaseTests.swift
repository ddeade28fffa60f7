import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// Every reference case in `Tests/Fixtures/reference` reproduced through the library, within its
/// README's tolerances.
@Suite struct ReferenceCaseTests {
    static let cases = ReferenceCase.all()

    @Test func casesArePresent() {
        #expect(Self.cases.count >= 3, "expected the reference cases under \(referenceFixturesDirectory) (scripts/make-reference makes them)")
    }

    @Test(arguments: cases)
    func maskedStepCountMatches(_ reference: ReferenceCase) {
        #expect(reference.observations.observations.maskedCount == Int(reference.expected("n_masked").number!))
        #expect(reference.observations.observations.count == Int(reference.expected("n_timesteps").number!))
    }

    @Test(arguments: cases)
    func filterMatchesPykalman(_ reference: ReferenceCase) throws {
        let result = try reference.parameters.filter(reference.observations.observations)
        #expect(firstMismatch(result.filtered.means, reference.expectedRows("filter", "means").flatMap { $0 },
                              relative: 1e-9, absolute: 1e-9, label: "filter means") == nil)
        #expect(firstMismatch(result.filtered.covariances,
                              reference.expectedMatrices("filter", "covariances").flatMap(\.elements),
                              relative: 1e-9, absolute: 1e-9, label: "filter covariances") == nil)
        let expected = reference.expected("filter", "loglikelihood").number!
        #expect(isClose(result.logLikelihood, expected, relative: 1e-9, absolute: 1e-9), "\(result.logLikelihood) vs \(expected)")
        #expect(isClose(try reference.parameters.logLikelihood(of: reference.observations.observations), expected,
                        relative: 1e-9, absolute: 1e-9))
    }

    @Test(arguments: cases)
    func smootherMatchesPykalman(_ reference: ReferenceCase) throws {
        let result = try reference.parameters.smooth(reference.observations.observations)
        let meanMismatch = firstMismatch(result.smoothed.means, reference.expectedRows("smoother", "means").flatMap { $0 },
                                         relative: 1e-9, absolute: 1e-9, label: "smoother means")
        #expect(meanMismatch == nil, "\(meanMismatch ?? "")")
        let covarianceMismatch = firstMismatch(result.smoothed.covariances,
                                               reference.expectedMatrices("smoother", "covariances").flatMap(\.elements),
                                               relative: 1e-9, absolute: 1e-9, label: "smoother covariances")
        #expect(covarianceMismatch == nil, "\(covarianceMismatch ?? "")")
    }

    @Test(arguments: cases)
    func emMatchesPykalman(_ reference: ReferenceCase) throws {
        let names = reference.expected("em", "em_vars").array!.map { $0.string! }.joined(separator: ",")
        let iterations = Int(reference.expected("em", "iterations").number!)
        let configuration = EMConfiguration(fitting: try FittedParameters(names: names), maximumIterations: iterations)
        let result = try reference.emInitial.fitEM(to: [reference.observations.observations], configuration: configuration)
        let fitted = try reference.expectedParameters("em", "fitted")
        let parameterMismatch = firstMismatch(result.parameters, fitted, relative: 1e-6, absolute: 1e-6)
        #expect(parameterMismatch == nil, "\(parameterMismatch ?? "")")
        let curve = reference.expected("em", "loglikelihoods").numbers!
        let curveMismatch = firstMismatch(result.logLikelihoods, curve, relative: 1e-6, absolute: 1e-6, label: "EM log-likelihoods")
        #expect(curveMismatch == nil, "\(curveMismatch ?? "")")
    }
}
