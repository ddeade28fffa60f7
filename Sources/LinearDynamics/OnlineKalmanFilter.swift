/// The Kalman filter of MODEL.md, one observation at a time.
///
/// A value holding the filtered mean and covariance and the step count. The live daemon
/// calls it once per gaze sample and the batch filter loops over it, so both share one
/// implementation. All storage (the parameters, the state and the scratch space) lives in
/// one buffer allocated when the filter is made: a step allocates nothing, for any n and m.
public struct OnlineKalmanFilter: Sendable {
    /// The parameters this filter runs with.
    public let parameters: ModelParameters
    /// How the state starts, at step 0 and after each `restart()`.
    public let start: StartRule
    /// n, the state dimension.
    public let stateDimension: Int
    /// m, the observation dimension.
    public let observationDimension: Int
    /// How many steps (masked or not) this filter has taken; the next step is step `stepCount`.
    public private(set) var stepCount: Int = 0

    private let layout: Layout
    private var storage: [Double]
    /// Whether b or d is not zero (steps skip adding zeros otherwise).
    private let hasTransitionOffset: Bool, hasObservationOffset: Bool
    private var phase: Phase

    /// Where the filter is in its start-up (MODEL.md, "Start rule").
    @usableFromInline
    enum Phase: Sendable, Equatable {
        /// The next step takes the start mean and sigma_0 as its prediction.
        case initial
        /// The course's rule before the first observed sample: the state is mu_0, sigma_0.
        case awaitingSample
        /// Diffuse: the covariance is κ·P∞ + P* with κ → ∞ and P∞ ≠ 0 (or the first step is next).
        case diffuse(first: Bool)
        /// The ordinary filter.
        case regular
    }

    /// A filter at step 0 that starts from the parameters' mu_0 and sigma_0 (pykalman's rule).
    ///
    /// - Precondition: the parameters have consistent shapes (see `ModelParameters.validate()`).
    public init(parameters: ModelParameters) {
        self.init(parameters: parameters, start: .parameters)
    }

    /// A filter at step 0 that starts by `start` (MODEL.md, "Start rule").
    ///
    /// - Precondition: the parameters have consistent shapes; for `.diffuse`, R is positive
    ///   definite (see `ModelParameters.validate()`).
    public init(parameters: ModelParameters, start: StartRule) {
        self.init(parameters: parameters, initialMean: parameters.initialMean, start: start)
    }

    /// A filter at step 0 that starts from `initialMean` instead of mu_0, with sigma_0.
    public init(parameters: ModelParameters, initialMean: [Double]) {
        self.init(parameters: parameters, initialMean: initialMean, start: .parameters)
    }

