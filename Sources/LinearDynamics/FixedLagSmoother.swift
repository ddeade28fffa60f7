/// A fixed-lag smoother beside a live `OnlineKalmanFilter`: for each sample k, the estimate of
/// its state given the samples up to k+N, exactly what the RTS smoother run over the stream up
/// to sample k+N gives at k (MODEL.md, "Fixed-lag smoothing").
///
/// It keeps the last N+1 samples' filtered and predicted moments in a ring, and for every new
/// sample runs the smoother's backward step (`SmootherStep`, the batch smoother's own code) from
/// the newest sample back to the oldest: O(N·n³) per sample. Each smoother gain
/// J_t = Σ_t Dᵀ Σ_pred_{t+1}⁻¹ depends only on the filter, so it is computed once, when step t+1
/// is predicted, and kept. Model steps without a sample (a gap bridged at the stream's rate) are
/// folded into the gain that links two samples: their filtered moments are their predictions, so
/// the product of their gains spans them exactly. The start rules are the batch smoother's: the
/// steps of a diffuse start that are not yet identified take its information-form step (as an
/// affine link, mu_s_k = v + J mu_s_{k+1}, Σ_s_k = C + J Σ_s_{k+1} Jᵀ), and the steps the
/// course's rule waits through are linked to nothing. All storage is allocated when the smoother
/// is made; a sample allocates nothing once the state is identified (the information-form link
/// of the first few samples after a start allocates, as the batch smoother's does).
///
/// Use: after each filter step, `push` (a step with a sample, observed or lost) or `bridge` (a
/// step without one); then read every ready estimate (`nextReady`) with `withSmoothed`, before
/// the next step. At a restart or shutdown, `flush` smooths the pending samples with what is
/// known and ends the sequence (the next push starts a new one); `reset` forgets them.
public struct FixedLagSmoother: Sendable {
    /// N: how many later samples each estimate waits for.
    public let lag: Int
    /// n, the state dimension.
    public let stateDimension: Int
    /// How many samples the ring holds: N + 1.
    public var capacity: Int { lag + 1 }
    /// The index the next pushed sample gets (0 for the first after `reset`).
    public private(set) var nextIndex = 0
    /// The index of the oldest sample whose estimate has not been handed out.
    public private(set) var oldestPending = 0
    /// Samples before this index are smoothed and ready to hand out.
    private var readyEnd = 0
    /// The first sample of the current sequence (a flush or reset starts a new one).
    private var sequenceStart = 0

    /// How a model step (or the link from a sample to the next) enters the backward pass.
    enum Kind: UInt8, Sendable {
        /// An identified state: the RTS step with the gain (or the product of gains) to the next.
        case regular
        /// A diffuse start's unidentified state: the affine information-form link; the entry's
        /// filtered slots hold v and C, and the next sample's prediction is taken as zero.
        case affine
        /// A step the course's start rule waits through: linked to nothing, smoothed = filtered.
        case isolated
    }

    /// The last model step's kind, or nil before the first step after `reset`.
    private var previousKind: Kind?
    /// Whether the newest sample has no step after it yet (its link is the identity).
    private var linkIsIdentity = true
    /// Each slot's kind (how its sample links to the next), and whether its smoothed estimate
    /// is known (false while a diffuse start is not identified by the samples up to the newest).
    private var kinds: [Kind]
    private var known: [Bool]

    private let layout: Layout
    private var storage: [Double]

    /// A smoother that waits for `lag` later samples, for states of dimension n.
    /// - Precondition: `lag` ≥ 0 and `stateDimension` ≥ 1.
    public init(lag: Int, stateDimension: Int) {
        precondition(lag >= 0 && stateDimension >= 1, "a fixed-lag smoother needs lag ≥ 0 and n ≥ 1")
        self.lag = lag
        self.stateDimension = stateDimension
        layout = Layout(n: stateDimension, capacity: lag + 1)
        storage = [Double](repeating: 0, count: layout.count)
        kinds = [Kind](repeating: .regular, count: lag + 1)
        known = [Bool](repeating: true, count: lag + 1)
    }

