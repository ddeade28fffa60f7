/// What the M-step needs from the E-step, summed over the steps of one sequence or of many:
/// the smoothed moments in a frame shifted by a constant (c in the state, c_y in the
/// observations; MODEL.md "EM"), so that sums over long recordings far from the origin keep
/// their precision, and each sequence's first state for mu_0 and sigma_0. A partly observed
/// step enters with its missing components' conditional moments (MODEL.md, "Missing
/// components"): y stands for E[y | data] and the squares and cross products for their expectations.
///
/// Stored flat in caller storage at `SufficientStatistics.Layout` offsets, so that the
/// per-sequence statistics of a whole E-step are one buffer, summed in sequence order.
struct SufficientStatistics {
    /// Offsets into one sequence's block of statistics.
    struct Layout: Sendable {
        let n: Int, m: Int
        /// Counts: observed steps, transitions; the sequence's log-likelihood.
        let observedSteps, transitions, logLikelihood: Int
        /// Over observed steps: Σ ỹỹᵀ (m×m), Σ ỹ x̃ᵀ (m×n), Σ (Σ_s + x̃x̃ᵀ) (n×n), Σ ỹ (m), Σ x̃ (n).
        let observationSquares, observationCross, observedStateSquares, observationSum, observedStateSum: Int
        /// Over all steps: Σ (Σ_s + x̃x̃ᵀ), and that term at the first and last step; Σ (V_{t+1,t} + x̃_{t+1} x̃_tᵀ);
        /// Σ x̃ over all steps, and x̃ at the first and last step.
        let stateSquares, firstStateSquares, lastStateSquares, lagCross, stateSum, firstState, lastState: Int
        /// The first step's smoothed mean and covariance, unshifted, and the mean it started from.
        let firstMean, firstCovariance, startMean: Int
        /// With per-step transition offsets b_t, over the transitions t → t+1: Σ b_t x̃_tᵀ,
        /// Σ b_t x̃_{t+1}ᵀ (n×n), Σ b_t (n), Σ b_t b_tᵀ (n×n). Zero otherwise (the M-step
        /// makes them from the constant b).
        let offsetStateCross, offsetNextStateCross, offsetSum, offsetSquares: Int
        let count: Int

        init(n: Int, m: Int) {
            self.n = n
            self.m = m
            var next = 0
            func take(_ size: Int) -> Int { defer { next += size }; return next }
            observedSteps = take(1); transitions = take(1); logLikelihood = take(1)
            observationSquares = take(m * m); observationCross = take(m * n); observedStateSquares = take(n * n)
            observationSum = take(m); observedStateSum = take(n)
            stateSquares = take(n * n); firstStateSquares = take(n * n); lastStateSquares = take(n * n); lagCross = take(n * n)
            stateSum = take(n); firstState = take(n); lastState = take(n)
            firstMean = take(n); firstCovariance = take(n * n); startMean = take(n)
            offsetStateCross = take(n * n); offsetNextStateCross = take(n * n); offsetSum = take(n); offsetSquares = take(n * n)
            count = next
        }

    }
}

/// The shifts of EM's sums, one per sequence: c_k in state space, c_y,k in observation space
/// (MODEL.md "EM"). Within a trial the gaze wanders tens of pixels; across trials, the whole
/// screen: sums taken about each trial's own centre keep the M-step's differences exact to
/// about 1e-12 where sums about the origin (or one centre) lose four to six more digits.
struct StatisticsShift: Sendable {
    var states: [[Double]]
    var observations: [[Double]]

    /// c_y,k = the sequence's mean observed value per component, c_k = H_o⁺ (c_y,k − d)_o over
    /// the components observed at all (o); a component never observed takes (H c_k + d).
    init(_ sequences: [ObservationSequence], observation h: Matrix, offset d: [Double]) {
        let m = h.rows, n = h.columns
        var states: [[Double]] = [], observations: [[Double]] = []
        for sequence in sequences {
            var sum = [Double](repeating: 0, count: m), count = [Double](repeating: 0, count: m)
            for t in 0..<sequence.count where !sequence.mask[t] {
                for i in 0..<m where sequence.isObserved(t, component: i) {
                    sum[i] += sequence.values[t * m + i]
                    count[i] += 1
                }
            }
            let seen = (0..<m).filter { count[$0] > 0 }
            var mean = (0..<m).map { count[$0] > 0 ? sum[$0] / count[$0] : 0 }
            var rows = Matrix(rows: seen.count, columns: n)
            for (k, i) in seen.enumerated() { for j in 0..<n { rows[k, j] = h[i, j] } }
            let state = seen.isEmpty ? [Double](repeating: 0, count: n)
                : SymmetricEigen(rows.transposed * rows).pseudoInverse * (rows.transposed * seen.map { mean[$0] - d[$0] })
            let predicted = h * state
            for i in 0..<m where count[i] == 0 { mean[i] = predicted[i] + d[i] }
            states.append(state)
            observations.append(mean)
        }
        self.states = states
        self.observations = observations
    }
}