    private init(parameters: ModelParameters, initialMean: [Double], start: StartRule) {
        let n = parameters.stateDimension, m = parameters.observationDimension
        precondition(parameters.transition.columns == n && parameters.observation.columns == n
            && parameters.transitionCovariance.rows == n && parameters.transitionCovariance.columns == n
            && parameters.observationCovariance.rows == m && parameters.observationCovariance.columns == m
            && parameters.initialCovariance.rows == n && parameters.initialCovariance.columns == n && initialMean.count == n,
            "model parameters have inconsistent shapes; validate them first")
        self.parameters = parameters
        self.start = start
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
        place(parameters.transitionOffset, at: layout.transitionOffset)
        place(parameters.observationOffset, at: layout.observationOffset)
        self.hasTransitionOffset = parameters.transitionOffset.contains { $0 != 0 }
        self.hasObservationOffset = parameters.observationOffset.contains { $0 != 0 }
        // The diffuse update works on L⁻¹·y with L⁻¹·H, where R = L·Lᵀ (MODEL.md, "Start rule").
        let layout = self.layout
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let factor = base + layout.observationFactor
            if let halfLogDeterminant = SmallLinearAlgebra.cholesky(base + layout.observationCovariance, into: factor, m) {
                base[layout.observationHalfLogDeterminant] = halfLogDeterminant
                (base + layout.scaledObservation).update(from: base + layout.observation, count: m * n)
                SmallLinearAlgebra.solveLower(factor, base + layout.scaledObservation, m, columns: n)
            } else {
                precondition(start != .diffuse, "the diffuse start needs a positive definite R; validate the parameters first")
            }
        }
        self.storage = storage
        self.phase = .initial
        restart()
    }

    /// Starts afresh: step 0 again, under this filter's start rule. Allocates nothing.
    public mutating func restart() {
        let n = stateDimension, layout = self.layout
        stepCount = 0
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            (base + layout.startMean).update(from: base + layout.initialMean, count: n)
            (base + layout.mean).update(from: base + layout.initialMean, count: n)
            (base + layout.covariance).update(from: base + layout.initialCovariance, count: n * n)
            (base + layout.predictedMean).update(from: base + layout.initialMean, count: n)
            (base + layout.predictedCovariance).update(from: base + layout.initialCovariance, count: n * n)
            (base + layout.diffuse).update(repeating: 0, count: n * n)
            (base + layout.predictedDiffuse).update(repeating: 0, count: n * n)
        }
        switch start {
        case .parameters: phase = .initial
        case .firstSample: phase = .awaitingSample
        case .diffuse:
            phase = .diffuse(first: true)
            storage.withUnsafeMutableBufferPointer { buffer in
                let base = buffer.baseAddress!
                (base + layout.mean).update(repeating: 0, count: n)
                (base + layout.covariance).update(repeating: 0, count: n * n)
                (base + layout.predictedMean).update(repeating: 0, count: n)
                (base + layout.predictedCovariance).update(repeating: 0, count: n * n)
                for i in 0..<n { base[layout.diffuse + i * n + i] = 1; base[layout.predictedDiffuse + i * n + i] = 1 }
            }
        }
    }

    /// This filter's state (mean, covariance, diffuse part, start-up phase, step count) under
    /// new parameters of the same shape: the next step predicts with the new D and Q and updates
    /// with the new H and R.
    public func continuing(with parameters: ModelParameters) -> OnlineKalmanFilter {
        precondition(parameters.stateDimension == stateDimension && parameters.observationDimension == observationDimension,
                     "new parameters must have the same n and m")
        var next = OnlineKalmanFilter(parameters: parameters, initialMean: parameters.initialMean, start: start)
        let layout = self.layout, size = stateDimension * stateDimension
        next.storage.withUnsafeMutableBufferPointer { buffer in
            storage.withUnsafeBufferPointer { old in
                for offset in [layout.mean, layout.predictedMean, layout.startMean] {
                    for i in 0..<stateDimension { buffer[offset + i] = old[offset + i] }
                }
                for offset in [layout.covariance, layout.predictedCovariance, layout.diffuse, layout.predictedDiffuse] {
                    for i in 0..<size { buffer[offset + i] = old[offset + i] }
                }
            }
        }
        next.phase = phase
        next.stepCount = stepCount
        return next
    }

    /// Takes the observation of step `stepCount` (nil when masked) and returns its log-likelihood.
    ///
    /// Predicts (step 0 uses the start rule's state as the prediction, later steps D, b and Q),
    /// then updates with the observed components (MODEL.md, "Missing components"). A masked
    /// step keeps the prediction and contributes 0.
    /// - Parameter observation: m values (NaN where a component is missing), or nil for a
    ///   masked step; all NaN is masked too.
    /// - Returns: l_t = log N(m_t; H mu_pred, S_t), 0 when masked; during a diffuse start, the
    ///   step's part of the diffuse log-likelihood (MODEL.md, "Start rule").
    /// - Throws: `KalmanError.singularInnovationCovariance` when S_t is not positive definite
    ///   (the step then counts as masked: the state is the prediction), and
    ///   `KalmanError.nonFiniteState` when the prediction or the update overflowed (an unstable D over a
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

    /// A step whose transition offset is `transitionOffset` (n values) instead of b: batch
    /// runs with per-step offsets (MODEL.md, "Offsets").
    @discardableResult
    public mutating func step(observation: UnsafeBufferPointer<Double>?, transitionOffset: UnsafeBufferPointer<Double>) throws(KalmanError) -> Double {
        precondition(observation == nil || observation!.count == observationDimension, "observation has the wrong size")
        precondition(transitionOffset.count == stateDimension, "the transition offset has the wrong size")
        return try advance(observation: observation?.baseAddress, transitionOffset: transitionOffset.baseAddress).get()
    }

    /// One predict and (unless masked) update, returning l_t or why the step failed.
    ///
    /// Dispatches once on (n, m) so that the common small sizes run a copy of the kernel
    /// whose loop bounds are constants (fully unrolled by the compiler); other sizes run
    /// the same kernel with runtime bounds.
    ///
    /// - Parameter transitionOffset: this step's b (n values) instead of the parameters' one,
    ///   or nil for theirs.
    @usableFromInline
    mutating func advance(observation: UnsafePointer<Double>?, transitionOffset: UnsafePointer<Double>? = nil) -> Result<Double, KalmanError> {
        let step = stepCount
        switch advanceKernel(observation: observation, transitionOffset: transitionOffset) {
        case .updated(let logLikelihood):
            // An update can overflow too (absurd but finite observations): say so at this step, not
            // at the next one, whose sample would then be lost with it.
            let n = stateDimension
            let finite = withStorage { base, layout in (0..<n).allSatisfy { base[layout.mean + $0].isFinite } }
            return finite ? .success(logLikelihood) : .failure(.nonFiniteState(step: step))
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

    /// Which components of an observation are there: all, some (how many), or none.
    @usableFromInline
    enum Presence {
        case whole, partial(Int), none
    }

    /// Whether any of the m components is missing (NaN).
    @inline(__always) @usableFromInline
    static func hasMissingComponent(_ observation: UnsafePointer<Double>, _ m: Int) -> Bool {
        var sum = 0.0
        for i in 0..<m { sum += observation[i] * 0 }  // NaN·0 is NaN; finite·0 is 0 (infinities are refused upstream)
        return sum.isNaN
    }

    /// Counts the observed (not NaN) components of `observation`.
    @inline(__always) @usableFromInline
    static func presence(_ observation: UnsafePointer<Double>?, _ m: Int) -> Presence {
        guard let observation else { return .none }
        var observed = 0
        for i in 0..<m where !observation[i].isNaN { observed += 1 }
        return observed == m ? .whole : observed == 0 ? .none : .partial(observed)
    }

    @usableFromInline
    mutating func advanceKernel(observation given: UnsafePointer<Double>?, transitionOffset: UnsafePointer<Double>?) -> KernelOutcome {
        let n = stateDimension, m = observationDimension, layout = self.layout
        // The live path's common case first, as lean as before offsets and missing components:
        // an identified state, no offsets, and the observation whole or masked.
        if case .regular = phase, transitionOffset == nil, !hasTransitionOffset, !hasObservationOffset,
           given == nil || !Self.hasMissingComponent(given!, m) {
            stepCount += 1
            return storage.withUnsafeMutableBufferPointer { buffer -> KernelOutcome in
                let base = buffer.baseAddress!
                let h = UnsafePointer(base + layout.observation), r = UnsafePointer(base + layout.observationCovariance)
                switch (n, m) {
                case (2, 2): return Self.kernel(Fixed2.self, Fixed2.self, base, layout, n, m, false, nil, given, h, r)
                case (4, 2): return Self.kernel(Fixed4.self, Fixed2.self, base, layout, n, m, false, nil, given, h, r)
                case (1, 1): return Self.kernel(Fixed1.self, Fixed1.self, base, layout, n, m, false, nil, given, h, r)
                case (3, 2): return Self.kernel(Fixed3.self, Fixed2.self, base, layout, n, m, false, nil, given, h, r)
                case (6, 2): return Self.kernel(Fixed6.self, Fixed2.self, base, layout, n, m, false, nil, given, h, r)
                case (2, 1): return Self.kernel(Fixed2.self, Fixed1.self, base, layout, n, m, false, nil, given, h, r)
                case (4, 4): return Self.kernel(Fixed4.self, Fixed4.self, base, layout, n, m, false, nil, given, h, r)
                default: return Self.kernel(RuntimeDimension.self, RuntimeDimension.self, base, layout, n, m, false, nil, given, h, r)
                }
            }
        }
        let presence = Self.presence(given, m)
        var observation = given
        if case .none = presence { observation = nil }
        stepCount += 1
        let first: Bool
        switch phase {
        case .regular: first = false
        case .initial: first = true; phase = .regular
        case .awaitingSample:
            // The course's rule starts at the first step with every component observed.
            guard let observation, case .whole = presence else { return .updated(0) }  // the state stays mu_0, sigma_0
            let subtractsOffset = hasObservationOffset
            storage.withUnsafeMutableBufferPointer { buffer in
                let startMean = buffer.baseAddress! + layout.startMean, d = buffer.baseAddress! + layout.observationOffset
                startMean.update(repeating: 0, count: n)
                for i in 0..<min(n, m) { startMean[i] = observation[i] - (subtractsOffset ? d[i] : 0) }
            }
            first = true
            phase = .regular
        case .diffuse(let first):
            let hasTransitionOffset = self.hasTransitionOffset, hasObservationOffset = self.hasObservationOffset
            let (outcome, identified) = storage.withUnsafeMutableBufferPointer { buffer in
                let base = buffer.baseAddress!
                let b = transitionOffset ?? (hasTransitionOffset ? UnsafePointer(base + layout.transitionOffset) : nil)
                let y = Self.observedComponents(base, layout, n, m, observation, presence, subtractOffset: hasObservationOffset, forDiffuse: true)
                return Self.diffuseKernel(base, layout, n, first, b, y)
            }
            phase = identified ? .regular : .diffuse(first: false)
            return outcome
        }
        let hasTransitionOffset = self.hasTransitionOffset, hasObservationOffset = self.hasObservationOffset
        return storage.withUnsafeMutableBufferPointer { buffer -> KernelOutcome in
            let base = buffer.baseAddress!
            let b = first ? nil : transitionOffset ?? (hasTransitionOffset ? UnsafePointer(base + layout.transitionOffset) : nil)
            if case .partial = presence {
                let y = Self.observedComponents(base, layout, n, m, observation, presence, subtractOffset: hasObservationOffset, forDiffuse: false)
                return Self.kernel(RuntimeDimension.self, RuntimeDimension.self, base, layout, n, y.count, first, b,
                                   y.values, y.observation, y.covariance)
            }
            var y = observation
            if hasObservationOffset, let observation {
                let shifted = base + layout.selectedValues, d = base + layout.observationOffset
                for i in 0..<m { shifted[i] = observation[i] - d[i] }
                y = UnsafePointer(shifted)
            }
            let h = UnsafePointer(base + layout.observation), r = UnsafePointer(base + layout.observationCovariance)
            switch (n, m) {
            case (2, 2): return Self.kernel(Fixed2.self, Fixed2.self, base, layout, n, m, first, b, y, h, r)
            case (4, 2): return Self.kernel(Fixed4.self, Fixed2.self, base, layout, n, m, first, b, y, h, r)
            case (1, 1): return Self.kernel(Fixed1.self, Fixed1.self, base, layout, n, m, first, b, y, h, r)
            case (3, 2): return Self.kernel(Fixed3.self, Fixed2.self, base, layout, n, m, first, b, y, h, r)
            case (6, 2): return Self.kernel(Fixed6.self, Fixed2.self, base, layout, n, m, first, b, y, h, r)
            case (2, 1): return Self.kernel(Fixed2.self, Fixed1.self, base, layout, n, m, first, b, y, h, r)
            case (4, 4): return Self.kernel(Fixed4.self, Fixed4.self, base, layout, n, m, first, b, y, h, r)
            default: return Self.kernel(RuntimeDimension.self, RuntimeDimension.self, base, layout, n, m, first, b, y, h, r)
            }
        }
    }

    /// An observation reduced to its observed components (MODEL.md, "Missing components"):
    /// y_o − d_o, the rows H_o and R_oo, and (for the diffuse step) R_oo's Cholesky factor L_o,
    /// L_o⁻¹·H_o and log|L_o|. Whole observations use the stored H and R (and their factor)
    /// directly; partial ones are gathered into scratch. Allocates nothing.
    @usableFromInline
    struct ObservedComponents {
        /// How many components are observed (0: a masked step).
        var count: Int
        /// y_o − d_o, or nil for a masked step.
        var values: UnsafePointer<Double>?
        /// H_o (count×n) and R_oo (count×count), row-major.
        var observation, covariance: UnsafePointer<Double>
        /// For the diffuse step: L_o, L_o⁻¹·H_o and log|L_o|.
        var factor, scaledObservation: UnsafePointer<Double>
        var halfLogDeterminant: Double
    }

    @inline(__always) @usableFromInline
    static func observedComponents(
        _ base: UnsafeMutablePointer<Double>, _ layout: Layout, _ n: Int, _ m: Int, _ observation: UnsafePointer<Double>?,
        _ presence: Presence, subtractOffset: Bool, forDiffuse: Bool
    ) -> ObservedComponents {
        let d = base + layout.observationOffset, selected = base + layout.selectedValues
        var result = ObservedComponents(
            count: m, values: nil, observation: base + layout.observation, covariance: base + layout.observationCovariance,
            factor: base + layout.observationFactor, scaledObservation: base + layout.scaledObservation,
            halfLogDeterminant: base[layout.observationHalfLogDeterminant])
        guard let observation else { result.count = 0; return result }
        switch presence {
        case .none:
            result.count = 0
        case .whole:
            for i in 0..<m { selected[i] = observation[i] - (subtractOffset ? d[i] : 0) }
            result.values = UnsafePointer(selected)
        case .partial(let count):
            let h = base + layout.observation, r = base + layout.observationCovariance
            let selectedH = base + layout.selectedObservation, selectedR = base + layout.selectedCovariance
            var row = 0
            for i in 0..<m where !observation[i].isNaN {
                selected[row] = observation[i] - (subtractOffset ? d[i] : 0)
                (selectedH + row * n).update(from: h + i * n, count: n)
                var column = 0
                for j in 0..<m where !observation[j].isNaN {
                    selectedR[row * count + column] = r[i * m + j]
                    column += 1
                }
                row += 1
            }
            result = ObservedComponents(
                count: count, values: UnsafePointer(selected), observation: selectedH, covariance: selectedR,
                factor: base + layout.selectedFactor, scaledObservation: base + layout.selectedScaled, halfLogDeterminant: 0)
            if forDiffuse {
                // R_oo is a principal block of the positive definite R: positive definite too.
                let factor = base + layout.selectedFactor, scaled = base + layout.selectedScaled
                result.halfLogDeterminant = SmallLinearAlgebra.cholesky(selectedR, into: factor, count) ?? 0
                scaled.update(from: selectedH, count: count * n)
                SmallLinearAlgebra.solveLower(factor, scaled, count, columns: n)
            }
        }
        return result
    }

    /// The filter step of MODEL.md on raw storage; `N` and `M` fix n and m at compile time
    /// where they can.
    @inline(never)
    /// - Parameters:
    ///   - transitionOffset: b for this step's prediction, or nil for none.
    ///   - observation: the observed components less d (`runtimeM` of them), or nil when masked.
    ///   - h, r: their rows of H (`runtimeM`×n) and R (`runtimeM`×`runtimeM`).
    static func kernel<N: KernelDimension, M: KernelDimension>(
        _: N.Type, _: M.Type, _ base: UnsafeMutablePointer<Double>, _ layout: Layout,
        _ runtimeN: Int, _ runtimeM: Int, _ first: Bool, _ transitionOffset: UnsafePointer<Double>?,
        _ observation: UnsafePointer<Double>?, _ h: UnsafePointer<Double>, _ r: UnsafePointer<Double>
    ) -> KernelOutcome {
        let n = N.resolve(runtimeN), m = M.resolve(runtimeM)
        let mean = base + layout.mean, covariance = base + layout.covariance
        let predictedMean = base + layout.predictedMean, predictedCovariance = base + layout.predictedCovariance
        typealias LA = SmallLinearAlgebra
        if first {
            predictedMean.update(from: base + layout.startMean, count: n)
            predictedCovariance.update(from: base + layout.initialCovariance, count: n * n)
        } else {
            // Σ_pred = D Σ Dᵀ + Q, computed on the upper triangle and mirrored (exactly symmetric).
            let d = base + layout.transition, q = base + layout.transitionCovariance
            let scratch = base + layout.scratchNN
            LA.multiply(d, vector: mean, into: predictedMean, rows: n, columns: n)
            if let b = transitionOffset { for i in 0..<n { predictedMean[i] += b[i] } }
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

    /// One step of the exact diffuse filter (MODEL.md, "Start rule"): the covariance is
    /// κ·P∞ + P* with κ → ∞; the observation is taken one component at a time on L⁻¹·y
    /// (Koopman & Durbin 2000), so a singular F∞ = H·P∞·Hᵀ needs no special case. Runs only
    /// for the first few steps of a sequence, with runtime bounds.
    /// - Returns: the outcome, and whether P∞ reached zero (the state is identified).
    /// - Parameters:
    ///   - transitionOffset: b for this step's prediction (not the first's), or nil for none.
    ///   - observed: the step's observed components (`observedComponents`).
    static func diffuseKernel(
        _ base: UnsafeMutablePointer<Double>, _ layout: Layout, _ n: Int, _ first: Bool,
        _ transitionOffset: UnsafePointer<Double>?, _ observed: ObservedComponents
    ) -> (KernelOutcome, identified: Bool) {
        typealias LA = SmallLinearAlgebra
        let mean = base + layout.mean, pStar = base + layout.covariance, pInfinity = base + layout.diffuse
        let predictedMean = base + layout.predictedMean, predictedStar = base + layout.predictedCovariance
        let predictedInfinity = base + layout.predictedDiffuse, size = n * n
        if first {
            predictedMean.update(repeating: 0, count: n)
            predictedStar.update(repeating: 0, count: size)
            predictedInfinity.update(repeating: 0, count: size)
            for i in 0..<n { predictedInfinity[i * n + i] = 1 }
        } else {
            let d = base + layout.transition, q = base + layout.transitionCovariance, scratch = base + layout.scratchNN
            LA.multiply(d, vector: mean, into: predictedMean, rows: n, columns: n)
            if let b = transitionOffset { for i in 0..<n { predictedMean[i] += b[i] } }
            LA.multiply(d, pStar, into: scratch, rows: n, inner: n, columns: n)
            LA.multiplyTransposed(scratch, d, into: predictedStar, rows: n, inner: n, columns: n)
            for i in 0..<size { predictedStar[i] += q[i] }
            LA.symmetrize(predictedStar, n)
            LA.multiply(d, pInfinity, into: scratch, rows: n, inner: n, columns: n)
            LA.multiplyTransposed(scratch, d, into: predictedInfinity, rows: n, inner: n, columns: n)
            LA.symmetrize(predictedInfinity, n)
            var sum = 0.0
            for i in 0..<n { sum += predictedMean[i] + predictedStar[i * n + i] + predictedInfinity[i * n + i] }
            guard sum.isFinite else {
                mean.update(from: predictedMean, count: n)
                pStar.update(from: predictedStar, count: size)
                pInfinity.update(from: predictedInfinity, count: size)
                return (.nonFinite, false)
            }
        }
        mean.update(from: predictedMean, count: n)
        pStar.update(from: predictedStar, count: size)
        pInfinity.update(from: predictedInfinity, count: size)
        var scale = 0.0
        for i in 0..<n { scale = max(scale, pInfinity[i * n + i]) }
        guard scale > 0 else { return (.updated(0), true) }  // D forgot the start (e.g. D = 0)
        guard let observation = observed.values else { return (.updated(0), false) }

        let m = observed.count, scaled = observed.scaledObservation, y = base + layout.innovation
        for i in 0..<m { y[i] = observation[i] }
        LA.solveLower(observed.factor, y, m, columns: 1)
        let mInfinity = base + layout.scratchN, mStar = mInfinity + n
        var logLikelihood = -observed.halfLogDeterminant
        for component in 0..<m {
            let z = scaled + component * n
            var innovation = y[component], zz = 0.0
            for j in 0..<n { innovation -= z[j] * mean[j]; zz += z[j] * z[j] }
            LA.multiply(pInfinity, vector: z, into: mInfinity, rows: n, columns: n)
            LA.multiply(pStar, vector: z, into: mStar, rows: n, columns: n)
            var fInfinity = 0.0, fStar = 1.0
            for j in 0..<n { fInfinity += z[j] * mInfinity[j]; fStar += z[j] * mStar[j] }
            if fInfinity > Self.diffuseTolerance * zz * scale {
                // K = M∞/F∞: a += K v, P* += K Kᵀ F* − K M*ᵀ − M* Kᵀ, P∞ −= K M∞ᵀ.
                for i in 0..<n {
                    let gain = mInfinity[i] / fInfinity
                    mean[i] += gain * innovation
                    for j in 0..<n {
                        let gainJ = mInfinity[j] / fInfinity
                        pStar[i * n + j] += gain * gainJ * fStar - gain * mStar[j] - mStar[i] * gainJ
                        pInfinity[i * n + j] -= gain * mInfinity[j]
                    }
                }
                logLikelihood -= 0.5 * (logTwoPi + fInfinity.logarithm)
            } else {
                for i in 0..<n {
                    mean[i] += mStar[i] * innovation / fStar
                    for j in 0..<n { pStar[i * n + j] -= mStar[i] * mStar[j] / fStar }
                }
                logLikelihood -= 0.5 * (logTwoPi + fStar.logarithm + innovation * innovation / fStar)
            }
        }
        LA.symmetrize(pStar, n)
        LA.symmetrize(pInfinity, n)
        var remaining = 0.0
        for i in 0..<n { remaining = max(remaining, pInfinity[i * n + i]) }
        let identified = remaining <= Self.diffuseTolerance * scale
        if identified { pInfinity.update(repeating: 0, count: size) }
        return (.updated(logLikelihood), identified)
    }

    /// Relative size below which a diffuse variance (F∞, or what is left of P∞ after a step's
    /// updates) counts as zero: rounding leaves about 1e-16 of the step's P∞.
    @usableFromInline static let diffuseTolerance = 1e-9

    @usableFromInline static let logTwoPi = (2 * Double.pi).logarithm

    // MARK: Reading the state

    /// Whether the state has a finite estimate: false before a diffuse start has been identified
    /// by enough observations (`mean` and `covariance` are then only the finite part, and
    /// `diffuseCovariance` is not zero); always true for the other start rules.
    public var hasEstimate: Bool {
        if case .diffuse = phase { return false }
        return true
    }

    /// Whether the estimate in observation space, H·mean with H·Σ·Hᵀ, is finite: true once the
    /// observed part of the state is known (for position and velocity, after the first observed
    /// sample), though the velocity may not be yet.
    public var hasObservationEstimate: Bool {
        guard case .diffuse(let first) = phase else { return true }
        if first { return false }
        let n = stateDimension, m = observationDimension
        return withStorage { base, layout in
            var scale = 0.0, largest = 0.0
            let h = base + layout.observation, p = base + layout.diffuse
            for i in 0..<n { scale = max(scale, p[i * n + i]) }
            for row in 0..<m {
                var norm = 0.0, value = 0.0
                for a in 0..<n {
                    norm += h[row * n + a] * h[row * n + a]
                    for b in 0..<n { value += h[row * n + a] * p[a * n + b] * h[row * n + b] }
                }
                largest = max(largest, value / max(norm, .leastNormalMagnitude))
            }
            return largest <= Self.diffuseTolerance * max(scale, .leastNormalMagnitude)
        }
    }

    /// P∞, the diffuse part of the filtered covariance (κ·P∞ + Σ with κ → ∞); zero once the
    /// state is identified and for the other start rules.
    public var diffuseCovariance: Matrix {
        Matrix(rows: stateDimension, columns: stateDimension, elements: slice(layout.diffuse, stateDimension * stateDimension))
    }

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

    /// Writes the estimate in observation space: H·mean + d (m values) and H·Σ·Hᵀ (m×m, row-major).
    ///
    /// For gaze this is the cleaned (x, y) and the covariance of that estimate.

    public func observationEstimate(mean estimate: UnsafeMutablePointer<Double>, covariance estimateCovariance: UnsafeMutablePointer<Double>) {
        let n = stateDimension, m = observationDimension
        withStorage { base, layout in
            SmallLinearAlgebra.observationEstimate(
                observation: base + layout.observation, offset: base + layout.observationOffset, mean: base + layout.mean,
                covariance: base + layout.covariance, into: estimate, covariance: estimateCovariance, n, m)
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

    /// Copies this step's predicted and filtered P∞ into caller storage (batch filter, diffuse start).
    func copyDiffuseMoments(predicted: UnsafeMutablePointer<Double>, filtered: UnsafeMutablePointer<Double>) {
        let size = stateDimension * stateDimension
        withStorage { base, layout in
            predicted.update(from: base + layout.predictedDiffuse, count: size)
            filtered.update(from: base + layout.diffuse, count: size)
        }
    }

    /// Takes step t of `sequence`, ignoring failures (a failed step keeps the prediction).
    mutating func predictOnlyOrStep(_ sequence: ObservationSequence, _ t: Int) {
        let m = observationDimension
        sequence.values.withUnsafeBufferPointer { values in
            _ = advance(observation: sequence.mask[t] ? nil : values.baseAddress! + t * m)
        }
    }

    /// Puts the filter in its ordinary phase at this mean and covariance (EM's E-step hands the
    /// state back after a stretch it stepped itself).
    mutating func setRegularState(mean: UnsafePointer<Double>, covariance: UnsafePointer<Double>) {
        let n = stateDimension, layout = self.layout
        storage.withUnsafeMutableBufferPointer { buffer in
            (buffer.baseAddress! + layout.mean).update(from: mean, count: n)
            (buffer.baseAddress! + layout.covariance).update(from: covariance, count: n * n)
        }
        phase = .regular
    }

    /// Whether the filter is still waiting for the first observed sample (the course's rule).
    var isAwaitingSample: Bool { phase == .awaitingSample }

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
        @usableFromInline let scratchNN, scratchMN, scratchMM, factorMM, innovation: Int
        /// The start rule's parts: the mean step 0 starts from, the diffuse P∞ (filtered and
        /// predicted), R's Cholesky factor L, L⁻¹·H, log|L|, and two n-vectors of scratch.
        @usableFromInline let startMean, diffuse, predictedDiffuse, observationFactor, scaledObservation: Int
        @usableFromInline let observationHalfLogDeterminant, scratchN: Int
        /// The offsets b and d, and scratch for a step's observed components: y_o − d_o, H_o,
        /// R_oo, R_oo's Cholesky factor and its L⁻¹·H_o (MODEL.md, "Missing components").
        @usableFromInline let transitionOffset, observationOffset, selectedValues, selectedObservation, selectedCovariance: Int
        @usableFromInline let selectedFactor, selectedScaled, count: Int

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
            startMean = take(n); diffuse = take(n * n); predictedDiffuse = take(n * n)
            observationFactor = take(m * m); scaledObservation = take(m * n)
            observationHalfLogDeterminant = take(1); scratchN = take(2 * n)
            transitionOffset = take(n); observationOffset = take(m); selectedValues = take(m)
            selectedObservation = take(m * n); selectedCovariance = take(m * m); selectedFactor = take(m * m); selectedScaled = take(m * n)
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
