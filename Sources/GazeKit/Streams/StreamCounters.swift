/// What happened to one stream so far: the per-stream part of `gaze.stats`.
public struct StreamCounters: Sendable, Equatable {
    /// Samples received (well-formed).
    public var received: UInt64 = 0
    /// Estimates published (one per accepted sample).
    public var published: UInt64 = 0
    /// Accepted samples that were masked: lost by the stream's loss rule, or implausible.
    public var masked: UInt64 = 0
    /// Samples with a coordinate finite but outside the stream's plausible range (binocular:
    /// in either eye; the sample is masked, or for one eye partly observed).
    public var implausible: UInt64 = 0
    /// Binocular streams: accepted samples of which exactly one eye was used (partly observed).
    public var oneEye: UInt64 = 0
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