extension ModelParameters {
    /// The M-step from each sequence's statistics: new values for the fitted parameters in
    /// MODEL.md's (pykalman's) order H, R, D, Q, mu_0, sigma_0, b, d, each with the newest values
    /// of those before it (H and R use the current d, D and Q the current b, per step when given
    /// per step); a parameter with nothing to learn from keeps its value. With `jointOffsets`,
    /// D and b (and H and d) fitted together are one block, updated at D's (H's) place as the
    /// regression on the state and a constant.
    /// - Parameter blocks: `sequences` blocks of `layout.count`, sequence k's sums about its shift k.
    func maximized(blocks: UnsafePointer<Double>, sequences: Int, layout: SufficientStatistics.Layout,
                   shift: StatisticsShift, fitting: FittedParameters, start: StartRule, jointOffsets: Bool) -> ModelParameters {
        let n = layout.n, m = layout.m
        func matrix(_ block: UnsafePointer<Double>, _ offset: Int, _ rows: Int, _ columns: Int) -> Matrix {
            Matrix(rows: rows, columns: columns, elements: Array(UnsafeBufferPointer(start: block + offset, count: rows * columns)))
        }
        func vector(_ block: UnsafePointer<Double>, _ offset: Int, _ count: Int) -> [Double] {
            Array(UnsafeBufferPointer(start: block + offset, count: count))
        }
        func outer(_ a: [Double], _ b: [Double]) -> Matrix {
            Matrix(rows: a.count, columns: b.count, elements: a.flatMap { x in b.map { x * $0 } })
        }
        func plus(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map(+) }
        func minus(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map(-) }
        func scaled(_ a: [Double], _ s: Double) -> [Double] { a.map { $0 * s } }
        func block(_ k: Int) -> UnsafePointer<Double> { blocks + k * layout.count }
        /// The regression of a on b and a constant from each sequence's sums about its shifts
        /// (count, Σ ã, Σ b̃, Σ ã b̃ᵀ, Σ b̃ b̃ᵀ with their covariance terms, shifts c_a, c_b), taken
        /// about the overall means so that screen-sized coordinates cost no digits: (A, a₀) with
        /// E[a] = A b + a₀.
        func regression(_ parts: [(count: Double, a: [Double], b: [Double], cross: Matrix, squares: Matrix, ca: [Double], cb: [Double])])
            -> (coefficient: Matrix, intercept: [Double]) {
            let total = parts.reduce(0) { $0 + $1.count }
            let meanA = scaled(parts.reduce([Double](repeating: 0, count: parts[0].a.count)) { plus($0, plus($1.a, scaled($1.ca, $1.count))) }, 1 / total)
            let meanB = scaled(parts.reduce([Double](repeating: 0, count: parts[0].b.count)) { plus($0, plus($1.b, scaled($1.cb, $1.count))) }, 1 / total)
            var cross = Matrix(rows: meanA.count, columns: meanB.count), moment = Matrix(rows: meanB.count, columns: meanB.count)
            for part in parts where part.count > 0 {
                let da = minus(part.ca, meanA), db = minus(part.cb, meanB)
                cross = cross + part.cross + outer(da, part.b) + outer(part.a, db) + part.count * outer(da, db)
                moment = moment + part.squares + outer(db, part.b) + outer(part.b, db) + part.count * outer(db, db)
            }
            let coefficient = cross * SymmetricEigen(moment).pseudoInverse
            return (coefficient, minus(meanA, coefficient * meanB))
        }
        var next = self
        var observed = 0.0, transitions = 0.0
        for k in 0..<sequences {
            observed += block(k)[layout.observedSteps]
            transitions += block(k)[layout.transitions]
        }
        let jointObservation = jointOffsets && fitting.isSuperset(of: [.observation, .observationOffset])
        let jointTransition = jointOffsets && fitting.isSuperset(of: [.transition, .transitionOffset])
        if observed > 0 {
            let d = observationOffset
            if jointObservation {
                // (H, d) together: E[y_t | data] on mu_s_t and a constant, over the observed steps.
                (next.observation, next.observationOffset) = regression((0..<sequences).map { k in
                    let b = block(k)
                    return (b[layout.observedSteps], vector(b, layout.observationSum, m), vector(b, layout.observedStateSum, n),
                            matrix(b, layout.observationCross, m, n), matrix(b, layout.observedStateSquares, n, n),
                            shift.observations[k], shift.states[k])
                })
            } else if fitting.contains(.observation) {
                // Σ (y − d) μᵀ and Σ P_t about the origin (sums of products: no cancellation).
                var cross = Matrix(rows: m, columns: n), moment = Matrix(rows: n, columns: n)
                for k in 0..<sequences {
                    let b = block(k), count = b[layout.observedSteps], c = shift.states[k], cy = shift.observations[k]
                    guard count > 0 else { continue }
                    let sy = vector(b, layout.observationSum, m), sx = vector(b, layout.observedStateSum, n)
                    cross = cross + matrix(b, layout.observationCross, m, n) + outer(cy, sx) + outer(sy, c) + count * outer(cy, c)
                        - outer(d, plus(sx, scaled(c, count)))
                    moment = moment + matrix(b, layout.observedStateSquares, n, n) + outer(c, sx) + outer(sx, c) + count * outer(c, c)
                }
                next.observation = cross * SymmetricEigen(moment).pseudoInverse
            }
            if fitting.contains(.observationCovariance) {
                // Per sequence: Σ (ỹ − H x̃ + g)(…)ᵀ + H Σ_s Hᵀ with g = c_y − H c − d.
                let h = next.observation, d = next.observationOffset
                var total = Matrix(rows: m, columns: m)
                for k in 0..<sequences {
                    let b = block(k), count = b[layout.observedSteps], c = shift.states[k], cy = shift.observations[k]
                    guard count > 0 else { continue }
                    let syx = matrix(b, layout.observationCross, m, n), sxx = matrix(b, layout.observedStateSquares, n, n)
                    let g = minus(minus(cy, h * c), d), u = minus(vector(b, layout.observationSum, m), h * vector(b, layout.observedStateSum, n))
                    let hCross = h * syx.transposed
                    total = total + matrix(b, layout.observationSquares, m, m) - hCross - hCross.transposed + h * sxx * h.transposed
                        + outer(g, u) + outer(u, g) + count * outer(g, g)
                }
                next.observationCovariance = ((1 / observed) * total).symmetrized
            }
        }
        // Per sequence: S00 = Σ_{t<T−1} (Σ_s_t + x̃x̃ᵀ), S11 = Σ_{t≥1}, S10 = Σ (V + x̃_{t+1} x̃_tᵀ), s0, s1.
        func parts(_ b: UnsafePointer<Double>) -> (s00: Matrix, s11: Matrix, s10: Matrix, s0: [Double], s1: [Double]) {
            let all = matrix(b, layout.stateSquares, n, n), sum = vector(b, layout.stateSum, n)
            return (all - matrix(b, layout.lastStateSquares, n, n), all - matrix(b, layout.firstStateSquares, n, n),
                    matrix(b, layout.lagCross, n, n),
                    minus(sum, vector(b, layout.lastState, n)), minus(sum, vector(b, layout.firstState, n)))
        }
        if transitions > 0 {
            if jointTransition {
                // (D, b) together: mu_s_{t+1} on mu_s_t and a constant, over the transitions.
                (next.transition, next.transitionOffset) = regression((0..<sequences).map { k in
                    let b = block(k), p = parts(b)
                    return (b[layout.transitions], p.s1, p.s0, p.s10, p.s00, shift.states[k], shift.states[k])
                })
                next.transitionOffsets = nil
            } else if fitting.contains(.transition) {
                // Σ (s_{t+1} − b_t) s_tᵀ and Σ P_t about the origin.
                var cross = Matrix(rows: n, columns: n), moment = Matrix(rows: n, columns: n)
                for k in 0..<sequences {
                    let b = block(k), count = b[layout.transitions], c = shift.states[k]
                    guard count > 0 else { continue }
                    let p = parts(b), o = offsetParts(b, p, count, layout)
                    cross = cross + p.s10 + outer(c, p.s0) + outer(p.s1, c) + count * outer(c, c) - o.state - outer(o.sum, c)
                    moment = moment + p.s00 + outer(c, p.s0) + outer(p.s0, c) + count * outer(c, c)
                }
                next.transition = cross * SymmetricEigen(moment).pseudoInverse
            }
            if fitting.contains(.transitionCovariance) {
                // Per sequence: Σ (e'_t − b_t)(…)ᵀ + the covariance terms, e'_t = x̃_{t+1} − D x̃_t + g, g = (I − D) c.
                let dynamics = next.transition
                var total = Matrix(rows: n, columns: n)
                for k in 0..<sequences {
                    let b = block(k), count = b[layout.transitions], c = shift.states[k]
                    guard count > 0 else { continue }
                    let p = parts(b), o = next.offsetParts(b, p, count, layout)
                    let g = minus(c, dynamics * c), u = minus(p.s1, dynamics * p.s0)
                    let dCross = dynamics * p.s10.transposed
                    let offsetResidual = o.nextState - o.state * dynamics.transposed + outer(o.sum, g)  // Σ b_t e'_tᵀ
                    total = total + p.s11 - dCross - dCross.transposed + dynamics * p.s00 * dynamics.transposed
                        + outer(g, u) + outer(u, g) + count * outer(g, g)
                        - offsetResidual - offsetResidual.transposed + o.squares
                }
                next.transitionCovariance = ((1 / transitions) * total).symmetrized
            }
        }
        let k = Double(sequences)
        if fitting.contains(.initialMean) {
            var mean = [Double](repeating: 0, count: n)
            for s in 0..<sequences { for i in 0..<n { mean[i] += block(s)[layout.firstMean + i] } }
            next.initialMean = mean.map { $0 / k }
        }
        if fitting.contains(.initialCovariance) {
            var covariance = Matrix(rows: n, columns: n)
            for s in 0..<sequences {
                let b = block(s)
                for i in 0..<n {
                    // The course's rule starts each sequence at its own first sample, not at mu_0.
                    let di = b[layout.firstMean + i] - (start == .firstSample ? b[layout.startMean + i] : next.initialMean[i])
                    for j in 0..<n {
                        let dj = b[layout.firstMean + j] - (start == .firstSample ? b[layout.startMean + j] : next.initialMean[j])
                        covariance[i, j] += b[layout.firstCovariance + i * n + j] + di * dj
                    }
                }
            }
            next.initialCovariance = ((1 / k) * covariance).symmetrized
        }
        if fitting.contains(.transitionOffset) && transitions > 0 && !jointTransition {
            // b = 1/(T−1) Σ (s_{t+1} − D s_t), with the new D; one constant vector from now on.
            let dynamics = next.transition
            var sum = [Double](repeating: 0, count: n)
            for s in 0..<sequences {
                let b = block(s), count = b[layout.transitions], c = shift.states[s]
                guard count > 0 else { continue }
                let p = parts(b)
                sum = plus(sum, minus(plus(p.s1, scaled(c, count)), dynamics * plus(p.s0, scaled(c, count))))
            }
            next.transitionOffset = scaled(sum, 1 / transitions)
            next.transitionOffsets = nil
        }
        if fitting.contains(.observationOffset) && observed > 0 && !jointObservation {
            // d = 1/|O| Σ (E[y_t | data] − H μ_s_t), with the new H.
            let h = next.observation
            var sum = [Double](repeating: 0, count: m)
            for s in 0..<sequences {
                let b = block(s), count = b[layout.observedSteps], c = shift.states[s], cy = shift.observations[s]
                guard count > 0 else { continue }
                let sy = vector(b, layout.observationSum, m), sx = vector(b, layout.observedStateSum, n)
                sum = plus(sum, minus(plus(sy, scaled(cy, count)), h * plus(sx, scaled(c, count))))
            }
            next.observationOffset = scaled(sum, 1 / observed)
        }
        return next
    }

