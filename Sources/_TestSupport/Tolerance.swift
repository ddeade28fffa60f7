import LinearDynamics

/// Whether `actual` is within `relative`·|expected| of `expected`, or within `absolute` of it
/// near zero: the shape of the reference cases' tolerances (1e-9 relative or absolute).
public func isClose(_ actual: Double, _ expected: Double, relative: Double, absolute: Double) -> Bool {
    abs(actual - expected) <= max(relative * abs(expected), absolute)
}

/// The first entry where two equally long lists differ beyond tolerance, described; nil when all agree.
public func firstMismatch(_ actual: [Double], _ expected: [Double], relative: Double, absolute: Double, label: String) -> String? {
    guard actual.count == expected.count else { return "\(label): \(actual.count) values, expected \(expected.count)" }
    for (index, (a, e)) in zip(actual, expected).enumerated() where !isClose(a, e, relative: relative, absolute: absolute) {
        return "\(label)[\(index)]: \(a) vs expected \(e) (difference \(abs(a - e)))"
    }
    return nil
}

/// `firstMismatch` for two parameter sets, parameter by parameter.
public func firstMismatch(_ actual: ModelParameters, _ expected: ModelParameters, relative: Double, absolute: Double) -> String? {
    firstMismatch(actual.transition.elements, expected.transition.elements, relative: relative, absolute: absolute, label: "D")
        ?? firstMismatch(actual.transitionCovariance.elements, expected.transitionCovariance.elements, relative: relative, absolute: absolute, label: "Q")
        ?? firstMismatch(actual.observation.elements, expected.observation.elements, relative: relative, absolute: absolute, label: "H")
        ?? firstMismatch(actual.observationCovariance.elements, expected.observationCovariance.elements, relative: relative, absolute: absolute, label: "R")
        ?? firstMismatch(actual.initialMean, expected.initialMean, relative: relative, absolute: absolute, label: "mu_0")
        ?? firstMismatch(actual.initialCovariance.elements, expected.initialCovariance.elements, relative: relative, absolute: absolute, label: "sigma_0")
        ?? firstMismatch(actual.transitionOffset, expected.transitionOffset, relative: relative, absolute: absolute, label: "b")
        ?? firstMismatch(actual.observationOffset, expected.observationOffset, relative: relative, absolute: absolute, label: "d")
}
