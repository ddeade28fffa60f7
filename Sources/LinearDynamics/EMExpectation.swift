import Dispatch

/// EM's E-step: filter and smooth each sequence and sum what the M-step needs, without keeping
/// the smoother's output (MODEL.md "EM"). Sequences are independent and run on all cores; the
/// sums are made per sequence and added in sequence order, so the result does not depend on
/// the number of threads or their timing.
///
/// For a time-invariant model the covariances, gains and J_t depend only on the mask pattern
/// and settle within tens of steps of each start or masked run; once a predicted covariance
/// repeats to `steadyTolerance`, the filter steps only the mean with the settled gain until the
/// next masked step, and the smoother reuses J_t and, once it repeats, Σ_s_t (the saving is
/// exact to about 1e-12; `reuseSteadyState: false` computes every step in full). Partly observed
/// steps are filtered on their observed components and enter the sums with the missing
/// components' conditional moments (MODEL.md, "Missing components").
struct ExpectationStep: Sendable {
    let parameters: ModelParameters
    let start: StartRule
    let layout: SufficientStatistics.Layout
    let shift: StatisticsShift
    /// Where each sequence starts in the sequence it was cut from: row `firstSteps[k] + t` of
    /// per-step transition offsets is the offset of sequence k's step t → t+1.
    let firstSteps: [Int]
    let reuseSteadyState: Bool

    /// Relative change of a predicted (or smoothed) covariance between steps below which it counts as settled.
    static let steadyTolerance = 1e-14

