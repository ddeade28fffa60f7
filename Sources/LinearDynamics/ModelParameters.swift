/// The parameters of the linear dynamical system of `docs/MODEL.md`, for any state size n and
/// observation size m.
///
///     s_t = D s_{t-1} + b + w_t,  w_t ~ N(0, Q);   m_t = H s_t + d + eta_t,  eta_t ~ N(0, R);   s_0 ~ N(mu_0, sigma_0)
///
/// The offsets b and d (MODEL.md, "Offsets") are zero unless set; b may also be given per step.
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
    /// b (n): the transition offset, pykalman's `transition_offsets`; zero by default.
    public var transitionOffset: [Double]
    /// d (m): the observation offset, pykalman's `observation_offsets`; zero by default.
    public var observationOffset: [Double]
    /// Per-step transition offsets ((T-1)×n, row t the offset of the step t → t+1, pykalman's
    /// `transition_offsets[t]`), used instead of `transitionOffset` when set. Batch use only:
    /// a sequence may not be longer than its rows plus one, and fitting b replaces them.
    public var transitionOffsets: Matrix?

    /// Parameters from their six parts; call `validate()` before use on untrusted input.
    public init(
        transition: Matrix, transitionCovariance: Matrix, observation: Matrix,
        observationCovariance: Matrix, initialMean: [Double], initialCovariance: Matrix,
        transitionOffset: [Double]? = nil, observationOffset: [Double]? = nil, transitionOffsets: Matrix? = nil
    ) {
        self.transition = transition
        self.transitionCovariance = transitionCovariance
        self.observation = observation
        self.observationCovariance = observationCovariance
        self.initialMean = initialMean
        self.initialCovariance = initialCovariance
        self.transitionOffset = transitionOffset ?? [Double](repeating: 0, count: transition.rows)
        self.observationOffset = observationOffset ?? [Double](repeating: 0, count: observation.rows)
        self.transitionOffsets = transitionOffsets
    }

    /// Whether b and d are zero and b is not given per step (the model without offsets).
    public var hasNoOffsets: Bool {
        transitionOffsets == nil && transitionOffset.allSatisfy { $0 == 0 } && observationOffset.allSatisfy { $0 == 0 }
    }

    /// The offset of the step from t to t+1: row t of the per-step offsets, else b.
    /// - Precondition: with per-step offsets, t is one of their rows.
    public func transitionOffset(after t: Int) -> [Double] {
        guard let transitionOffsets else { return transitionOffset }
        return Array(transitionOffsets.elements[(t * transitionOffsets.columns)..<((t + 1) * transitionOffsets.columns)])
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
        guard transitionOffset.count == n else {
            throw ParameterError("b", "has \(transitionOffset.count) entries, expected \(n) (n = \(n))")
        }
        guard transitionOffset.allSatisfy(\.isFinite) else { throw ParameterError("b", "has an entry that is not a finite number") }
        guard observationOffset.count == m else {
            throw ParameterError("d", "has \(observationOffset.count) entries, expected \(m) (m = \(m))")
        }
        guard observationOffset.allSatisfy(\.isFinite) else { throw ParameterError("d", "has an entry that is not a finite number") }
        if let transitionOffsets {
            guard transitionOffsets.columns == n else {
                throw ParameterError("b", "per step has \(transitionOffsets.columns) columns, expected \(n) (n = \(n))")
            }
            guard transitionOffsets.isFinite else { throw ParameterError("b", "per step has an entry that is not a finite number") }
        }
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

extension ModelParameters {
    /// A state estimate (n mean values, n×n covariance) in observation space: H·mean + d (m
    /// values) and H·Σ·Hᵀ (m×m, row-major). Allocates nothing: the live path uses it for the
    /// fixed-lag smoother's estimates.
    public func observationEstimate(mean: UnsafeBufferPointer<Double>, covariance: UnsafeBufferPointer<Double>,
                                    into estimate: UnsafeMutableBufferPointer<Double>, covariance estimateCovariance: UnsafeMutableBufferPointer<Double>) {
        let n = stateDimension, m = observationDimension
        precondition(mean.count == n && covariance.count == n * n && estimate.count == m && estimateCovariance.count == m * m,
                     "estimate buffers have the wrong sizes")
        observation.elements.withUnsafeBufferPointer { h in
            observationOffset.withUnsafeBufferPointer { d in
                SmallLinearAlgebra.observationEstimate(
                    observation: h.baseAddress!, offset: d.baseAddress!, mean: mean.baseAddress!, covariance: covariance.baseAddress!,
                    into: estimate.baseAddress!, covariance: estimateCovariance.baseAddress!, n, m)
            }
        }
    }
}
