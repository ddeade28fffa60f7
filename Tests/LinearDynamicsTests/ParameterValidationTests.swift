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
        for (parameters, name, phrase) in cases + Self.wrongShapes() {
            do {
                try parameters.validate()
                Issue.record("\(name) problem not detected")
            } catch {
                #expect(error.parameter == name)
                #expect(error.description.contains(phrase), "\(error)")
            }
        }
    }

    /// Each parameter given the wrong shape, alone, in a model of n = 2, m = 2 and of n = 4, m = 1:
    /// the error names that parameter, never a correct one beside it.
    static func wrongShapes() -> [(ModelParameters, String, String)] {
        var cases: [(ModelParameters, String, String)] = []
        for (n, m) in [(2, 2), (4, 1), (1, 3)] {
            let valid = RandomModels.make(n: n, m: m, seed: UInt64(10 * n + m))
            let wrong = Matrix(rows: n + 1, columns: n + 1), tall = Matrix(rows: m + 1, columns: n)
            var p = valid; p.transition = wrong; cases.append((p, "D", "is \(n + 1)×\(n + 1), expected \(n)×\(n)"))
            p = valid; p.transition = Matrix(rows: n, columns: n + 1); cases.append((p, "D", "expected \(n)×\(n)"))
            p = valid; p.transitionCovariance = wrong; cases.append((p, "Q", "expected \(n)×\(n)"))
            p = valid; p.observation = tall; cases.append((p, "H", "has \(m + 1) rows but R is \(m)×\(m)"))
            p = valid; p.observation = Matrix(rows: m, columns: n + 1); cases.append((p, "H", "expected \(m)×\(n)"))
            // H and R alone disagree on m: H is named, with R's size (a wrong H is the issue's case).
            p = valid; p.observationCovariance = Matrix(rows: m + 1, columns: m + 1); cases.append((p, "H", "but R is \(m + 1)×\(m + 1)"))
            p = valid; p.observationCovariance = Matrix(rows: m, columns: m + 1); cases.append((p, "R", "expected \(m)×\(m)"))
            p = valid; p.initialCovariance = wrong; cases.append((p, "sigma_0", "expected \(n)×\(n)"))
            p = valid; p.initialMean = Array(repeating: 0, count: n + 1); cases.append((p, "mu_0", "expected \(n)"))
        }
        return cases
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