    /// The oldest sample whose estimate is ready and not yet handed out, if any.
    public var nextReady: Int? { oldestPending < readyEnd ? oldestPending : nil }

    /// How many pushed samples still wait for their estimate.
    public var pendingCount: Int { nextIndex - oldestPending }

    /// Records a filter step that had a sample (observed, lost or rejected: any step the
    /// stream publishes), and smooths the oldest pending sample once N later ones are in.
    ///
    /// Call it right after the filter's step; the filter's parameters must be the ones that
    /// step predicted with (its D links the previous step to this one).
    /// - Returns: the index of the sample whose estimate is now ready, or nil.
    @discardableResult
    public mutating func push(_ filter: borrowing OnlineKalmanFilter) -> Int? {
        if pendingCount == capacity {
            oldestPending += 1  // not read: the caller skipped it; the ring must move on
            readyEnd = max(readyEnd, oldestPending)
        }
        step(filter)
        let n = stateDimension, size = n * n, layout = self.layout
        let entry = layout.entry(nextIndex % capacity)
        kinds[nextIndex % capacity] = previousKind!
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            filter.withStorage { source, filterLayout in
                (base + entry.filteredMean).update(from: source + filterLayout.mean, count: n)
                (base + entry.filteredCovariance).update(from: source + filterLayout.covariance, count: size)
                (base + entry.predictedMean).update(from: source + filterLayout.predictedMean, count: n)
                (base + entry.predictedCovariance).update(from: source + filterLayout.predictedCovariance, count: size)
            }
        }
        linkIsIdentity = true  // the new sample has no step after it yet
        nextIndex += 1
        let ready = nextIndex - 1 - lag
        guard ready >= sequenceStart, ready >= oldestPending else { return nil }
        smoothPending(from: ready)
        readyEnd = ready + 1
        return ready
    }

    /// Records a filter step without a sample (a bridged gap: predict only).
    public mutating func bridge(_ filter: borrowing OnlineKalmanFilter) {
        step(filter)
    }

    /// Folds the transition from the previous model step to the one `filter` just took into the
    /// newest sample's link, then remembers this step as the previous one.
    private mutating func step(_ filter: borrowing OnlineKalmanFilter) {
        let n = stateDimension, size = n * n, layout = self.layout
        let kind: Kind = filter.isAwaitingSample ? .isolated : filter.hasEstimate ? .regular : .affine
        defer {
            previousKind = kind
            storage.withUnsafeMutableBufferPointer { buffer in
                let base = buffer.baseAddress!
                filter.withStorage { source, filterLayout in
                    (base + layout.previousMean).update(from: source + filterLayout.mean, count: n)
                    (base + layout.previousCovariance).update(from: source + filterLayout.covariance, count: size)
                    (base + layout.previousInfinite).update(from: source + filterLayout.diffuse, count: size)
                }
            }
        }
        // Only a pending sample needs its link, and nothing links a waited-through step.
        guard let previous = previousKind, previous != .isolated, pendingCount > 0 else { return }
        let slot = (nextIndex + capacity - 1) % capacity
        if previous == .affine {
            // The information-form link of the previous (unidentified) step; allocates.
            let (mean, covariance, infinite) = storage.withUnsafeBufferPointer { buffer in
                (Array(buffer[layout.previousMean..<(layout.previousMean + n)]),
                 Matrix(rows: n, columns: n, elements: Array(buffer[layout.previousCovariance..<(layout.previousCovariance + size)])),
                 Matrix(rows: n, columns: n, elements: Array(buffer[layout.previousInfinite..<(layout.previousInfinite + size)])))
            }
            let step = filter.parameters.diffuseSmootherLink(filteredMean: mean, infinite: infinite, finite: covariance,
                                                             transitionOffset: filter.parameters.transitionOffset)
            composeAffine(slot: slot, shift: step.shift, covariance: step.covariance.elements, gain: step.gain.elements)
            return
        }
        var linkIsIdentity = self.linkIsIdentity
        let composesAffine = kinds[slot] == .affine && !linkIsIdentity
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let link = base + layout.entry(slot).link, stepGain = base + layout.stepGain
            filter.withStorage { source, filterLayout in
                SmootherStep.gain(
                    filteredCovariance: base + layout.previousCovariance, transition: source + filterLayout.transition,
                    nextPredictedCovariance: source + filterLayout.predictedCovariance,
                    into: stepGain, work: base + layout.work, factor: base + layout.factor, n)
                if composesAffine { return }
                if linkIsIdentity {
                    link.update(from: stepGain, count: size)
                } else {
                    SmallLinearAlgebra.multiply(link, stepGain, into: base + layout.product, rows: n, inner: n, columns: n)
                    link.update(from: base + layout.product, count: size)
                }
            }
        }
        if composesAffine {
            // A regular step after an affine link (D forgot the start across a bridged gap): as an
            // affine map, v = mu − J mu_pred, C = Σ − J Σ_pred Jᵀ.
            let (shift, covariance, gain) = regularStepAsAffine(filter)
            composeAffine(slot: slot, shift: shift, covariance: covariance, gain: gain)
            return
        }
        if linkIsIdentity { kinds[slot] = .regular }
        linkIsIdentity = false
        self.linkIsIdentity = linkIsIdentity
    }

    /// The regular step just computed into `stepGain`, written as an affine map (v, C, J).
    private func regularStepAsAffine(_ filter: borrowing OnlineKalmanFilter) -> (shift: [Double], covariance: [Double], gain: [Double]) {
        let n = stateDimension, size = n * n, layout = self.layout
        return storage.withUnsafeBufferPointer { buffer in
            let gain = Matrix(rows: n, columns: n, elements: Array(buffer[layout.stepGain..<(layout.stepGain + size)]))
            let predictedMean = filter.predictedMean, predictedCovariance = filter.predictedCovariance
            let mean = Array(buffer[layout.previousMean..<(layout.previousMean + n)])
            let covariance = Matrix(rows: n, columns: n, elements: Array(buffer[layout.previousCovariance..<(layout.previousCovariance + size)]))
            let shift = zip(mean, gain * predictedMean).map(-)
            return (shift, (covariance - gain * predictedCovariance * gain.transposed).symmetrized.elements, gain.elements)
        }
    }

    /// Composes an affine step (v_j, C_j, J_j) into the link of the sample in `slot`: identity →
    /// the step itself; an affine link (v, C, J) → (v + J v_j, C + J C_j Jᵀ, J J_j).
    private mutating func composeAffine(slot: Int, shift: [Double], covariance: [Double], gain: [Double]) {
        let n = stateDimension, size = n * n, entry = layout.entry(slot), identity = linkIsIdentity
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let v = base + entry.filteredMean, c = base + entry.filteredCovariance, j = base + entry.link
            if identity {
                for i in 0..<n { v[i] = shift[i] }
                for i in 0..<size { c[i] = covariance[i]; j[i] = gain[i] }
                return
            }
            let old = Matrix(rows: n, columns: n, elements: Array(UnsafeBufferPointer(start: j, count: size)))
            let step = Matrix(rows: n, columns: n, elements: gain)
            let added = old * shift, spread = (old * Matrix(rows: n, columns: n, elements: covariance) * old.transposed).elements
            let product = (old * step).elements
            for i in 0..<n { v[i] += added[i] }
            for i in 0..<size { c[i] += spread[i]; j[i] = product[i] }
            SmallLinearAlgebra.symmetrize(c, n)
        }
        kinds[slot] = .affine
        linkIsIdentity = false
    }

    /// Smooths every sample of the current sequence from `first` on given all pushed samples,
    /// into their slots.
    private mutating func smoothPending(from first: Int) {
        let n = stateDimension, size = n * n, layout = self.layout, capacity = self.capacity, nextIndex = self.nextIndex
        guard nextIndex > first else { return }
        let kinds = self.kinds
        let identified = kinds[(nextIndex - 1) % capacity] != .affine
        for index in first..<nextIndex { known[index % capacity] = identified || kinds[index % capacity] == .isolated }
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let newest = layout.entry((nextIndex - 1) % capacity)
            (base + newest.smoothedMean).update(from: base + newest.filteredMean, count: n)
            (base + newest.smoothedCovariance).update(from: base + newest.filteredCovariance, count: size)
            var index = nextIndex - 2
            while index >= first {
                let entry = layout.entry(index % capacity), next = layout.entry((index + 1) % capacity)
                switch kinds[index % capacity] {
                case .isolated:
                    (base + entry.smoothedMean).update(from: base + entry.filteredMean, count: n)
                    (base + entry.smoothedCovariance).update(from: base + entry.filteredCovariance, count: size)
                case let kind:
                    // An affine link is the same step with the next prediction taken as zero.
                    let affine = kind == .affine
                    SmootherStep.smooth(
                        filteredMean: base + entry.filteredMean, filteredCovariance: base + entry.filteredCovariance,
                        gain: base + entry.link,
                        nextSmoothedMean: base + next.smoothedMean, nextSmoothedCovariance: base + next.smoothedCovariance,
                        nextPredictedMean: affine ? base + layout.zeros : base + next.predictedMean,
                        nextPredictedCovariance: affine ? base + layout.zeros : base + next.predictedCovariance,
                        mean: base + entry.smoothedMean, covariance: base + entry.smoothedCovariance,
                        difference: base + layout.work, product: base + layout.product, meanDifference: base + layout.meanDifference, n)
                }
                index -= 1
            }
        }
    }

    /// Calls `body` with the smoothed mean (n) and covariance (n×n, row-major) of sample
    /// `index`, which `push` or `flush` has just made ready, and marks it handed out.
    ///
    /// - Precondition: `index` is `nextReady`.
    public mutating func withSmoothed<Result>(
        _ index: Int, _ body: (_ mean: UnsafeBufferPointer<Double>, _ covariance: UnsafeBufferPointer<Double>) throws -> Result
    ) rethrows -> Result {
        precondition(index == oldestPending && index < readyEnd, "sample \(index) is not the next ready one")
        oldestPending += 1
        let entry = layout.entry(index % capacity), n = stateDimension
        return try storage.withUnsafeBufferPointer { buffer in
            try body(UnsafeBufferPointer(start: buffer.baseAddress! + entry.smoothedMean, count: n),
                     UnsafeBufferPointer(start: buffer.baseAddress! + entry.smoothedCovariance, count: n * n))
        }
    }

    /// Whether the estimate of ready sample `index` is known: false when a diffuse start was
    /// still not identified by the last sample the estimate saw (its numbers mean nothing then).
    public func isKnown(_ index: Int) -> Bool { known[index % capacity] }

    /// Smooths all pending samples given every sample pushed (a restart or shutdown: nothing
    /// later will come) and returns their indices, ready to read in order with `withSmoothed`;
    /// the next `push` starts a new sequence (its first step has no predecessor).
    @discardableResult
    public mutating func flush() -> Range<Int> {
        smoothPending(from: max(oldestPending, sequenceStart))
        readyEnd = nextIndex
        endSequence()
        return oldestPending..<nextIndex
    }

    /// Forgets every sample, read or not: the next `push` starts a new sequence. Indices continue.
    public mutating func reset() {
        oldestPending = nextIndex
        readyEnd = nextIndex
        endSequence()
    }

    private mutating func endSequence() {
        sequenceStart = nextIndex
        previousKind = nil
        linkIsIdentity = true
    }

    /// Offsets into the one storage buffer: N + 1 entries, then shared scratch.
    struct Layout: Sendable {
        /// One sample's slot: its filtered and predicted moments, the gain linking it to the next
        /// sample, and its smoothed moments.
        struct Entry {
            let filteredMean, filteredCovariance, predictedMean, predictedCovariance, link, smoothedMean, smoothedCovariance: Int
        }
        let n: Int, entrySize: Int
        /// The previous model step's filtered moments (mean, P*, P∞), and scratch.
        let previousMean, previousCovariance, previousInfinite, stepGain, work, factor, product, meanDifference, zeros, count: Int

        init(n: Int, capacity: Int) {
            self.n = n
            entrySize = 3 * n + 4 * n * n
            var next = capacity * entrySize
            func take(_ size: Int) -> Int { defer { next += size }; return next }
            previousMean = take(n); previousCovariance = take(n * n); previousInfinite = take(n * n)
            stepGain = take(n * n); work = take(n * n); factor = take(n * n)
            product = take(n * n); meanDifference = take(n); zeros = take(n * n)
            count = next
        }

        @inline(__always)
        func entry(_ slot: Int) -> Entry {
            let start = slot * entrySize, size = n * n
            return Entry(filteredMean: start, filteredCovariance: start + n, predictedMean: start + n + size,
                         predictedCovariance: start + 2 * n + size, link: start + 2 * n + 2 * size,
                         smoothedMean: start + 2 * n + 3 * size, smoothedCovariance: start + 3 * n + 3 * size)
        }
    }
}

