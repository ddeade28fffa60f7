/// How a stream's filter starts, bridges gaps and restarts.
public struct StreamSettings: Sendable, Equatable {
    /// Where a stream's state mean starts.
    public enum Initialization: String, Sendable, Equatable, CaseIterable {
        /// From the first unmasked sample (its m values, the rest of the state zero), as the
        /// course material does; until then lost samples are published as the prior.
        case firstSample = "first-sample"
        /// From the parameters' mu_0, from the very first sample.
        case parameters = "params"
    }

    /// The tracker's nominal rate; with it, a gap longer than 1.5 periods is bridged with
    /// predict-only steps so that one model step stays one period. Nil: one sample is one step.
    public var rateHz: Double?
    /// A stream silent this long (by its timestamps, or by the wall clock) starts afresh.
    public var resetAfterSeconds: Double
    /// Where the state mean starts.
    public var initialization: Initialization

    /// Settings with documented defaults: no rate (one sample, one step), reset after 5 s of
    /// silence, start from the first sample.
    public init(rateHz: Double? = nil, resetAfterSeconds: Double = 5, initialization: Initialization = .firstSample) {
        self.rateHz = rateHz
        self.resetAfterSeconds = resetAfterSeconds
        self.initialization = initialization
    }

    /// The longest gap, in steps, that is bridged: a gap of up to `reset_after_s`, and never
    /// more than 100,000 predict-only steps for one sample (a bound on work per sample, about
    /// 5 ms); a longer gap restarts the stream instead.
    public var maximumBridgedSteps: Int {
        guard let rateHz else { return 0 }
        return Int(min(max(1, (resetAfterSeconds * rateHz).rounded(.up)), 100_000))
    }
}

/// What happened to one stream so far: the per-stream part of `gaze.stats`.
public struct StreamCounters: Sendable, Equatable {
    /// Samples received (well-formed).
    public var received: UInt64 = 0
    /// Estimates published (one per accepted sample).
    public var published: UInt64 = 0
    /// Accepted samples that were lost (a negative coordinate).
    public var masked: UInt64 = 0
    /// Samples dropped because they were older than the stream's last one.
    public var dropped: UInt64 = 0
    /// Messages for this stream that could not be decoded.
    public var malformed: UInt64 = 0
    /// Predict-only steps inserted to bridge gaps.
    public var bridgedSteps: UInt64 = 0
    /// Times the stream started afresh: after silence (by its clock or the wall clock), a jump
    /// of its clock back beyond `reset_after_s`, a gap beyond the bridging bound, an overflow,
    /// or a parameter change of shape.
    public var resets: UInt64 = 0
    /// Steps whose innovation covariance was singular (published as the prediction).
    public var singular: UInt64 = 0
    /// Times the state overflowed (an unstable model over a long gap) and the stream restarted.
    public var diverged: UInt64 = 0
    /// Total and largest filter step time, nanoseconds (for the mean and the worst case).
    public var stepNanosecondsTotal: UInt64 = 0
    public var stepNanosecondsMax: UInt64 = 0

    public init() {}
}
