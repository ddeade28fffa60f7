/// The parameters of the linear dynamical system of `docs/MODEL.md`, for any state size n and
/// observation size m.
///
///     s_t = D s_{t-1} + w_t,  w_t ~ N(0, Q);   m_t = H s_t + eta_t,  eta_t ~ N(0, R);   s_0 ~ N(mu_0, sigma_0)
public struct ModelParameters: Equatable, Sendable {
    /// D (n×n): the dynamics, pykalman's `transition_matrices`.
    public var transition: Matrix
    /// Q (n×n): process noise covariance, pykalman's `transition_covariance`.
    public var transitionCovariance: Matrix
    /// H (m×n): the observation matrix, pykalman's `observation_matrices`.
    public var observation: Matrix
    /// R (m×m): observation noise covariance, pykalman's `observation_covariance`.
    public var observationCovariance: Matrix
    /// mu_0 (n): the initial state mean.
    public var initialMean: [Double]
    /// sigma_0 (n×n): the initial state covariance.
    public var initialCovariance: Matrix

    /// Parameters from their six parts; call `validate()` before use on untrusted input.
    public init(
        transition: Matrix, transitionCovariance: Matrix, observation: Matrix,
        observationCovariance: Matrix, initialMean: [Double], initialCovariance: Matrix
    ) {
        self.transition = transition
        self.transitionCovariance = transitionCovariance
        self.observation = observation
        self.observationCovariance = observationCovariance
        self.initialMean = initialMean
        self.initialCovariance = initialCovariance
    }

    /// n, the state dimension.
    public var stateDimension: Int { transition.rows }
    /// m, the observation dimension.
    public var observationDimension: Int { observation.rows }

    /// Checks shapes, finiteness, symmetry and definiteness, throwing the first problem found.
    ///
    /// Q and sigma_0 must be symmetric positive semi-definite, R symmetric positive definite.
    /// Symmetry is judged relative to the matrix's largest entry (1e-9), so the rounding
    /// asymmetry of a fitted covariance passes.
    public func validate() throws(ParameterError) {
        // n and m are the sizes most parameters agree on (each parameter one vote), so that a shape
        // error names the one parameter that disagrees rather than a correct one beside it. When H and
        // R alone disagree on m, H is named, with R's size beside it.
        let n = Self.mostCommon([transition, transitionCovariance, initialCovariance].compactMap { $0.isSquare ? $0.rows : nil }
                                + [observation.columns, initialMean.count])
        guard n > 0 else { throw ParameterError("D", "must have at least one row") }
        guard observation.rows > 0 else { throw ParameterError("H", "must have at least one row") }
        if observationCovariance.isSquare && observationCovariance.rows != observation.rows {
            throw ParameterError("H", "has \(observation.rows) row\(observation.rows == 1 ? "" : "s") but R is "
                                 + "\(observationCovariance.rows)×\(observationCovariance.columns): H needs one row per observed component, as R has")
        }
        let m = observation.rows
        func shape(_ name: String, _ matrix: Matrix, _ rows: Int, _ columns: Int) throws(ParameterError) {
            guard matrix.rows == rows, matrix.columns == columns else {
                throw ParameterError(name, "is \(matrix.rows)×\(matrix.columns), expected \(rows)×\(columns) "
                                     + "(n = \(n) states and m = \(m) observed components, as the other parameters say)")
            }
            guard matrix.isFinite else { throw ParameterError(name, "has an entry that is not a finite number") }
        }
        try shape("D", transition, n, n)
        try shape("Q", transitionCovariance, n, n)
        try shape("H", observation, m, n)
        try shape("R", observationCovariance, m, m)
        try shape("sigma_0", initialCovariance, n, n)
        guard initialMean.count == n else {
            throw ParameterError("mu_0", "has \(initialMean.count) entries, expected \(n) (n = \(n) states, as the other parameters say)")
        }
        guard initialMean.allSatisfy(\.isFinite) else { throw ParameterError("mu_0", "has an entry that is not a finite number") }
        try Self.checkCovariance("Q", transitionCovariance, definite: false)
        try Self.checkCovariance("R", observationCovariance, definite: true)
        try Self.checkCovariance("sigma_0", initialCovariance, definite: false)
    }

    /// The value that occurs most often in `sizes` (at least one); on a tie, the one that occurs first.
    static func mostCommon(_ sizes: [Int]) -> Int {
        sizes.max { a, b in
            let countA = sizes.count(where: { $0 == a }), countB = sizes.count(where: { $0 == b })
            return countA < countB || (countA == countB && sizes.firstIndex(of: a)! > sizes.firstIndex(of: b)!)
        }!
    }

    /// Symmetric, and positive semi-definite (or definite) within rounding.
    static func checkCovariance(_ name: String, _ matrix: Matrix, definite: Bool) throws(ParameterError) {
        let scale = matrix.maxMagnitude
        guard matrix.asymmetry <= 1e-9 * scale else {
            throw ParameterError(name, "is not symmetric (largest |a_ij - a_ji| = \(matrix.asymmetry))")
        }
        let eigenvalues = SymmetricEigen(matrix).values
        let smallest = eigenvalues.min() ?? 0
        let tolerance = Double(matrix.rows) * 1e-12 * max(scale, Double.leastNormalMagnitude)
        if definite {
            guard smallest > tolerance else {
                throw ParameterError(name, "is not positive definite (smallest eigenvalue \(smallest))")
            }
        } else {
            guard smallest >= -tolerance else {
                throw ParameterError(name, "is not positive semi-definite (smallest eigenvalue \(smallest))")
            }
        }
    }
}

/// A parameter set that fails validation: which parameter, and what is wrong with it.
public struct ParameterError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The parameter's name as in MODEL.md (`D`, `Q`, `H`, `R`, `mu_0`, `sigma_0`).
    public let parameter: String
    /// What is wrong, as a sentence fragment following the name.
    public let problem: String

    /// An error about `parameter`.
    public init(_ parameter: String, _ problem: String) {
        self.parameter = parameter
        self.problem = problem
    }

    public var description: String { "\(parameter) \(problem)" }
}
