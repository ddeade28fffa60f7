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
/// the product of their gains spans them exactly. All storage is allocated when the smoother is
/// made; pushing a sample allocates nothing.
///
/// Use: after each filter step, `push` (a step with a sample, observed or lost) or `bridge` (a
/// step without one); when `push` returns an index, read that sample's estimate with `withSmoothed`.
/// At a restart or shutdown, `flush` smooths the pending samples with what is known; `reset`
/// forgets them.
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
    /// Whether a filter step has been recorded since `reset` (the next step has a predecessor).
    private var hasStep = false
    /// Whether the newest sample's link gain is still the identity (no step after it yet).
    private var linkIsIdentity = true

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
    }

    /// How many pushed samples still wait for their estimate.
    public var pendingCount: Int { nextIndex - oldestPending }

    /// Records a filter step that had a sample (observed, lost or rejected: any step the
    /// stream publishes), and smooths the oldest pending sample once N later ones are in.
    ///
    /// Call it right after the filter's step; the filter's parameters must be the ones that
    /// step predicted with (its D links the previous step to this one).
    /// - Returns: the index of the sample whose estimate is now ready, or nil.
    public mutating func push(_ filter: OnlineKalmanFilter) -> Int? {
        let n = stateDimension, size = n * n, layout = self.layout
        let index = nextIndex
        if pendingCount == capacity {
            oldestPending += 1  // not read: the caller skipped it; the ring must move on
        }
        let slot = index % capacity, previousSlot = (index + capacity - 1) % capacity
        let linksPrevious = hasStep, previousPending = index > oldestPending
        var linkIsIdentity = self.linkIsIdentity
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            filter.withStorage { source, filterLayout in
                if linksPrevious {
                    Self.link(base, layout, linkIsIdentity: &linkIsIdentity, slot: previousSlot,
                              hasPrevious: previousPending, source, filterLayout, n)
                }
                let entry = layout.entry(slot)
                (base + entry.filteredMean).update(from: source + filterLayout.mean, count: n)
                (base + entry.filteredCovariance).update(from: source + filterLayout.covariance, count: size)
                (base + entry.predictedMean).update(from: source + filterLayout.predictedMean, count: n)
                (base + entry.predictedCovariance).update(from: source + filterLayout.predictedCovariance, count: size)
                (base + layout.previousCovariance).update(from: source + filterLayout.covariance, count: size)
            }
        }
        hasStep = true
        self.linkIsIdentity = true  // the new sample has no step after it yet
        nextIndex += 1
        guard pendingCount == capacity else { return nil }
        smoothPending(from: oldestPending)
        return oldestPending
    }

    /// Records a filter step without a sample (a bridged gap: predict only).
    public mutating func bridge(_ filter: OnlineKalmanFilter) {
        guard hasStep else { return }
        let n = stateDimension, size = n * n, layout = self.layout
        let hasSample = pendingCount > 0
        let slot = (nextIndex + capacity - 1) % capacity
        var linkIsIdentity = self.linkIsIdentity
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            filter.withStorage { source, filterLayout in
                Self.link(base, layout, linkIsIdentity: &linkIsIdentity, slot: slot, hasPrevious: hasSample, source, filterLayout, n)
                (base + layout.previousCovariance).update(from: source + filterLayout.covariance, count: size)
            }
        }
        self.linkIsIdentity = linkIsIdentity
    }

    /// Multiplies the gain of the step just taken into the link gain of the newest sample.
    @inline(__always)
    private static func link(
        _ base: UnsafeMutablePointer<Double>, _ layout: Layout, linkIsIdentity: inout Bool, slot: Int,
        hasPrevious: Bool, _ source: UnsafePointer<Double>, _ filterLayout: OnlineKalmanFilter.Layout, _ n: Int
    ) {
        guard hasPrevious else { return }
        let link = base + layout.entry(slot).link, step = base + layout.stepGain
        SmootherStep.gain(
            filteredCovariance: base + layout.previousCovariance, transition: source + filterLayout.transition,
            nextPredictedCovariance: source + filterLayout.predictedCovariance,
            into: linkIsIdentity ? link : step, work: base + layout.work, factor: base + layout.factor, n)
        if !linkIsIdentity {
            let product = base + layout.product
            SmallLinearAlgebra.multiply(link, step, into: product, rows: n, inner: n, columns: n)
            link.update(from: product, count: n * n)
        }
        linkIsIdentity = false
    }

    /// Smooths every pending sample from `first` on given all pushed samples, into their slots.
    private mutating func smoothPending(from first: Int) {
        let n = stateDimension, size = n * n, layout = self.layout, capacity = self.capacity, nextIndex = self.nextIndex
        guard nextIndex > first else { return }
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let newest = layout.entry((nextIndex - 1) % capacity)
            (base + newest.smoothedMean).update(from: base + newest.filteredMean, count: n)
            (base + newest.smoothedCovariance).update(from: base + newest.filteredCovariance, count: size)
            var index = nextIndex - 2
            while index >= first {
                let entry = layout.entry(index % capacity), next = layout.entry((index + 1) % capacity)
                SmootherStep.smooth(
                    filteredMean: base + entry.filteredMean, filteredCovariance: base + entry.filteredCovariance,
                    gain: base + entry.link,
                    nextSmoothedMean: base + next.smoothedMean, nextSmoothedCovariance: base + next.smoothedCovariance,
                    nextPredictedMean: base + next.predictedMean, nextPredictedCovariance: base + next.predictedCovariance,
                    mean: base + entry.smoothedMean, covariance: base + entry.smoothedCovariance,
                    difference: base + layout.work, product: base + layout.product, meanDifference: base + layout.meanDifference, n)
                index -= 1
            }
        }
    }

    /// Calls `body` with the smoothed mean (n) and covariance (n×n, row-major) of sample
    /// `index`, which `push` or `flush` has just made ready, and marks it handed out.
    ///
    /// - Precondition: `index` is the oldest pending sample and it is ready.
    public mutating func withSmoothed<Result>(
        _ index: Int, _ body: (_ mean: UnsafeBufferPointer<Double>, _ covariance: UnsafeBufferPointer<Double>) throws -> Result
    ) rethrows -> Result {
        precondition(index == oldestPending && index < nextIndex, "sample \(index) is not the oldest pending one")
        oldestPending += 1
        let entry = layout.entry(index % capacity), n = stateDimension
        return try storage.withUnsafeBufferPointer { buffer in
            try body(UnsafeBufferPointer(start: buffer.baseAddress! + entry.smoothedMean, count: n),
                     UnsafeBufferPointer(start: buffer.baseAddress! + entry.smoothedCovariance, count: n * n))
        }
    }

    /// Smooths all pending samples given every sample pushed (a restart or shutdown: nothing
    /// later will come) and returns their indices; read each, in order, with `withSmoothed`.
    public mutating func flush() -> Range<Int> {
        smoothPending(from: oldestPending)
        return oldestPending..<nextIndex
    }

    /// Forgets every sample: the next `push` starts a new sequence (its first step has no
    /// predecessor, as after a filter restart). Indices continue.
    public mutating func reset() {
        oldestPending = nextIndex
        hasStep = false
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
        let previousCovariance, stepGain, work, factor, product, meanDifference, count: Int

        init(n: Int, capacity: Int) {
            self.n = n
            entrySize = 3 * n + 4 * n * n
            var next = capacity * entrySize
            func take(_ size: Int) -> Int { defer { next += size }; return next }
            previousCovariance = take(n * n); stepGain = take(n * n); work = take(n * n); factor = take(n * n)
            product = take(n * n); meanDifference = take(n)
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
    public func fixedLagSmooth(_ observations: ObservationSequence, lag: Int) throws(KalmanError) -> FixedLagResult {
        precondition(observations.dimension == observationDimension,
                     "observations have \(observations.dimension) components, the model \(observationDimension)")
        let n = stateDimension, m = observationDimension, steps = observations.count
        var result = FixedLagResult(estimates: StateTrajectory(dimension: n, count: steps), logLikelihood: 0)
        var online = OnlineKalmanFilter(parameters: self)
        var smoother = FixedLagSmoother(lag: min(lag, max(steps, 1)), stateDimension: n)
        func store(_ index: Int) {
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
}