extension ModelParameters {
    /// The fixed-lag smoother over a whole sequence (the batch form of what the daemon
    /// publishes): step t holds the estimate of s_t given steps 0 ... t+N, the last N steps
    /// given the whole sequence.
    ///
    /// - Throws: `KalmanError` when the filter fails (as `filter(_:)` does).
    /// - Parameter start: how the state starts (MODEL.md, "Start rule"); pykalman's rule by default.
    public func fixedLagSmooth(_ observations: ObservationSequence, lag: Int, start: StartRule = .parameters) throws(KalmanError) -> FixedLagResult {
        precondition(observations.dimension == observationDimension,
                     "observations have \(observations.dimension) components, the model \(observationDimension)")
        let n = stateDimension, m = observationDimension, steps = observations.count
        var result = FixedLagResult(estimates: StateTrajectory(dimension: n, count: steps), logLikelihood: 0,
                                    known: [Bool](repeating: false, count: steps))
        var online = OnlineKalmanFilter(parameters: self, start: start)
        var smoother = FixedLagSmoother(lag: min(lag, max(steps, 1)), stateDimension: n)
        func store(_ index: Int) {
            result.known[index] = smoother.isKnown(index)
            smoother.withSmoothed(index) { mean, covariance in
                for i in 0..<n { result.estimates.means[index * n + i] = mean[i] }
                for i in 0..<(n * n) { result.estimates.covariances[index * n * n + i] = covariance[i] }
            }
        }
        var failure: KalmanError?
        withTransitionOffsets(steps: steps) { offsets in
        observations.values.withUnsafeBufferPointer { values in
            for t in 0..<steps {
                let observation = observations.mask[t] ? nil : values.baseAddress! + t * m
                switch online.advance(observation: observation, transitionOffset: offsets(t)) {
                case .success(let logLikelihood): result.logLikelihood += logLikelihood
                case .failure(let error): failure = error; return
                }
                if let ready = smoother.push(online) { store(ready) }
            }
        }}
        if let failure { throw failure }
        for index in smoother.flush() { store(index) }
        return result
    }
}

/// The fixed-lag smoother's output over a sequence.
public struct FixedLagResult: Equatable, Sendable {
    /// Step t: the estimate of s_t given steps 0 ... t+N (the last N: given all steps).
    public internal(set) var estimates: StateTrajectory
    /// The filter's log-likelihood of the sequence.
    public internal(set) var logLikelihood: Double
    /// Whether step t's estimate is known (`FixedLagSmoother.isKnown`: false while a diffuse start
    /// is not identified by the steps up to t+N), as the daemon publishes it on gaze.smooth.
    public internal(set) var known: [Bool]
}