    /// Runs the E-step over `sequences` on up to `workers` threads, into `statistics`
    /// (`sequences.count` blocks of `layout.count`); returns the first failure by sequence index.
    func run(_ sequences: [ObservationSequence], workers: Int, into statistics: UnsafeMutableBufferPointer<Double>) -> (sequence: Int, KalmanError)? {
        let count = sequences.count, threads = max(1, min(workers, count))
        let failures = FailureSlots(count: threads)
        let longest = sequences.reduce(0) { max($0, $1.count) }
        let output = SequenceBlocks(base: statistics.baseAddress!)
        let body: @Sendable (Int) -> Void = { worker in
            var workspace = Workspace(n: parameters.stateDimension, m: parameters.observationDimension, steps: longest)
            var online = OnlineKalmanFilter(parameters: parameters, start: start)
            var index = worker
            while index < count {
                let block = output.base + index * layout.count
                if let error = sequenceStatistics(sequences[index], index: index, online: &online, workspace: &workspace, into: block) {
                    failures.record(worker: worker, sequence: index, error)
                    return
                }
                index += threads
            }
        }
        if threads == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: threads, execute: body) }
        return failures.first
    }

    /// Storage for one sequence's forward pass, reused across sequences by one worker.
    struct Workspace {
        var filteredMeans: [Double], predictedMeans: [Double], entry: [Int]
        /// Covariances of the steps computed in full (filtered, predicted), one entry per such step.
        var filteredCovariances: [Double] = [], predictedCovariances: [Double] = []
        /// P∞ of the filtered state at the steps of a diffuse start that are not identified.
        var diffuse: [Double] = []
        /// The backward pass's n×n and n-sized blocks, then room for a partly observed step's
        /// residuals and G_t Σ_s_t (m + m·n).
        var scratch: [Double]
        /// The missing components' conditional moments per pattern (this E-step's parameters).
        let missingPatterns = MissingPatternCache()

        init(n: Int, m: Int, steps: Int) {
            filteredMeans = [Double](repeating: 0, count: steps * n)
            predictedMeans = [Double](repeating: 0, count: steps * n)
            entry = [Int](repeating: 0, count: steps)
            filteredCovariances.reserveCapacity(64 * n * n)
            predictedCovariances.reserveCapacity(64 * n * n)
            scratch = [Double](repeating: 0, count: 16 * n * n + 16 * n + 64 + m * n + 2 * m)
        }
    }

    /// Filters and smooths one sequence and writes its statistics block; nil, or the filter's failure.
    func sequenceStatistics(_ sequence: ObservationSequence, index: Int, online: inout OnlineKalmanFilter, workspace: inout Workspace,
                            into block: UnsafeMutablePointer<Double>) -> KalmanError? {
        let n = parameters.stateDimension, m = parameters.observationDimension
        switch (n, m) {
        case (2, 2): return pass(Fixed2.self, Fixed2.self, sequence, index, &online, &workspace, block)
        case (4, 2): return pass(Fixed4.self, Fixed2.self, sequence, index, &online, &workspace, block)
        case (2, 4): return pass(Fixed2.self, Fixed4.self, sequence, index, &online, &workspace, block)  // both eyes
        case (4, 4): return pass(Fixed4.self, Fixed4.self, sequence, index, &online, &workspace, block)
        default: return pass(RuntimeDimension.self, RuntimeDimension.self, sequence, index, &online, &workspace, block)
        }
    }

    @inline(never)
    func pass<N: KernelDimension, M: KernelDimension>(
        _: N.Type, _: M.Type, _ sequence: ObservationSequence, _ index: Int, _ online: inout OnlineKalmanFilter,
        _ workspace: inout Workspace, _ block: UnsafeMutablePointer<Double>
    ) -> KalmanError? {
        let n = N.resolve(parameters.stateDimension), m = M.resolve(parameters.observationDimension), size = n * n
        let steps = sequence.count
        block.update(repeating: 0, count: layout.count)
        guard steps > 0 else { return nil }
        workspace.filteredCovariances.removeAll(keepingCapacity: true)
        workspace.predictedCovariances.removeAll(keepingCapacity: true)
        workspace.diffuse.removeAll(keepingCapacity: true)
        online.restart()
        typealias LA = SmallLinearAlgebra

        // Forward.
        var logLikelihood = 0.0, diffuseSteps = 0, tracksDiffuse = start == .diffuse
        var failure: KalmanError?
        let d = parameters.transition.elements, h = parameters.observation.elements
        let observationOffset = parameters.observationOffset, hasPartial = sequence.partialCount > 0
        let constantOffset: [Double]? = parameters.transitionOffsets == nil && parameters.transitionOffset.contains { $0 != 0 }
            ? parameters.transitionOffset : nil
        // Per-step offsets: row first + t − 1 is step t's (fitEM checked there are enough rows).
        let perStepOffsets = parameters.transitionOffsets?.elements ?? [], first = firstSteps[index]
        var steady = false, steadyEntry = 0, steadyConstant = 0.0
        // Settled gain: L (Cholesky of S), Z = L⁻¹ H P; K v = Zᵀ L⁻¹ v.
        var factor = [Double](repeating: 0, count: m * m), z = [Double](repeating: 0, count: m * n)
        var innovation = [Double](repeating: 0, count: m)
        var entryFiltered = [Double](repeating: 0, count: size), entryPredicted = [Double](repeating: 0, count: size)
        var diffuseBlock = [Double](repeating: 0, count: 2 * size)
        var previousObservedRegular = false
        sequence.values.withUnsafeBufferPointer { values in
        sequence.mask.withUnsafeBufferPointer { mask in
        workspace.filteredMeans.withUnsafeMutableBufferPointer { means in
        workspace.predictedMeans.withUnsafeMutableBufferPointer { predictedMeans in
        workspace.entry.withUnsafeMutableBufferPointer { entry in
        d.withUnsafeBufferPointer { d in
        h.withUnsafeBufferPointer { h in
        factor.withUnsafeMutableBufferPointer { factor in
        z.withUnsafeMutableBufferPointer { z in
        innovation.withUnsafeMutableBufferPointer { u in
        perStepOffsets.withUnsafeBufferPointer { perStepOffsets in
            let d = d.baseAddress!, h = h.baseAddress!, factor = factor.baseAddress!, z = z.baseAddress!, u = u.baseAddress!
            for t in 0..<steps {
                let y = values.baseAddress! + t * m
                let mean = means.baseAddress! + t * n, predicted = predictedMeans.baseAddress! + t * n
                let stepOffset = perStepOffsets.isEmpty || t == 0 ? nil : perStepOffsets.baseAddress! + (first + t - 1) * n
                let whole = !mask[t] && (!hasPartial || !(0..<m).contains { y[$0].isNaN })
                if steady && whole {
                    LA.multiply(d, vector: mean - n, into: predicted, rows: n, columns: n)
                    if let b = stepOffset { for i in 0..<n { predicted[i] += b[i] } }
                    else if let b = constantOffset { for i in 0..<n { predicted[i] += b[i] } }
                    LA.multiply(h, vector: predicted, into: u, rows: m, columns: n)
                    for i in 0..<m { u[i] = y[i] - u[i] - observationOffset[i] }
                    LA.solveLower(factor, u, m, columns: 1)
                    var mahalanobis = 0.0
                    for i in 0..<m { mahalanobis += u[i] * u[i] }
                    for i in 0..<n {
                        var correction = 0.0
                        for k in 0..<m { correction += z[k * n + i] * u[k] }
                        mean[i] = predicted[i] + correction
                    }
                    logLikelihood += steadyConstant - 0.5 * mahalanobis
                    entry[t] = steadyEntry
                    continue
                }
                if steady {  // a masked or partly observed step ends the settled stretch: the filter takes over again
                    workspace.filteredCovariances.withUnsafeBufferPointer { covariances in
                        online.setRegularState(mean: mean - n, covariance: covariances.baseAddress! + steadyEntry * size)
                    }
                    steady = false
                }
                switch online.advance(observation: mask[t] ? nil : y, transitionOffset: stepOffset) {
                case .success(let value): logLikelihood += value
                case .failure(let error): failure = error; return
                }
                entryFiltered.withUnsafeMutableBufferPointer { filtered in
                    entryPredicted.withUnsafeMutableBufferPointer { predictedCovariance in
                        online.copyMoments(predictedMean: predicted, predictedCovariance: predictedCovariance.baseAddress!,
                                           mean: mean, covariance: filtered.baseAddress!)
                    }
                }
                let index = workspace.filteredCovariances.count / size
                workspace.filteredCovariances.append(contentsOf: entryFiltered)
                workspace.predictedCovariances.append(contentsOf: entryPredicted)
                entry[t] = index
                if tracksDiffuse {
                    if online.hasEstimate {
                        tracksDiffuse = false
                    } else {
                        diffuseBlock.withUnsafeMutableBufferPointer {
                            online.copyDiffuseMoments(predicted: $0.baseAddress!, filtered: $0.baseAddress! + size)
                        }
                        workspace.diffuse.append(contentsOf: diffuseBlock[size...])
                        diffuseSteps += 1
                    }
                }
                let observedRegular = whole && online.hasEstimate && !online.isAwaitingSample && diffuseSteps < t + 1
                if reuseSteadyState && observedRegular && previousObservedRegular && index > 0 {
                    let settled = workspace.predictedCovariances.withUnsafeBufferPointer { p in
                        Self.repeats(p.baseAddress! + index * size, p.baseAddress! + (index - 1) * size, size)
                    }
                    if settled, let constant = workspace.predictedCovariances.withUnsafeBufferPointer({ p in
                        settle(p.baseAddress! + index * size, h: h, factor: factor, z: z, n: n, m: m)
                    }) {
                        steady = true
                        steadyEntry = index
                        steadyConstant = constant
                    }
                }
                previousObservedRegular = observedRegular
            }
        }}}}}}}}}}}
        if let failure { return failure }
        block[layout.logLikelihood] = logLikelihood
        backward(N.self, sequence, index: index, &workspace, diffuseSteps: diffuseSteps, block)
        return nil
    }

    /// Whether two covariances agree to `steadyTolerance` of their largest entry.
    static func repeats(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ size: Int) -> Bool {
        var scale = 0.0, difference = 0.0
        for i in 0..<size { scale = max(scale, abs(a[i])); difference = max(difference, abs(a[i] - b[i])) }
        return difference <= steadyTolerance * scale
    }

    /// The settled update from predicted covariance P: L with S = H P Hᵀ + R = L Lᵀ, Z = L⁻¹ H P,
    /// and the step's constant −½(m log 2π + log|S|); nil when S is not positive definite.
    func settle(_ p: UnsafePointer<Double>, h: UnsafePointer<Double>, factor: UnsafeMutablePointer<Double>,
                z: UnsafeMutablePointer<Double>, n: Int, m: Int) -> Double? {
        typealias LA = SmallLinearAlgebra
        var s = [Double](repeating: 0, count: m * m)
        let r = parameters.observationCovariance.elements
        LA.multiply(h, p, into: z, rows: m, inner: n, columns: n)
        for i in 0..<m {
            for j in 0..<m {
                var sum = 0.0
                for k in 0..<n { sum += z[i * n + k] * h[j * n + k] }
                s[i * m + j] = sum + 0.5 * (r[i * m + j] + r[j * m + i])
            }
        }
        guard let halfLogDeterminant = s.withUnsafeBufferPointer({ LA.cholesky($0.baseAddress!, into: factor, m) }) else { return nil }
        LA.solveLower(factor, z, m, columns: n)
        return -0.5 * Double(m) * OnlineKalmanFilter.logTwoPi - halfLogDeterminant
    }

    /// The smoother's backward pass (MODEL.md; information form at unidentified diffuse steps),
    /// summing the statistics as it goes.
    @inline(never)
    func backward<N: KernelDimension>(_: N.Type, _ sequence: ObservationSequence, index: Int, _ workspace: inout Workspace,
                                      diffuseSteps: Int, _ block: UnsafeMutablePointer<Double>) {
        typealias LA = SmallLinearAlgebra
        let n = N.resolve(parameters.stateDimension), m = parameters.observationDimension, size = n * n
        let steps = sequence.count, c = shift.states[index], cy = shift.observations[index]
        let layout = self.layout, first = firstSteps[index], perStepOffsets = parameters.transitionOffsets
        var scratch = workspace.scratch
        let patterns = workspace.missingPatterns, hasPartial = sequence.partialCount > 0
        let d = parameters.transition.elements
        workspace.filteredMeans.withUnsafeBufferPointer { means in
        workspace.predictedMeans.withUnsafeBufferPointer { predictedMeans in
        workspace.entry.withUnsafeBufferPointer { entry in
        workspace.filteredCovariances.withUnsafeBufferPointer { filteredCovariances in
        workspace.predictedCovariances.withUnsafeBufferPointer { predictedCovariances in
        sequence.values.withUnsafeBufferPointer { values in
        d.withUnsafeBufferPointer { d in
        scratch.withUnsafeMutableBufferPointer { scratch in
            let d = d.baseAddress!
            let gain = scratch.baseAddress!, work = gain + size, factor = work + size, difference = factor + size
            let product = difference + size, nextCovariance = product + size, covariance = nextCovariance + size
            let nextLag = covariance + size, lag = nextLag + size
            let nextMean = lag + size, mean = nextMean + n, shifted = mean + n, nextShifted = shifted + n
            let observedShift = nextShifted + n, partialScratch = observedShift + m
            // Step T−1: the filtered state.
            let last = steps - 1
            for i in 0..<n { nextMean[i] = means[last * n + i] }
            nextCovariance.update(from: filteredCovariances.baseAddress! + entry[last] * size, count: size)
            // Not inlined: called twice, it would make this closure too large for the optimiser to
            // inline into the specialised pass, leaving the whole backward loop unspecialised (30% slower).
            @inline(never) func accumulate(_ t: Int, _ mu: UnsafePointer<Double>, _ sigma: UnsafePointer<Double>, _ x: UnsafeMutablePointer<Double>) {
                for i in 0..<n { x[i] = mu[i] - c[i] }
                for i in 0..<n {
                    block[layout.stateSum + i] += x[i]
                    for j in 0..<n { block[layout.stateSquares + i * n + j] += sigma[i * n + j] + x[i] * x[j] }
                }
                if !sequence.mask[t] {
                    block[layout.observedSteps] += 1
                    let y = values.baseAddress! + t * m
                    for i in 0..<m { observedShift[i] = y[i] - cy[i] }
                    if hasPartial {
                        patterns.accumulate(y, parameters: parameters, mean: mu, covariance: sigma, shift: cy,
                                            shifted: observedShift, scratch: partialScratch, block: block, layout: layout)
                    }
                    for i in 0..<m {
                        block[layout.observationSum + i] += observedShift[i]
                        for j in 0..<m { block[layout.observationSquares + i * m + j] += observedShift[i] * observedShift[j] }
                        for j in 0..<n { block[layout.observationCross + i * n + j] += observedShift[i] * x[j] }
                    }
                    for i in 0..<n {
                        block[layout.observedStateSum + i] += x[i]
                        for j in 0..<n { block[layout.observedStateSquares + i * n + j] += sigma[i * n + j] + x[i] * x[j] }
                    }
                }
            }
            accumulate(last, nextMean, nextCovariance, nextShifted)
            for i in 0..<n {
                block[layout.lastState + i] = nextShifted[i]
                for j in 0..<n { block[layout.lastStateSquares + i * n + j] = nextCovariance[i * n + j] + nextShifted[i] * nextShifted[j] }
            }
            var key = (-1, -1), covarianceSettled = false
            var t = last - 1
            while t >= 0 {
                if t < diffuseSteps {
                    diffuseStep(t, first: first, means: means.baseAddress!, covariances: filteredCovariances.baseAddress! + entry[t] * size,
                                diffuse: workspace.diffuse, nextMean: nextMean, nextCovariance: nextCovariance,
                                mean: mean, covariance: covariance, lag: lag)
                    key = (-1, -1)
                    covarianceSettled = false
                } else {
                    let sigma = filteredCovariances.baseAddress! + entry[t] * size
                    let nextPredicted = predictedCovariances.baseAddress! + entry[t + 1] * size
                    let newKey = (entry[t], entry[t + 1])
                    let sameGain = newKey == key
                    if !sameGain {
                        ModelParameters.smootherGain(d, sigma, nextPredicted, into: gain, work: work, factor: factor, n)
                        key = newKey
                        covarianceSettled = false
                    }
                    let nextPredictedMean = predictedMeans.baseAddress! + (t + 1) * n
                    for i in 0..<n {
                        var sum = means[t * n + i]
                        for j in 0..<n { sum += gain[i * n + j] * (nextMean[j] - nextPredictedMean[j]) }
                        mean[i] = sum
                    }
                    if covarianceSettled {
                        covariance.update(from: nextCovariance, count: size)  // Σ_s_t = Σ_s_{t+1}; the lag stays
                    } else {
                        for i in 0..<size { difference[i] = nextCovariance[i] - nextPredicted[i] }
                        LA.multiply(gain, difference, into: product, rows: n, inner: n, columns: n)
                        LA.multiplyTransposed(product, gain, into: covariance, rows: n, inner: n, columns: n)
                        for i in 0..<size { covariance[i] += sigma[i] }
                        LA.symmetrize(covariance, n)
                        LA.multiplyTransposed(nextCovariance, gain, into: lag, rows: n, inner: n, columns: n)
                        if reuseSteadyState && sameGain && Self.repeats(covariance, nextCovariance, size) {
                            covariance.update(from: nextCovariance, count: size)
                            lag.update(from: nextLag, count: size)
                            covarianceSettled = true
                        }
                    }
                }
                accumulate(t, mean, covariance, shifted)
                for i in 0..<n {
                    for j in 0..<n { block[layout.lagCross + i * n + j] += lag[i * n + j] + nextShifted[i] * shifted[j] }
                }
                if let perStepOffsets {
                    Self.accumulateOffset(perStepOffsets, row: first + t, state: shifted, nextState: nextShifted, block: block, layout: layout)
                }
                block[layout.transitions] += 1
                nextMean.update(from: mean, count: n)
                nextCovariance.update(from: covariance, count: size)
                nextShifted.update(from: shifted, count: n)
                nextLag.update(from: lag, count: size)
                t -= 1
            }
            // Step 0 (now in the "next" slots).
            for i in 0..<n {
                block[layout.firstState + i] = nextShifted[i]
                block[layout.firstMean + i] = nextMean[i]
                block[layout.startMean + i] = predictedMeans[i]
                for j in 0..<n {
                    block[layout.firstStateSquares + i * n + j] = nextCovariance[i * n + j] + nextShifted[i] * nextShifted[j]
                    block[layout.firstCovariance + i * n + j] = nextCovariance[i * n + j]
                }
            }
        }}}}}}}}
        workspace.scratch = scratch
    }

    /// Adds b_t (row `row` of the per-step offsets, the step t → t+1) to the M-step's offset sums:
    /// Σ b_t x̃_tᵀ, Σ b_t x̃_{t+1}ᵀ, Σ b_t, Σ b_t b_tᵀ.
    @inline(never)
    static func accumulateOffset(_ offsets: Matrix, row: Int, state: UnsafePointer<Double>, nextState: UnsafePointer<Double>,
                                 block: UnsafeMutablePointer<Double>, layout: SufficientStatistics.Layout) {
        let n = layout.n, b = row * n
        for i in 0..<n {
            let bi = offsets.elements[b + i]
            block[layout.offsetSum + i] += bi
            for j in 0..<n {
                block[layout.offsetStateCross + i * n + j] += bi * state[j]
                block[layout.offsetNextStateCross + i * n + j] += bi * nextState[j]
                block[layout.offsetSquares + i * n + j] += bi * offsets.elements[b + j]
            }
        }
    }

    /// The information-form step of MODEL.md ("Start rule") at an unidentified diffuse step t of
    /// a sequence cut from step `first` (which aligns per-step transition offsets).
    func diffuseStep(_ t: Int, first: Int, means: UnsafePointer<Double>, covariances: UnsafePointer<Double>, diffuse: [Double],
                     nextMean: UnsafePointer<Double>, nextCovariance: UnsafePointer<Double>,
                     mean: UnsafeMutablePointer<Double>, covariance: UnsafeMutablePointer<Double>, lag: UnsafeMutablePointer<Double>) {
        let n = parameters.stateDimension, size = n * n
        let result = parameters.diffuseBackwardMoments(
            filteredMean: Array(UnsafeBufferPointer(start: means + t * n, count: n)),
            finite: Matrix(rows: n, columns: n, elements: Array(UnsafeBufferPointer(start: covariances, count: size))),
            infinite: Matrix(rows: n, columns: n, elements: Array(diffuse[(t * size)..<((t + 1) * size)])),
            nextMean: Array(UnsafeBufferPointer(start: nextMean, count: n)),
            nextCovariance: Matrix(rows: n, columns: n, elements: Array(UnsafeBufferPointer(start: nextCovariance, count: size))),
            transitionOffset: parameters.transitionOffset(after: first + t))
        for i in 0..<n { mean[i] = result.mean[i] }
        for i in 0..<size { covariance[i] = result.covariance.elements[i]; lag[i] = result.lag.elements[i] }
    }
}

/// The E-step's output, one block per sequence; each worker writes only its own sequences' blocks.
struct SequenceBlocks: @unchecked Sendable {
    let base: UnsafeMutablePointer<Double>
}

/// The first failure of each worker, read after they all finished.
final class FailureSlots: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<(sequence: Int, error: KalmanError)?>
    init(count: Int) { slots = .allocate(capacity: count); slots.initialize(repeating: nil) }
    deinit { slots.deallocate() }
    /// Called by worker `worker` only, for its own slot.
    func record(worker: Int, sequence: Int, _ error: KalmanError) { slots[worker] = (sequence, error) }
    /// The failure with the lowest sequence index.
    var first: (sequence: Int, KalmanError)? {
        slots.compactMap { $0 }.min { $0.sequence < $1.sequence }.map { ($0.sequence, $0.error) }
    }
}
