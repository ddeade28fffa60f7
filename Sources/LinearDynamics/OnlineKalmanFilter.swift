/// The Kalman filter of MODEL.md, one observation at a time.
///
/// A value holding the filtered mean and covariance and the step count. The live daemon
/// calls it once per gaze sample and the batch filter loops over it, so both share one
/// implementation. All storage (the parameters, the state and the scratch space) lives in
/// one buffer allocated when the filter is made: a step allocates nothing, for any n and m.
public struct OnlineKalmanFilter: Sendable {
    /// The parameters this filter runs with.
    public let parameters: ModelParameters
    /// n, the state dimension.
    public let stateDimension: Int
    /// m, the observation dimension.
    public let observationDimension: Int
    /// How many steps (masked or not) this filter has taken; the next step is step `stepCount`.
    public private(set) var stepCount: Int = 0

    private let layout: Layout
    private var storage: [Double]

    /// A filter at step 0 that will start from the parameters' mu_0 and sigma_0.
    ///
    /// - Precondition: the parameters have consistent shapes (see `ModelParameters.validate()`).
    public init(parameters: ModelParameters) {
        self.init(parameters: parameters, initialMean: parameters.initialMean)
    }

    /// A filter at step 0 that starts from `initialMean` instead of mu_0, with sigma_0.
    ///
    /// The live daemon starts each stream from its first observed sample this way.
    public init(parameters: ModelParameters, initialMean: [Double]) {
        let n = parameters.stateDimension, m = parameters.observationDimension
        precondition(parameters.transition.columns == n && parameters.observation.columns == n
            && parameters.transitionCovariance.rows == n && parameters.transitionCovariance.columns == n
            && parameters.observationCovariance.rows == m && parameters.observationCovariance.columns == m
            && parameters.initialCovariance.rows == n && parameters.initialCovariance.columns == n && initialMean.count == n,
            "model parameters have inconsistent shapes; validate them first")
        self.parameters = parameters
        self.stateDimension = n
        self.observationDimension = m
        self.layout = Layout(n: n, m: m)
        var storage = [Double](repeating: 0, count: layout.count)
        func place(_ values: [Double], at offset: Int) {
            for (i, value) in values.enumerated() { storage[offset + i] = value }
        }
        place(parameters.transition.elements, at: layout.transition)
        place(parameters.transitionCovariance.elements, at: layout.transitionCovariance)
        place(parameters.observation.elements, at: layout.observation)
        place(parameters.observationCovariance.elements, at: layout.observationCovariance)
        place(initialMean, at: layout.initialMean)
        place(parameters.initialCovariance.elements, at: layout.initialCovariance)
        place(initialMean, at: layout.mean)
        place(parameters.initialCovariance.elements, at: layout.covariance)
        self.storage = storage
    }

