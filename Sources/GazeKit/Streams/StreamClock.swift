/// How a stream's timestamps map to model steps, and what is stale and what is a restart:
/// one rule, applied identically to live samples (`GazeStreamFilter`) and to recorded
/// sequences (`RecordingReader`, hence EM, the smoother and the gate).
///
/// Given the previous accepted sample's time and a new sample's time:
/// - older by at most `reset_after_s`: a late (stale) sample, dropped;
/// - older by more, or newer by more than `reset_after_s`: the tracker's clock restarted, or
///   the stream was silent; a new sequence starts (the state starts afresh by the start rule);
/// - with `rate_hz`, a gap over 1.5 periods holds `round(gap · rate) − 1` missing samples,
///   bridged with that many predict-only (masked) steps, so one model step stays one period;
///   a gap needing more than `maximumBridgedSteps` restarts instead;
/// - otherwise the sample is the next step.
public enum StreamClock {
    /// What a new sample's time means for the stream.
    public enum Advance: Equatable, Sendable {
        /// The next step, after `bridged` predict-only steps for the samples missing before it.
        case next(bridged: Int)
        /// Older than the last sample by at most `reset_after_s`: dropped.
        case stale
        /// The stream starts afresh at this sample.
        case restart(Restart)
    }

    /// Why a stream starts afresh.
    public enum Restart: Equatable, Sendable {
        /// Newer than the last sample by more than `reset_after_s`.
        case silence
        /// Older than the last sample by more than `reset_after_s`: the tracker's clock restarted.
        case clockRestart
        /// The gap would need more predict-only steps than the bridging bound.
        case gapBeyondBridging
    }

    /// What `time` means after a sample at `last` under `model`.
    @inline(__always)
    public static func advance(from last: Double, to time: Double, model: StreamModel) -> Advance {
        let gap = time - last
        if gap < 0 {
            return -gap <= model.resetAfterSeconds ? .stale : .restart(.clockRestart)
        }
        if gap > model.resetAfterSeconds { return .restart(.silence) }
        guard let rate = model.rateHz, gap * rate > 1.5 else { return .next(bridged: 0) }
        let missing = (gap * rate).rounded() - 1  // in Double: never traps
        guard missing <= Double(model.maximumBridgedSteps) else { return .restart(.gapBeyondBridging) }
        return .next(bridged: Int(missing))
    }
}
