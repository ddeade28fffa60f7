import LinearDynamics
import Testing
import _TestSupport

@Suite struct ParameterValidationTests {
    static let valid = RandomModels.make(n: 4, m: 2, seed: 3)

    @Test func randomModelsAreValid() throws {
        for n in 1...6 { for m in 1...4 { try RandomModels.make(n: n, m: m, seed: UInt64(n * m)).validate() } }
    }

    @Test func eachProblemIsNamed() {
        var cases: [(ModelParameters, String, String)] = []
        var p = Self.valid
        p.observation = Matrix(rows: 2, columns: 3)
        cases.append((p, "H", "expected 2×4"))
        p = Self.valid
        p.transitionCovariance[0, 1] += 1
        cases.append((p, "Q", "symmetric"))
        p = Self.valid
        p.observationCovariance = Matrix.diagonal([1, 0])
        cases.append((p, "R", "positive definite"))
        p = Self.valid
        p.initialCovariance = Matrix.diagonal([1, 1, -1, 1])
        cases.append((p, "sigma_0", "semi-definite"))
        p = Self.valid
        p.initialMean = [0, 0, 0]
        cases.append((p, "mu_0", "3 entries"))
        p = Self.valid
        p.transition[1, 1] = .nan
        cases.append((p, "D", "finite"))
        for (parameters, name, phrase) in cases {
            do {
                try parameters.validate()
                Issue.record("\(name) problem not detected")
            } catch {
                #expect(error.parameter == name)
                #expect(error.description.contains(phrase), "\(error)")
            }
        }
    }

    @Test func semiDefiniteProcessNoiseIsAccepted() throws {
        var p = Self.valid
        p.transitionCovariance = Matrix.diagonal([1, 0, 0, 2])
        try p.validate()
    }

    @Test func fittedParameterNamesParse() throws {
        #expect(try FittedParameters(names: "D,Q,H,R") == [.transition, .transitionCovariance, .observation, .observationCovariance])
        #expect(try FittedParameters(names: "mu_0, sigma_0") == [.initialMean, .initialCovariance])
        #expect(throws: ParameterError.self) { try FittedParameters(names: "D,,Q") }
        #expect(FittedParameters.all.description == "D,Q,H,R,mu_0,sigma_0")
    }
}
