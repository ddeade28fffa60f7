import LinearDynamics

/// The one definition of a gaze stream's model beside its parameters: which samples are
/// lost, which are implausible, how its state starts and restarts, how its time maps to model
/// steps, and what is stale. The daemon filters live samples by it, and the refit reads,
/// fits and judges recordings by the same value, learned from the daemon's own configuration
/// (`streams: {name: {...}}` there), so the two cannot drift apart.
public struct StreamModel: Sendable, Equatable {
    /// The tracker's nominal rate; with it, a gap longer than 1.5 periods is bridged with
    /// predict-only steps so that one model step stays one period (`StreamClock`). Nil: one
    /// sample is one step.
    public var rateHz: Double?
    /// A stream silent this long (by its timestamps, or live by the wall clock), or whose clock
    /// jumps back further, starts afresh; a smaller step back is a stale sample. In the refit
    /// the same gap splits recordings into sequences.
    public var resetAfterSeconds: Double
    /// How the tracker marks a lost sample.
    public var loss: LossRule
    /// The coordinates it can plausibly report; others count as lost (implausible). Nil checks nothing.
    public var plausible: PlausibleRange?
    /// How the state starts at the stream's first sample and at every restart.
    public var start: StartRule
    /// With a lag N, the daemon also publishes each sample's fixed-lag smoothed estimate (given
    /// the N samples after it) on `gaze.smooth.<stream>`; nil publishes none. At most
    /// `maximumSmoothLag`, which bounds the memory (N+1 states) and work (O(N·n³)) per sample.
    public var smoothLag: Int?
    /// Whether the stream carries both eyes (`lx, ly, rx, ry`): its model observes m = 4
    /// components of one gaze state, the loss rule and plausible range apply to each eye on its
    /// own, and what it publishes is the gaze between the eyes (`BinocularGaze`). Fixed for a
    /// stream's life in the daemon (a change takes effect at the next restart).
    public var binocular = false

    /// The largest fixed-lag smoothing lag a stream may ask for.
    public static let maximumSmoothLag = 1000
    /// The most predict-only steps one sample may bridge; a longer gap restarts the stream
    /// (live and in the refit alike). At 1,000 a sample costs at most about 0.1 ms more (n ≤ 4),
    /// whatever its timestamp says: a flood of messages each just under `reset_after_s` after
    /// the last cannot make the sample path step thousands of times per message.
    public var bridgeLimit = 1_000

    /// A stream model; the defaults: no rate (one sample, one step), restart after 5 s,
    /// negative coordinates lost, ±20,000 px plausible, diffuse start.
    public init(rateHz: Double? = nil, resetAfterSeconds: Double = 5, loss: LossRule = .negative,
                plausible: PlausibleRange? = .screen, start: StartRule = .diffuse, smoothLag: Int? = nil, binocular: Bool = false) {
        self.rateHz = rateHz
        self.resetAfterSeconds = resetAfterSeconds
        self.loss = loss
        self.plausible = plausible
        self.start = start
        self.smoothLag = smoothLag
        self.binocular = binocular
    }

    /// m, the components a sample of this stream carries: 2 (x, y), or 4 (lx, ly, rx, ry) when binocular.
    public var observationDimension: Int { binocular ? 4 : 2 }

    /// The bound on predict-only steps bridged for one sample: a gap of up to `reset_after_s`,
    /// and never more than `bridgeLimit` steps (`max_bridged_steps`); a longer gap restarts instead.
    public var maximumBridgedSteps: Int {
        guard let rateHz else { return 0 }
        return Int(min(max(1, (resetAfterSeconds * rateHz).rounded(.up)), Double(bridgeLimit)))
    }

    /// What a sample is to this stream: observed, lost by the loss rule (or not a number), or
    /// implausible (finite but outside the plausible range). `confidence` is NaN when the
    /// input carries none. Allocates nothing.
    @inline(__always)
    public func verdict(_ coordinates: UnsafeBufferPointer<Double>, confidence: Double = .nan) -> SampleVerdict {
        if loss.isLost(coordinates, confidence: confidence) { return .lost }
        guard let plausible else { return .observed }
        return plausible.contains(coordinates) ? .observed : .implausible
    }

    /// Judges a sample eye by eye and masks what is not used, in place: the coordinates of an
    /// eye that is lost or implausible become NaN, so the filter takes the sample as partly
    /// observed (one eye) or masked (both). A monocular sample (2 values) is one eye; a
    /// binocular one (4 values: lx, ly, rx, ry) is two, the left judged with `confidence`, the
    /// right with `rightConfidence` (NaN when the input carries none). Allocates nothing.
    @inline(__always)
    public func judge(_ coordinates: UnsafeMutableBufferPointer<Double>, confidence: Double = .nan,
                      rightConfidence: Double = .nan) -> SampleJudgement {
        var judgement = SampleJudgement()
        let eyes = coordinates.count == 4 ? 2 : 1
        let width = coordinates.count / eyes
        for eye in 0..<eyes {
            let part = UnsafeMutableBufferPointer(rebasing: coordinates[(eye * width)..<((eye + 1) * width)])
            let verdict = self.verdict(UnsafeBufferPointer(part), confidence: eye == 0 ? confidence : rightConfidence)
            guard verdict.isMasked else { continue }
            judgement.unusedEyes |= 1 << eye
            if verdict == .implausible { judgement.implausibleEyes += 1 }
            for i in part.indices { part[i] = .nan }
        }
        let allUnused: UInt8 = eyes == 2 ? 3 : 1
        judgement.verdict = judgement.unusedEyes != allUnused ? .observed : judgement.implausibleEyes > 0 ? .implausible : .lost
        return judgement
    }