    /// The transition offsets' sums over one sequence's transitions, Σ b_t x̃_tᵀ, Σ b_t x̃_{t+1}ᵀ,
    /// Σ b_t, Σ b_t b_tᵀ, for these parameters' offsets: the E-step's sums with per-step offsets,
    /// else made from the constant b and the state sums s0 = Σ_{t<T−1} x̃_t, s1 = Σ_{t≥1} x̃_t.
    func offsetParts(_ b: UnsafePointer<Double>, _ p: (s00: Matrix, s11: Matrix, s10: Matrix, s0: [Double], s1: [Double]), _ count: Double,
                     _ layout: SufficientStatistics.Layout) -> (state: Matrix, nextState: Matrix, sum: [Double], squares: Matrix) {
        let n = layout.n
        func matrix(_ offset: Int) -> Matrix { Matrix(rows: n, columns: n, elements: Array(UnsafeBufferPointer(start: b + offset, count: n * n))) }
        func outer(_ a: [Double], _ c: [Double]) -> Matrix { Matrix(rows: a.count, columns: c.count, elements: a.flatMap { x in c.map { x * $0 } }) }
        if transitionOffsets != nil {
            return (matrix(layout.offsetStateCross), matrix(layout.offsetNextStateCross),
                    Array(UnsafeBufferPointer(start: b + layout.offsetSum, count: n)), matrix(layout.offsetSquares))
        }
        return (outer(transitionOffset, p.s0), outer(transitionOffset, p.s1), transitionOffset.map { $0 * count }, count * outer(transitionOffset, transitionOffset))
    }
}
