import LinearDynamics

/// One tracker's live filter: its `StreamModel` (loss, plausibility, start, time to steps,
/// stale and restart) applied around an `OnlineKalmanFilter`. The daemon keeps one per stream
/// and calls `process` per sample; nothing here allocates per sample (only when a stream
/// starts or restarts).
public struct GazeStreamFilter: Sendable {
    /// The model in force for this stream.
    public private(set) var parameters: ModelParameters
    /// The stream's model beside its parameters (loss rule, rate, restarts, start rule).
    public var model: StreamModel
    /// Counters for statistics.
    public var counters = StreamCounters()
    /// The stream's sample counter: the `seq` of the last published estimate (1 for the first).
    public private(set) var sequenceNumber: UInt64 = 0
    /// The timestamp of the last accepted sample.
    public private(set) var lastTime: Double?
    /// Whether the last accepted sample was masked (lost, implausible, or not used).
    public private(set) var lastWasMasked = false

    private var filter: OnlineKalmanFilter?
    private var lastArrival: Double = 0
    /// Scratch for the estimate in observation space, allocated once: H·mean (m), H·Σ·Hᵀ (m×m).
    private var estimateMean: [Double]
    private var estimateCovariance: [Double]
    /// H·mu_0 and H·sigma_0·Hᵀ: what is published before a stream has started.
    private var priorMean: [Double]
    private var priorCovariance: [Double]

    /// A stream that has seen no sample yet.
    /// - Precondition: `parameters` are valid (see `ModelParameters.validate()`).
    public init(parameters: ModelParameters, model: StreamModel) {
        self.parameters = parameters
        self.model = model
        let m = parameters.observationDimension
        estimateMean = [Double](repeating: 0, count: m)
        estimateCovariance = [Double](repeating: 0, count: m * m)
        (priorMean, priorCovariance) = Self.prior(parameters)
    }

    /// What `process` did with a sample.
    public enum Outcome: Sendable, Equatable {
        /// An estimate is ready to publish (read it with `withEstimate`).
        case estimate
        /// The sample was older than the last one, by at most `reset_after_s` (a late sample),
        /// and was dropped. (A jump back further is a clock restart: the stream starts afresh.)
        case droppedStale
    }

    /// Runs one sample through the filter.
    /// - Parameters:
    ///   - time: the sample's timestamp in seconds (from the tracker).
    ///   - observation: the m observed values (for gaze, x and y in pixels), as received.
    ///   - confidence: the tracker's confidence, NaN when the input carries none.
    ///   - arrival: a monotonic clock reading in seconds, to detect silence by the wall clock.
    public mutating func process(time: Double, observation: UnsafeBufferPointer<Double>, confidence: Double = .nan,
                                 arrival: Double) -> Outcome {
        counters.received += 1
        if lastTime != nil && arrival - lastArrival > model.resetAfterSeconds {
            // Silent by the wall clock: start afresh, timestamps included, since a tracker that
            // went quiet may come back with its clock restarted (its samples are not stale).
            restart()
            lastTime = nil
        }
        if let last = lastTime {
            switch StreamClock.advance(from: last, to: time, model: model) {
            case .stale:
                counters.dropped += 1  // a late sample
                return .droppedStale
            case .restart:
                restart()
            case .next(let bridged):
                if bridged > 0, filter != nil {
                    for _ in 0..<bridged { filter!.predictOnly() }
                    counters.bridgedSteps += UInt64(bridged)
                }
            }
        }
        let verdict = model.verdict(observation, confidence: confidence)
        lastTime = time
        lastArrival = arrival
        lastWasMasked = verdict.isMasked
        sequenceNumber += 1
        counters.published += 1
        if verdict.isMasked { counters.masked += 1 }
        if verdict == .implausible { counters.implausible += 1 }

        if filter == nil {
            filter = model.startingFilter(parameters, at: verdict.isMasked ? nil : observation)
            guard filter != nil else { return .estimate }  // not started: the prior is published
        }
        do {
            try filter!.step(observation: verdict.isMasked ? nil : observation)
        } catch .singularInnovationCovariance {
            counters.singular += 1  // published as the prediction
            lastWasMasked = true
        } catch {  // .nonFiniteState
            counters.diverged += 1  // nothing sensible to publish: start afresh, publish the prior
            restart()
            lastWasMasked = true
        }
        return .estimate
    }

    /// Calls `body` with the last estimate: H·mean (m values), its covariance H·Σ·Hᵀ (m×m,
    /// row-major) and the full state mean (n values). Before the stream has started (only
    /// lost samples so far) these are the prior's: H·mu_0, H·sigma_0·Hᵀ and mu_0.
    public mutating func withEstimate<Result>(
        _ body: (_ mean: UnsafeBufferPointer<Double>, _ covariance: UnsafeBufferPointer<Double>, _ state: UnsafeBufferPointer<Double>) throws -> Result
    ) rethrows -> Result {
        guard let filter else {
            return try priorMean.withUnsafeBufferPointer { mean in
                try priorCovariance.withUnsafeBufferPointer { covariance in
                    try parameters.initialMean.withUnsafeBufferPointer { state in try body(mean, covariance, state) }
                }
            }
        }
        estimateMean.withUnsafeMutableBufferPointer { mean in
            estimateCovariance.withUnsafeMutableBufferPointer { covariance in
                filter.observationEstimate(mean: mean.baseAddress!, covariance: covariance.baseAddress!)
            }
        }
        return try estimateMean.withUnsafeBufferPointer { mean in
            try estimateCovariance.withUnsafeBufferPointer { covariance in
                try filter.withState { state, _ in try body(mean, covariance, state) }
            }
        }
    }

    /// Whether the stream's filter has started (it has seen an unmasked sample, or starts from mu_0).
    public var hasStarted: Bool { filter != nil }

    /// Switches to new parameters without a restart where the shapes allow it: the filtered
    /// mean and covariance carry over and the next step uses the new model. A change of n or
    /// m restarts the stream.
    public mutating func replaceParameters(_ new: ModelParameters) {
        let sameShape = new.stateDimension == parameters.stateDimension && new.observationDimension == parameters.observationDimension
        parameters = new
        (priorMean, priorCovariance) = Self.prior(new)
        guard let old = filter else { return }
        guard sameShape else {
            estimateMean = [Double](repeating: 0, count: new.observationDimension)
            estimateCovariance = [Double](repeating: 0, count: new.observationDimension * new.observationDimension)
            restart()
            return
        }
        filter = old.continuing(with: new)
    }

    /// Forgets the state: the next sample starts the stream afresh (the counters and `seq` go on).
    public mutating func restart() {
        if filter != nil { counters.resets += 1 }
        filter = nil
    }

    private static func prior(_ p: ModelParameters) -> ([Double], [Double]) {
        let h = p.observation
        return (h * p.initialMean, (h * p.initialCovariance * h.transposed).elements)
    }
}