    /// Why `parameters` cannot serve this stream, or nil when they can: a monocular stream
    /// observes gaze (x, y), m = 2; a binocular one both eyes (lx, ly, rx, ry), m = 4. The
    /// daemon and the refit refuse a mismatched parameter file with this reason.
    public func parameterMismatch(_ parameters: ModelParameters) -> String? {
        let m = parameters.observationDimension
        if binocular {
            return m == 4 ? nil : "a binocular stream observes both eyes (lx, ly, rx, ry): H must have 4 rows, it has \(m)"
        }
        return m == 2 ? nil : "the daemon observes gaze (x, y): H must have 2 rows, it has \(m)"
            + (m == 4 ? " (parameters for both eyes: set \"binocular\": true for the stream)" : "")
    }

    /// `judge` for coordinates in an array (off the hot path).
    public func judge(_ coordinates: inout [Double], confidence: Double = .nan, rightConfidence: Double = .nan) -> SampleJudgement {
        coordinates.withUnsafeMutableBufferPointer { judge($0, confidence: confidence, rightConfidence: rightConfidence) }
    }

    /// Values as they are: only what is not a number is masked (no loss rule, no range), for
    /// files that are not gaze (sampled states) and for replaying raw values.
    public static let raw = StreamModel(loss: .none, plausible: nil)

    /// `verdict` for coordinates in an array (off the hot path).
    public func verdict(_ coordinates: [Double], confidence: Double = .nan) -> SampleVerdict {
        coordinates.withUnsafeBufferPointer { verdict($0, confidence: confidence) }
    }
}

/// What a sample is to its stream's model, eye by eye (`StreamModel.judge`).
public struct SampleJudgement: Sendable, Equatable {
    /// The whole sample: observed when at least one eye is used; lost, or implausible when an
    /// eye was implausible, when none is (the step is masked).
    public var verdict = SampleVerdict.observed
    /// The eyes not used, as bits: 1 the left (or the only) eye, 2 the right.
    public var unusedEyes: UInt8 = 0
    /// How many eyes were implausible (finite but outside the plausible range).
    public var implausibleEyes = 0

    /// A binocular sample of which exactly one eye is used: partly observed.
    public var isOneEye: Bool { unusedEyes == 1 || unusedEyes == 2 }

    /// Every eye used.
    public init() {}
}

/// What a sample is to its stream's model.
public enum SampleVerdict: Sendable, Equatable {
    /// A usable observation.
    case observed
    /// Lost by the stream's loss rule (or not a number): the step is masked.
    case lost
    /// Finite but outside the plausible range: the step is masked and counted as implausible.
    case implausible

    /// Whether the step is masked.
    public var isMasked: Bool { self != .observed }
}

extension StreamModel {
    /// The per-stream settings, described once: the daemon's config file (top level for every
    /// stream, `streams: {name: {...}}` for one), its flags, and `gazefit`'s flags all use them.
    public static let settings = SettingsTable<StreamModel>([
        Setting("rate_hz", flag: "rate", SettingType.number(in: 0.001...100_000, placeholder: "HZ").orNone, at: \.rateHz,
                help: "the tracker's rate: gaps over 1.5 periods are bridged with predict-only steps (none: one sample, one step)"),
        Setting("reset_after_s", flag: "reset-after", .number(in: 0.001...86_400, placeholder: "SECONDS"), at: \.resetAfterSeconds,
                help: "a stream silent this long, or whose clock jumps back further, starts afresh (a smaller step back is stale); the refit splits sequences there too"),
        Setting("loss", flag: "loss", .parsed(placeholder: "RULE", requirement: LossRule.requirement, parse: { LossRule($0) },
                                              describe: { $0.description }), at: \.loss,
                help: "which samples are lost (the tracker's convention; NaN always is)"),
        Setting("max_bridged_steps", flag: "max-bridged-steps", .integer(in: 0...100_000), at: \.bridgeLimit,
                help: "most predict-only steps one sample may bridge; a longer gap restarts the stream (1000: about 0.1 ms of work at n ≤ 4)"),
        Setting("plausible", flag: "plausible", SettingType.parsed(placeholder: "LOW,HIGH", requirement: PlausibleRange.requirement,
                                                                   parse: { PlausibleRange($0) }, fromJSON: { PlausibleRange(json: $0) },
                                                                   describe: { $0.description }).orNone, at: \.plausible,
                help: "coordinates outside this range count as lost (implausible); none checks nothing"),
        Setting("start", flag: "start", SettingType<StartRule>.cases, at: \.start,
                help: "how a stream's state starts and restarts: diffuse (nothing assumed, the first samples decide), first-sample (the course's) or params (mu_0, pykalman's)",
                keyAliases: ["init"], flagAliases: ["init"]),
        Setting("smooth_lag", flag: "smooth-lag", SettingType.integer(in: 1...StreamModel.maximumSmoothLag, placeholder: "N").orNone,
                at: \.smoothLag,
                help: "also publish each sample's fixed-lag smoothed estimate, given the N samples after it, on gaze.smooth.<stream> (as soon as sample k+N is in; none: no smoothed topic)"),
        Setting("binocular", flag: nil, .boolean, at: \.binocular,
                help: "the stream carries both eyes (lx, ly, rx, ry; docs/PROTOCOL.md): its parameters observe m = 4 (binocular_params unless its own file), loss rule and plausible range apply per eye, the gaze between the eyes is published",
                switches: [("binocular", "true", "every stream carries both eyes (lx, ly, rx, ry); per stream: \"binocular\": true")]),
    ], defaults: { StreamModel() })
}
