import GazeKit
import LinearDynamics

/// What a refit did for one stream: filled in stage by stage, and written in one vocabulary of
/// keys to the report and (for installed parameters) to the parameter file's metadata.
public struct StreamRefit: Sendable {
    /// The outcome.
    public enum Decision: String, Sendable {
        /// New parameters passed the gate (installed unless a dry run).
        case promoted
        /// The gate kept the current parameters.
        case refused
        /// Not enough data, nothing fitted.
        case skipped
        /// Another refit of the stream holds its lock.
        case locked
        /// Something went wrong (unreadable files, a failed fit or install); nothing changed.
        case failed
    }

    /// The stream's name.
    public var stream: String
    /// What was decided.
    public var decision: Decision = .failed
    /// Why, in one sentence.
    public var reason = ""
    /// Whether new parameters were written to `<params_dir>/<stream>.json`.
    public var installed = false
    /// What telling the daemon did (installed streams only).
    public var reloaded: String?
    /// The parameter file the fit started from and was judged against.
    public var currentSource = ""
    /// The stream's model the data was read, fitted and judged by (from the daemon's config).
    public var model = StreamModel()
    /// The recordings read, oldest first.
    public var files: [String] = []
    /// Directory entries that are not recordings of today or earlier, not read.
    public var ignoredFiles: [String] = []
    /// Recordings that could not be read (`path: reason`).
    public var unreadableFiles: [String] = []
    /// Older recordings of the window left unread: newer ones already gave `max_samples`.
    public var filesNotRead: [String] = []
    /// Steps in usable sequences (masked ones included), and how many of them are observed.
    public var samples = 0, observedSamples = 0
    /// Sequences used, and the counts of what the reader skipped or masked (see `RecordingScan`).
    public var sequences = 0, corruptLines = 0, incompleteLines = 0, outOfOrder = 0, clockRestarts = 0, trimmed = 0
    public var lostSamples = 0, implausibleSamples = 0, bridgedSteps = 0
    /// Binocular streams: samples of which one eye was used (partly observed steps).
    public var oneEyeSamples = 0
    /// The first few corrupt lines, `path:line: problem`.
    public var corruptExamples: [String] = []
    /// Steps fitted, and steps held back to judge the fit.
    public var trainingSamples = 0, heldOutSamples = 0
    /// Observed samples among the training steps (the per-sample scale of the log-likelihoods).
    public var trainingObserved = 0
    /// EM iterations run, the E-steps they took, and the scheme (`squarem` or `none`).
    public var iterations = 0, evaluations = 0
    public var acceleration = ""
    /// Whether EM converged by its stopping rule (rather than stopping at its iteration cap).
    public var converged = false
    /// The EM iteration that lowered the likelihood (precision lost), where the fit stopped.
    public var emDecreasedAt: Int?
    /// EM's log-likelihood before iteration 1 and after each.
    public var logLikelihoods: [Double] = []
    /// Held-out log-likelihood per observed sample, current and fitted parameters.
    public var heldOutCurrent: Double?
    public var heldOutFitted: Double?
    /// The fitted parameters, when EM ran.
    public var fitted: ModelParameters?
    /// Where the parameters were installed.
    public var parametersPath: String?
    /// Where the SVG figure was written.
    public var figurePath: String?
    /// Wall time spent on this stream, and in EM.
    public var seconds = 0.0, fitSeconds = 0.0

    /// An empty result for `stream` (decision `failed` until something is decided).
    public init(stream: String) { self.stream = stream }

    /// Which of the fields go where: the report gets all, the parameter metadata the fit's own.
    enum Audience { case report, metadata }

    /// The result as key–value pairs, in report order: the one vocabulary of the report and of
    /// the installed parameters' metadata (counts as integers; `_current` and `_fitted` for
    /// what belongs to each parameter set).
    func fields(for audience: Audience) -> [(key: String, value: JSONValue)] {
        var fields: [(String, JSONValue, Audience?)] = [
            ("stream", .string(stream), nil),
            ("decision", .string(decision.rawValue), nil),
            ("reason", .string(reason), nil),
            ("installed", .bool(installed), .report),
        ]
        if let parametersPath { fields.append(("parameters", .string(parametersPath), .report)) }
        if let reloaded { fields.append(("daemon", .string(reloaded), .report)) }
        fields += [
            ("started_from", .string(currentSource), nil),
            ("loss", .string(model.loss.description), nil),
            ("plausible", model.plausible.map { .string($0.description) } ?? .null, nil),
            ("rate_hz", model.rateHz.map(JSONValue.number) ?? .null, nil),
            ("reset_after_s", .number(model.resetAfterSeconds), nil),
            ("start", .string(model.start.rawValue), nil),
            ("binocular", .bool(model.binocular), nil),
            ("files", .array(files.map(JSONValue.string)), nil),
            ("ignored_files", .array(ignoredFiles.map(JSONValue.string)), .report),
            ("files_not_read", .array(filesNotRead.map(JSONValue.string)), .report),
            ("unreadable_files", .integer(unreadableFiles.count), .report),
            ("unreadable_examples", .array(unreadableFiles.prefix(RecordingReader.exampleLimit).map(JSONValue.string)), .report),
            ("samples", .integer(samples), nil),
            ("observed_samples", .integer(observedSamples), nil),
            ("sequences", .integer(sequences), nil),
            ("training_samples", .integer(trainingSamples), nil),
            ("held_out_samples", .integer(heldOutSamples), nil),
            ("corrupt_lines", .integer(corruptLines), nil),
            ("corrupt_examples", .array(corruptExamples.map(JSONValue.string)), .report),
            ("incomplete_lines", .integer(incompleteLines), .report),
            ("out_of_order", .integer(outOfOrder), nil),
            ("clock_restarts", .integer(clockRestarts), nil),
            ("trimmed", .integer(trimmed), .report),
            ("lost_samples", .integer(lostSamples), nil),
            ("implausible_samples", .integer(implausibleSamples), nil),
            ("one_eye_samples", .integer(oneEyeSamples), nil),
            ("bridged_steps", .integer(bridgedSteps), nil),
            ("acceleration", .string(acceleration), nil),
            ("iterations", .integer(iterations), nil),
            ("em_evaluations", .integer(evaluations), nil),
            ("converged", .bool(converged), nil),
        ]
        if let emDecreasedAt { fields.append(("em_decreased_at", .integer(emDecreasedAt), nil)) }
        fields.append(("loglikelihoods", JSONValue(logLikelihoods), nil))
        if trainingObserved > 0, let last = logLikelihoods.last {
            fields.append(("loglikelihood_per_sample_fitted", .number(last / Double(trainingObserved)), nil))
        }
        if let heldOutCurrent { fields.append(("held_out_loglikelihood_per_sample_current", .number(heldOutCurrent), nil)) }
        if let heldOutFitted { fields.append(("held_out_loglikelihood_per_sample_fitted", .number(heldOutFitted), nil)) }
        if let figurePath { fields.append(("figure", .string(figurePath), .report)) }
        fields.append(("fit_seconds", .number((fitSeconds * 1000).rounded() / 1000), .report))
        fields.append(("seconds", .number((seconds * 1000).rounded() / 1000), .report))
        return fields.filter { $0.2 == nil || $0.2 == audience }.map { ($0.0, $0.1) }
    }
}
