import LinearDynamics

/// One tracker's live filter: its `StreamModel` (loss, plausibility, start rule, time to
/// steps, stale and restart) applied around an `OnlineKalmanFilter`. The daemon keeps one per
/// stream and calls `process` per sample; nothing here allocates per sample, restarts included
/// (storage is made when the stream appears, or when its parameters or start rule change).
public struct GazeStreamFilter: Sendable {
    /// The model in force for this stream.
    public private(set) var parameters: ModelParameters
    /// The stream's model beside its parameters (loss rule, rate, restarts, start rule). A new
    /// start rule takes effect at once: the stream starts afresh under it.
    public var model: StreamModel {
        didSet { if model.start != filter.start { replaceFilter() } }
    }
    /// Counters for statistics.
    public var counters = StreamCounters()
    /// The stream's sample counter: the `seq` of the last published estimate (1 for the first).
    public private(set) var sequenceNumber: UInt64 = 0
    /// The timestamp of the last accepted sample.
    public private(set) var lastTime: Double?
    /// Whether the last accepted sample was masked (lost, implausible, or not used).
    public private(set) var lastWasMasked = false

    private var filter: OnlineKalmanFilter
    /// Whether an observed sample went through the filter since its last (re)start.
    private var observedSinceStart = false
    private var lastArrival: Double = 0
    /// Scratch for the estimate in observation space, allocated once: H·mean (m), H·Σ·Hᵀ (m×m),
    /// and a state of n unknowns (NaN) published before the state is identified.
    private var estimateMean: [Double]
    private var estimateCovariance: [Double]
    private var unknownState: [Double]

    /// A stream that has seen no sample yet.
    /// - Precondition: `parameters` are valid (see `ModelParameters.validate()`).
    public init(parameters: ModelParameters, model: StreamModel) {
        self.parameters = parameters
        self.model = model
        filter = OnlineKalmanFilter(parameters: parameters, start: model.start)
        let m = parameters.observationDimension
        estimateMean = [Double](repeating: .nan, count: m)
        estimateCovariance = [Double](repeating: .nan, count: m * m)
        unknownState = [Double](repeating: .nan, count: parameters.stateDimension)
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
                if bridged > 0, filter.stepCount > 0 {
                    for _ in 0..<bridged { filter.predictOnly() }
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
        do {
            try filter.step(observation: verdict.isMasked ? nil : observation)
            if !verdict.isMasked { observedSinceStart = true }
        } catch .singularInnovationCovariance {
            counters.singular += 1  // published as the prediction
            lastWasMasked = true
        } catch {  // .nonFiniteState
            counters.diverged += 1  // nothing sensible to publish: start afresh (nothing is known)
            restart()
            lastWasMasked = true
        }
        return .estimate
    }

    /// Calls `body` with the last estimate: H·mean (m values), its covariance H·Σ·Hᵀ (m×m,
    /// row-major) and the full state mean (n values). What is not known yet is NaN (published
    /// as null): under the diffuse start, everything before the stream's first observation, and
    /// the state until every part of it is identified (for position and velocity, until the
    /// second observation); under `first-sample`, the start's own mu_0 and sigma_0 before it.
    public mutating func withEstimate<Result>(
        _ body: (_ mean: UnsafeBufferPointer<Double>, _ covariance: UnsafeBufferPointer<Double>, _ state: UnsafeBufferPointer<Double>) throws -> Result
    ) rethrows -> Result {
        let known = filter.hasObservationEstimate
        if known {
            estimateMean.withUnsafeMutableBufferPointer { mean in
                estimateCovariance.withUnsafeMutableBufferPointer { covariance in
                    filter.observationEstimate(mean: mean.baseAddress!, covariance: covariance.baseAddress!)
                }
            }
        } else {
            for i in estimateMean.indices { estimateMean[i] = .nan }
            for i in estimateCovariance.indices { estimateCovariance[i] = .nan }
        }
        return try estimateMean.withUnsafeBufferPointer { mean in
            try estimateCovariance.withUnsafeBufferPointer { covariance in
                guard filter.hasEstimate else {
                    return try unknownState.withUnsafeBufferPointer { state in try body(mean, covariance, state) }
                }
                return try filter.withState { state, _ in try body(mean, covariance, state) }
            }
        }
    }

    /// Whether an observed sample has gone through the filter since its last (re)start.
    public var hasStarted: Bool { observedSinceStart }

    /// Switches to new parameters without a restart where the shapes allow it: the filtered
    /// mean and covariance carry over and the next step uses the new model. A change of n or
    /// m restarts the stream.
    public mutating func replaceParameters(_ new: ModelParameters) {
        let sameShape = new.stateDimension == parameters.stateDimension && new.observationDimension == parameters.observationDimension
        parameters = new
        if sameShape {
            filter = filter.continuing(with: new)
        } else {
            estimateMean = [Double](repeating: .nan, count: new.observationDimension)
            estimateCovariance = [Double](repeating: .nan, count: new.observationDimension * new.observationDimension)
            unknownState = [Double](repeating: .nan, count: new.stateDimension)
            replaceFilter()
        }
    }

    /// Forgets the state: the next sample starts the stream afresh by its start rule (the
    /// counters and `seq` go on). Allocates nothing.
    public mutating func restart() {
        if filter.stepCount > 0 { counters.resets += 1 }
        filter.restart()
        observedSinceStart = false
    }

    /// A new filter for the current parameters and start rule, starting afresh.
    private mutating func replaceFilter() {
        if filter.stepCount > 0 { counters.resets += 1 }
        filter = OnlineKalmanFilter(parameters: parameters, start: model.start)
        observedSinceStart = false
    }
}
