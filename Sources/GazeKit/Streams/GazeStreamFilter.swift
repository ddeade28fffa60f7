import LinearDynamics

/// One tracker's live filter: its `StreamModel` (loss, plausibility, start rule, time to
/// steps, stale and restart) applied around an `OnlineKalmanFilter`, and with `smooth_lag` a
/// `FixedLagSmoother` beside it. The daemon keeps one per stream and calls `process` per
/// sample, then reads the sample's estimate (`withEstimate`) and every fixed-lag estimate that
/// became ready (`withNextSmoothedEstimate`); nothing here allocates per sample, restarts
/// included (storage is made when the stream appears, or when its parameters, start rule or
/// lag change; the smoother's first samples after a diffuse start are the exception its
/// documentation names).
public struct GazeStreamFilter: Sendable {
    /// The model in force for this stream.
    public private(set) var parameters: ModelParameters
    /// The stream's model beside its parameters (loss rule, rate, restarts, start rule). A new
    /// start rule takes effect at once: the stream starts afresh under it.
    public var model: StreamModel {
        didSet {
            if model.start != filter.start { replaceFilter() }
            if model.smoothLag != smoother?.lag { replaceSmoother() }
        }
    }
    /// Counters for statistics.
    public var counters = StreamCounters()
    /// The stream's sample counter: the `seq` of the last published estimate (1 for the first).
    public private(set) var sequenceNumber: UInt64 = 0
    /// The timestamp of the last accepted sample.
    public private(set) var lastTime: Double?
    /// Whether the last accepted sample was masked (lost, implausible, or not used).
    public private(set) var lastWasMasked = false
    /// The eyes the last accepted sample did not use (`SampleJudgement.unusedEyes`).
    public private(set) var lastUnusedEyes: UInt8 = 0

    private var filter: OnlineKalmanFilter
    /// Whether an observed sample went through the filter since its last (re)start.
    private var observedSinceStart = false
    private var lastArrival: Double = 0
    /// Scratch for the estimate in observation space, allocated once: H·mean (m), H·Σ·Hᵀ (m×m),
    /// and a state of n unknowns (NaN) published before the state is identified.
    private var estimateMean: [Double]
    private var estimateCovariance: [Double]
    private var unknownState: [Double]
    /// Binocular streams: the published cyclopean gaze (2) and its covariance (2×2); and for
    /// every stream the sample being judged (m), so lost eyes can be masked in place.
    private var gazeMean = [Double](repeating: .nan, count: 2)
    private var gazeCovariance = [Double](repeating: .nan, count: 4)
    private var observationScratch: [Double]
    /// The fixed-lag smoother (with `smooth_lag`), and each pending sample's t, seq and whether
    /// it was masked, by index modulo the smoother's capacity. A smoother being replaced (a new
    /// lag or state size) is kept until its flushed estimates are read.
    private var smoother: FixedLagSmoother?
    private var smoothTags: [SmoothTag] = []
    private var retiring: (smoother: FixedLagSmoother, tags: [SmoothTag])?