    /// This filter's state (mean, covariance, step count) under new parameters of the same
    /// shape: the next step predicts with the new D and Q and updates with the new H and R.
    public func continuing(with parameters: ModelParameters) -> OnlineKalmanFilter {
        precondition(parameters.stateDimension == stateDimension && parameters.observationDimension == observationDimension,
                     "new parameters must have the same n and m")
        var next = OnlineKalmanFilter(parameters: parameters, initialMean: parameters.initialMean)
        let (mean, covariance) = (self.mean, self.covariance.elements)
        next.storage.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<stateDimension { buffer[next.layout.mean + i] = mean[i] }
            for i in 0..<(stateDimension * stateDimension) { buffer[next.layout.covariance + i] = covariance[i] }
        }
        next.stepCount = stepCount
        return next
    }

    /// Takes the observation of step `stepCount` (nil when masked) and returns its log-likelihood.
    ///
    /// Predicts (step 0 uses mu_0 and sigma_0 as the prediction, later steps D and Q), then
    /// updates with the observation. A masked step keeps the prediction and contributes 0.
    /// - Parameter observation: m values, or nil for a masked step.
    /// - Returns: l_t = log N(m_t; H mu_pred, S_t), 0 when masked.
    /// - Throws: `KalmanError.singularInnovationCovariance` when S_t is not positive definite
    ///   (the step then counts as masked: the state is the prediction), and
    ///   `KalmanError.nonFiniteState` when the prediction overflowed (an unstable D over a
    ///   long masked stretch): the filter never hands out NaN or infinity as an estimate.
    @discardableResult
    public mutating func step(observation: UnsafeBufferPointer<Double>?) throws(KalmanError) -> Double {
        precondition(observation == nil || observation!.count == observationDimension, "observation has the wrong size")
        return try advance(observation: observation?.baseAddress).get()
    }

    /// `step(observation:)` for an array (nil when masked); handy off the hot path.
    @discardableResult
    public mutating func step(_ observation: [Double]?) throws(KalmanError) -> Double {
        guard let observation else { return try step(observation: nil) }
        return try observation.withUnsafeBufferPointer { (buffer) throws(KalmanError) -> Double in try step(observation: buffer) }
    }

    /// A predict-only step: the sample is missing (a gap or a lost sample). An overflow shows
    /// at the next `step`.
    public mutating func predictOnly() {
        _ = advance(observation: nil)
    }

    /// One predict and (unless masked) update, returning l_t or why the step failed.
    ///
    /// Dispatches once on (n, m) so that the common small sizes run a copy of the kernel
    /// whose loop bounds are constants (fully unrolled by the compiler); other sizes run
    /// the same kernel with runtime bounds.
    @usableFromInline
    mutating func advance(observation: UnsafePointer<Double>?) -> Result<Double, KalmanError> {
        let step = stepCount
        switch advanceKernel(observation: observation) {
        case .updated(let logLikelihood): return .success(logLikelihood)
        case .singular: return .failure(.singularInnovationCovariance(step: step))
        case .nonFinite: return .failure(.nonFiniteState(step: step))
        }
    }

    /// What one kernel step did.
    @usableFromInline
    enum KernelOutcome {
        /// Done; this step's log-likelihood (0 when masked).
        case updated(Double)
        /// S_t was not positive definite; the state is the prediction.
        case singular
        /// The prediction is not finite; the state is that prediction.
        case nonFinite
    }

    @usableFromInline
    mutating func advanceKernel(observation: UnsafePointer<Double>?) -> KernelOutcome {
        let n = stateDimension, m = observationDimension, layout = self.layout
        let first = stepCount == 0
        stepCount += 1
        return storage.withUnsafeMutableBufferPointer { buffer -> KernelOutcome in
            let base = buffer.baseAddress!
            switch (n, m) {
            case (2, 2): return Self.kernel(Fixed2.self, Fixed2.self, base, layout, n, m, first, observation)
            case (4, 2): return Self.kernel(Fixed4.self, Fixed2.self, base, layout, n, m, first, observation)
            case (1, 1): return Self.kernel(Fixed1.self, Fixed1.self, base, layout, n, m, first, observation)
            case (3, 2): return Self.kernel(Fixed3.self, Fixed2.self, base, layout, n, m, first, observation)
            case (6, 2): return Self.kernel(Fixed6.self, Fixed2.self, base, layout, n, m, first, observation)
            case (2, 1): return Self.kernel(Fixed2.self, Fixed1.self, base, layout, n, m, first, observation)
            case (4, 4): return Self.kernel(Fixed4.self, Fixed4.self, base, layout, n, m, first, observation)
            default: return Self.kernel(RuntimeDimension.self, RuntimeDimension.self, base, layout, n, m, first, observation)
            }
        }
    }

    /// The filter step of MODEL.md on raw storage; `N` and `M` fix n and m at compile time
    /// where they can.
    @inline(never)
    static func kernel<N: KernelDimension, M: KernelDimension>(
        _: N.Type, _: M.Type, _ base: UnsafeMutablePointer<Double>, _ layout: Layout,
        _ runtimeN: Int, _ runtimeM: Int, _ first: Bool, _ observation: UnsafePointer<Double>?
    ) -> KernelOutcome {
        let n = N.resolve(runtimeN), m = M.resolve(runtimeM)
        let mean = base + layout.mean, covariance = base + layout.covariance
        let predictedMean = base + layout.predictedMean, predictedCovariance = base + layout.predictedCovariance
        typealias LA = SmallLinearAlgebra
        if first {
            predictedMean.update(from: base + layout.initialMean, count: n)
            predictedCovariance.update(from: base + layout.initialCovariance, count: n * n)
        } else {
            // Σ_pred = D Σ Dᵀ + Q, computed on the upper triangle and mirrored (exactly symmetric).
            let d = base + layout.transition, q = base + layout.transitionCovariance
            let scratch = base + layout.scratchNN
            LA.multiply(d, vector: mean, into: predictedMean, rows: n, columns: n)
            LA.multiply(d, covariance, into: scratch, rows: n, inner: n, columns: n)
            for i in 0..<n {
                for j in i..<n {
                    var sum = 0.0
                    for k in 0..<n { sum += scratch[i * n + k] * d[j * n + k] }
                    let value = sum + 0.5 * (q[i * n + j] + q[j * n + i])
                    predictedCovariance[i * n + j] = value
                    predictedCovariance[j * n + i] = value
                }
            }
            // An overflow or NaN anywhere reaches this sum (a PSD matrix's entries are bounded
            // by its diagonal), so one check per step guards every later number.
            var sum = 0.0
            for i in 0..<n { sum += predictedMean[i] + predictedCovariance[i * n + i] }
            guard sum.isFinite else {
                mean.update(from: predictedMean, count: n)
                covariance.update(from: predictedCovariance, count: n * n)
                return .nonFinite
            }
        }
        guard let y = observation else {
            mean.update(from: predictedMean, count: n)
            covariance.update(from: predictedCovariance, count: n * n)
            return .updated(0)
        }
        // S = H P Hᵀ + R, and Z = L⁻¹ H P with S = L Lᵀ, so that
        // K v = Zᵀ (L⁻¹ v) and K H P = Zᵀ Z (symmetric by construction).
        let h = base + layout.observation, r = base + layout.observationCovariance
        let z = base + layout.scratchMN, s = base + layout.scratchMM, l = base + layout.factorMM
        let u = base + layout.innovation
        LA.multiply(h, predictedCovariance, into: z, rows: m, inner: n, columns: n)
        for i in 0..<m {
            for j in i..<m {
                var sum = 0.0
                for k in 0..<n { sum += z[i * n + k] * h[j * n + k] }
                let value = sum + 0.5 * (r[i * m + j] + r[j * m + i])
                s[i * m + j] = value
                s[j * m + i] = value
            }
        }
        guard let halfLogDeterminant = LA.cholesky(s, into: l, m) else {
            mean.update(from: predictedMean, count: n)
            covariance.update(from: predictedCovariance, count: n * n)
            return .singular
        }
        LA.multiply(h, vector: predictedMean, into: u, rows: m, columns: n)
        for i in 0..<m { u[i] = y[i] - u[i] }
        LA.solveLower(l, u, m, columns: 1)
        LA.solveLower(l, z, m, columns: n)
        var mahalanobis = 0.0
        for i in 0..<m { mahalanobis += u[i] * u[i] }
        for i in 0..<n {
            var correction = 0.0
            for k in 0..<m { correction += z[k * n + i] * u[k] }
            mean[i] = predictedMean[i] + correction
            for j in i..<n {
                var reduction = 0.0
                for k in 0..<m { reduction += z[k * n + i] * z[k * n + j] }
                let value = predictedCovariance[i * n + j] - reduction
                covariance[i * n + j] = value
                covariance[j * n + i] = value
            }
        }
        return .updated(-0.5 * (mahalanobis + Double(m) * logTwoPi + 2 * halfLogDeterminant))
    }

    @usableFromInline static let logTwoPi = (2 * Double.pi).logarithm

    // MARK: Reading the state

    /// The filtered state mean after the last step (mu_0 before the first).
    public var mean: [Double] { slice(layout.mean, stateDimension) }
    /// The filtered state covariance after the last step (sigma_0 before the first).
    public var covariance: Matrix {
        Matrix(rows: stateDimension, columns: stateDimension, elements: slice(layout.covariance, stateDimension * stateDimension))
    }
    /// The last step's predicted state mean (before its update).
    public var predictedMean: [Double] { slice(layout.predictedMean, stateDimension) }
    /// The last step's predicted state covariance (before its update).
    public var predictedCovariance: Matrix {
        Matrix(rows: stateDimension, columns: stateDimension,
               elements: slice(layout.predictedCovariance, stateDimension * stateDimension))
    }

    /// Calls `body` with the filtered mean (n) and covariance (n×n, row-major), without copying.

    public func withState<Result>(
        _ body: (_ mean: UnsafeBufferPointer<Double>, _ covariance: UnsafeBufferPointer<Double>) throws -> Result
    ) rethrows -> Result {
        try withStorage { base, layout in
            try body(UnsafeBufferPointer(start: base + layout.mean, count: stateDimension),
                     UnsafeBufferPointer(start: base + layout.covariance, count: stateDimension * stateDimension))
        }
    }

    /// Writes the estimate in observation space: H·mean (m values) and H·Σ·Hᵀ (m×m, row-major).
    ///
    /// For gaze this is the cleaned (x, y) and the covariance of that estimate.

    public func observationEstimate(mean estimate: UnsafeMutablePointer<Double>, covariance estimateCovariance: UnsafeMutablePointer<Double>) {
        let n = stateDimension, m = observationDimension
        withStorage { base, layout in
            let h = base + layout.observation, sigma = base + layout.covariance
            SmallLinearAlgebra.multiply(h, vector: base + layout.mean, into: estimate, rows: m, columns: n)
            for i in 0..<m {
                for j in i..<m {
                    var sum = 0.0
                    for a in 0..<n {
                        var row = 0.0
                        for b in 0..<n { row += sigma[a * n + b] * h[j * n + b] }
                        sum += h[i * n + a] * row
                    }
                    estimateCovariance[i * m + j] = sum
                    estimateCovariance[j * m + i] = sum
                }
            }
        }
    }

    /// Copies this step's predicted and filtered moments into caller storage (batch filter).
    @usableFromInline
    func copyMoments(predictedMean: UnsafeMutablePointer<Double>, predictedCovariance: UnsafeMutablePointer<Double>,
                     mean: UnsafeMutablePointer<Double>, covariance: UnsafeMutablePointer<Double>) {
        let n = stateDimension
        withStorage { base, layout in
            predictedMean.update(from: base + layout.predictedMean, count: n)
            predictedCovariance.update(from: base + layout.predictedCovariance, count: n * n)
            mean.update(from: base + layout.mean, count: n)
            covariance.update(from: base + layout.covariance, count: n * n)
        }
    }

    @usableFromInline
    func withStorage<Result>(_ body: (UnsafePointer<Double>, Layout) throws -> Result) rethrows -> Result {
        try storage.withUnsafeBufferPointer { try body($0.baseAddress!, layout) }
    }

    private func slice(_ offset: Int, _ count: Int) -> [Double] { Array(storage[offset..<(offset + count)]) }

    /// Offsets into the one storage buffer.
    @usableFromInline
    struct Layout: Sendable {
        @usableFromInline let transition, transitionCovariance, observation, observationCovariance: Int
        @usableFromInline let initialMean, initialCovariance, mean, covariance, predictedMean, predictedCovariance: Int
        @usableFromInline let scratchNN, scratchMN, scratchMM, factorMM, innovation, count: Int

        init(n: Int, m: Int) {
            var next = 0
            func take(_ size: Int) -> Int { defer { next += size }; return next }
            transition = take(n * n); transitionCovariance = take(n * n)
            observation = take(m * n); observationCovariance = take(m * m)
            initialMean = take(n); initialCovariance = take(n * n)
            mean = take(n); covariance = take(n * n)
            predictedMean = take(n); predictedCovariance = take(n * n)
            scratchNN = take(n * n); scratchMN = take(m * n); scratchMM = take(m * m); factorMM = take(m * m)
            innovation = take(m)
            count = next
        }
    }
}

/// Why a filter or smoother step could not be computed.
public enum KalmanError: Error, Equatable, Sendable, CustomStringConvertible {
    /// S_t = H Σ_pred Hᵀ + R is not positive definite at this step (0-based).
    case singularInnovationCovariance(step: Int)
    /// The predicted state overflowed (is not finite) at this step (0-based).
    case nonFiniteState(step: Int)

    public var description: String {
        switch self {
        case .singularInnovationCovariance(let step):
            "the innovation covariance H·Σ·Hᵀ + R is singular at step \(step)"
        case .nonFiniteState(let step):
            "the predicted state is not finite at step \(step) (D grows it without bound over the masked steps before it)"
        }
    }
}