    /// What the smoothed topic repeats of a sample.
    struct SmoothTag: Sendable {
        var time = 0.0, sequence: UInt64 = 0, masked = false, unusedEyes: UInt8 = 0
    }

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
        observationScratch = [Double](repeating: .nan, count: m)
        replaceSmoother()
    }

    /// Whether the stream publishes the cyclopean gaze of two eyes: a binocular model whose
    /// parameters observe both (m = 4). The daemon never pairs a binocular stream with other
    /// parameters (`ParameterSource`).
    public var isBinocular: Bool { model.binocular && parameters.observationDimension == 4 }

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
    ///   - observation: the m observed values (for gaze, x and y in pixels; binocular: lx, ly,
    ///     rx, ry), as received.
    ///   - confidence: the tracker's confidence (binocular: the left eye's), NaN when the input carries none.
    ///   - rightConfidence: binocular: the right eye's confidence, NaN when none.
    ///   - arrival: a monotonic clock reading in seconds, to detect silence by the wall clock.
    public mutating func process(time: Double, observation: UnsafeBufferPointer<Double>, confidence: Double = .nan,
                                 rightConfidence: Double = .nan, arrival: Double) -> Outcome {
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
                    for _ in 0..<bridged {
                        filter.predictOnly()
                        smoother?.bridge(filter)
                    }
                    counters.bridgedSteps += UInt64(bridged)
                }
            }
        }
        // Each eye judged on its own (a monocular stream has one): lost eyes become NaN.
        let count = min(observation.count, observationScratch.count)
        for i in 0..<observationScratch.count { observationScratch[i] = i < count ? observation[i] : .nan }
        let judgement = observationScratch.withUnsafeMutableBufferPointer {
            model.judge($0, confidence: confidence, rightConfidence: rightConfidence)
        }
        let verdict = judgement.verdict
        lastTime = time
        lastArrival = arrival
        lastWasMasked = verdict.isMasked
        lastUnusedEyes = judgement.unusedEyes
        sequenceNumber += 1
        counters.published += 1
        if verdict.isMasked { counters.masked += 1 }
        if judgement.implausibleEyes > 0 { counters.implausible += 1 }
        if judgement.isOneEye { counters.oneEye += 1 }
        var diverged = false
        do {
            try observationScratch.withUnsafeBufferPointer { observed throws(KalmanError) in
                _ = try filter.step(observation: verdict.isMasked ? nil : observed)
            }
            if !verdict.isMasked { observedSinceStart = true }
        } catch .singularInnovationCovariance {
            counters.singular += 1  // published as the prediction
            lastWasMasked = true
        } catch {  // .nonFiniteState
            counters.diverged += 1  // nothing sensible to publish: start afresh (nothing is known)
            restart()
            lastWasMasked = true
            diverged = true
        }
        if smoother != nil {
            smoothTags[smoother!.nextIndex % smoother!.capacity] = SmoothTag(time: time, sequence: sequenceNumber, masked: lastWasMasked,
                                                                             unusedEyes: lastWasMasked ? (isBinocular ? 3 : 1) : lastUnusedEyes)
            smoother!.push(filter)
            // A sample the filter could not take stands alone: its sequence ends with it.
            if diverged { smoother!.flush() }
        }
        return .estimate
    }

    /// Calls `body` with the next fixed-lag estimate ready to publish, if any: its sample's
    /// time, `seq` and masked flag, H·mean + d (m values), H·Σ·Hᵀ (m×m) and the state (n), all
    /// NaN when not known (a diffuse start that the samples up to k+N did not identify); for a
    /// binocular stream the published gaze is the cyclopean one (`withNextSmoothed`).
    /// Estimates come in the order of their samples; read them all after each `process`.
    /// - Returns: whether there was one.
    @discardableResult
    public mutating func withNextSmoothedEstimate(
        _ body: (_ time: Double, _ sequence: UInt64, _ masked: Bool, _ mean: UnsafeBufferPointer<Double>,
                 _ covariance: UnsafeBufferPointer<Double>, _ state: UnsafeBufferPointer<Double>) throws -> Void
    ) rethrows -> Bool {
        try withNextSmoothed { estimate in
            try body(estimate.time, estimate.sequence, estimate.masked, estimate.mean, estimate.covariance, estimate.state)
        }
    }

    /// Calls `body` with the next fixed-lag estimate ready to publish, as published
    /// (`GazeEstimate`: for a binocular stream the cyclopean gaze, each eye's prediction and
    /// the eyes its sample used). Estimates come in the order of their samples.
    /// - Returns: whether there was one.
    @discardableResult
    public mutating func withNextSmoothed(_ body: (GazeEstimate) throws -> Void) rethrows -> Bool {
        if var old = retiring {
            retiring = nil  // the replaced smoother: its flushed estimates first
            let found = try readNext(&old.smoother, old.tags, body)
            if found { retiring = old; return true }
        }
        guard var current = smoother else { return false }
        smoother = nil  // moved out while read, so it stays uniquely referenced (no copy)
        defer { smoother = current }
        return try readNext(&current, smoothTags, body)
    }

    private mutating func readNext(_ smoother: inout FixedLagSmoother, _ tags: [SmoothTag], _ body: (GazeEstimate) throws -> Void) rethrows -> Bool {
        guard let index = smoother.nextReady else { return false }
        let tag = tags[index % smoother.capacity], known = smoother.isKnown(index)
        let parameters = self.parameters
        try smoother.withSmoothed(index) { mean, covariance in
            try publish(known: known, time: tag.time, sequence: tag.sequence, masked: tag.masked, unusedEyes: tag.unusedEyes,
                        fill: { estimate, estimateCovariance in
                            parameters.observationEstimate(mean: mean, covariance: covariance, into: estimate, covariance: estimateCovariance)
                        }, state: known ? mean : nil, body)
        }
        return true
    }

    /// Hands `body` one estimate as published: `fill` writes H·mean + d and H·Σ·Hᵀ when `known`
    /// (else they are NaN); a binocular stream's gaze is then their cyclopean part. `state` nil
    /// publishes an unknown state (NaN).
    private mutating func publish<Result>(
        known: Bool, time: Double, sequence: UInt64, masked: Bool, unusedEyes: UInt8,
        fill: (UnsafeMutableBufferPointer<Double>, UnsafeMutableBufferPointer<Double>) -> Void,
        state: UnsafeBufferPointer<Double>?, _ body: (GazeEstimate) throws -> Result
    ) rethrows -> Result {
        let binocular = isBinocular
        estimateMean.withUnsafeMutableBufferPointer { estimate in
            estimateCovariance.withUnsafeMutableBufferPointer { estimateCovariance in
                if known {
                    fill(estimate, estimateCovariance)
                } else {
                    for i in estimate.indices { estimate[i] = .nan }
                    for i in estimateCovariance.indices { estimateCovariance[i] = .nan }
                }
                guard binocular else { return }
                gazeMean.withUnsafeMutableBufferPointer { gaze in
                    gazeCovariance.withUnsafeMutableBufferPointer { gazeCovariance in
                        BinocularGaze.cyclopean(eyes: UnsafeBufferPointer(estimate), covariance: UnsafeBufferPointer(estimateCovariance),
                                                into: gaze, covariance: gazeCovariance)
                    }
                }
            }
        }
        let unused: UInt8 = masked ? (binocular ? 3 : 1) : unusedEyes
        return try estimateMean.withUnsafeBufferPointer { eyes in
            try estimateCovariance.withUnsafeBufferPointer { eyesCovariance in
                try gazeMean.withUnsafeBufferPointer { gaze in
                    try gazeCovariance.withUnsafeBufferPointer { gazeCovariance in
                        try unknownState.withUnsafeBufferPointer { unknown in
                            try body(GazeEstimate(time: time, sequence: sequence, masked: masked,
                                                  mean: binocular ? gaze : eyes, covariance: binocular ? gazeCovariance : eyesCovariance,
                                                  state: state ?? unknown, eyes: binocular ? eyes : UnsafeBufferPointer(start: nil, count: 0),
                                                  unusedEyes: unused))
                        }
                    }
                }
            }
        }
    }

    /// Ends the smoothed topic's current sequence: the pending samples get their estimates
    /// from what is known (read them with `withNextSmoothedEstimate`). The daemon calls it at
    /// shutdown; restarts call it themselves.
    public mutating func flushSmoothed() {
        smoother?.flush()
    }

    /// A smoother for the model's lag and the parameters' n (none without a lag); the one it
    /// replaces is flushed and kept until its estimates are read.
    private mutating func replaceSmoother() {
        if var old = smoother {
            old.flush()
            retiring = (old, smoothTags)
        }
        guard let lag = model.smoothLag else { smoother = nil; return }
        smoother = FixedLagSmoother(lag: lag, stateDimension: parameters.stateDimension)
        smoothTags = [SmoothTag](repeating: SmoothTag(), count: lag + 1)
    }

    /// Calls `body` with the last estimate: H·mean (m values), its covariance H·Σ·Hᵀ (m×m,
    /// row-major) and the full state mean (n values); for a binocular stream the cyclopean gaze
    /// (2 values) and its 2×2 covariance (`withLastEstimate` also has the eyes). What is not
    /// known yet is NaN (published
    /// as null): under the diffuse start, everything before the stream's first observation, and
    /// the state until every part of it is identified (for position and velocity, until the
    /// second observation); under `first-sample`, the start's own mu_0 and sigma_0 before it.
    public mutating func withEstimate<Result>(
        _ body: (_ mean: UnsafeBufferPointer<Double>, _ covariance: UnsafeBufferPointer<Double>, _ state: UnsafeBufferPointer<Double>) throws -> Result
    ) rethrows -> Result {
        try withLastEstimate { estimate in try body(estimate.mean, estimate.covariance, estimate.state) }
    }

    /// Calls `body` with the last sample's estimate as published (`GazeEstimate`), with its
    /// time, `seq` and masked flag.
    public mutating func withLastEstimate<Result>(_ body: (GazeEstimate) throws -> Result) rethrows -> Result {
        let filter = self.filter, time = lastTime ?? .nan, sequence = sequenceNumber, masked = lastWasMasked, unused = lastUnusedEyes
        let known = filter.hasObservationEstimate
        guard filter.hasEstimate else {
            return try publish(known: known, time: time, sequence: sequence, masked: masked, unusedEyes: unused,
                               fill: { filter.observationEstimate(mean: $0.baseAddress!, covariance: $1.baseAddress!) }, state: nil, body)
        }
        return try filter.withState { state, _ in
            try publish(known: known, time: time, sequence: sequence, masked: masked, unusedEyes: unused,
                        fill: { filter.observationEstimate(mean: $0.baseAddress!, covariance: $1.baseAddress!) }, state: state, body)
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
            observationScratch = [Double](repeating: .nan, count: new.observationDimension)
            replaceFilter()
            replaceSmoother()
        }
    }

    /// Forgets the state: the next sample starts the stream afresh by its start rule (the
    /// counters and `seq` go on). Allocates nothing.
    public mutating func restart() {
        if filter.stepCount > 0 { counters.resets += 1 }
        filter.restart()
        smoother?.flush()
        observedSinceStart = false
    }

    /// A new filter for the current parameters and start rule, starting afresh.
    private mutating func replaceFilter() {
        if filter.stepCount > 0 { counters.resets += 1 }
        filter = OnlineKalmanFilter(parameters: parameters, start: model.start)
        smoother?.flush()
        observedSinceStart = false
    }
}
