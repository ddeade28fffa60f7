#if canImport(Glibc)
import Glibc
#endif
import CommandLineSupport
import Foundation
import GazeKit
import GazeRefit
import LinearDynamics

/// The `gazefit` tool: filter, smooth, fit and sample gaze files with the numerical core.
///
/// `main` hands its arguments to `Gazefit.run`, which returns the exit status: 0 on
/// success, 2 for bad input (usage, files, parameters), 1 when the numbers cannot be
/// computed (for example a singular innovation covariance).
public enum Gazefit {
    /// The stream-model settings that apply to files: which rows are lost or implausible, and
    /// how each sequence starts; the daemon's own descriptions (`StreamModel.settings`).
    static let modelSettings = SettingsTable<StreamModel>(
        ["loss", "plausible", "start"].compactMap { key in
            let setting = StreamModel.settings.setting(key: key)
            return key == "loss" ? setting?.withSwitch("no-mask-negative", text: "none", help: "the same as --loss none (kept for older scripts)") : setting
        }, defaults: { StreamModel() })
    static let modelOptions = modelSettings.options
    static let offsetsOption = OptionSpec("transition-offsets", .value(placeholder: "B.csv"), help: "per-step transition offsets: header b0,b1,...; one row per transition (row t: the step t to t+1), used instead of the parameters' b")
    static let outputJSON = OptionSpec("output", .value(placeholder: "OUT.json"), help: "write the result here (atomically) instead of to stdout")

    static let filterSpec = CommandSpec(
        name: "gazefit filter", summary: "Run the Kalman filter over an observation file.",
        options: [
            OptionSpec("params", .value(placeholder: "P.json"), required: true, help: "model parameters (D, Q, H, R, mu_0, sigma_0; optional offsets b, d)"),
            OptionSpec("input", .value(placeholder: "OBS.csv"), required: true, help: "observations: header t,<columns>[,confidence]; an empty or NaN cell is a missing component; rows the loss rule or plausible range rejects are masked"),
            OptionSpec("output", .value(placeholder: "OUT.json|OUT.csv"), help: "write the result here (atomically) instead of to stdout; a name ending in .csv writes CSV"),
            OptionSpec("format", .value(placeholder: "json|csv"), help: "output format (default: csv for an --output ending in .csv, else json)"),
            offsetsOption,
        ] + modelOptions,
        notes: estimateNotes("filtered"))
    static let smoothSpec = CommandSpec(
        name: "gazefit smooth", summary: "Run the RTS smoother over an observation file.",
        options: filterSpec.options,
        notes: estimateNotes("smoothed"))
    static let fixedLagSpec = CommandSpec(
        name: "gazefit fixed-lag", summary: "Run the fixed-lag smoother over an observation file (what gazefilterd publishes on gaze.smooth.<stream>).",
        options: filterSpec.options + [
            OptionSpec("lag", .value(placeholder: "N"), required: true, help: "how many later steps each estimate waits for (0 ... 1000000; 0 is the filter)"),
        ],
        notes: "Row t's estimate is given rows 0 ... t+N: the RTS smoother over the file cut after row t+N, at t (the last N rows given the whole file).\n"
            + estimateNotes("fixed-lag smoothed"))

    /// The output description of filter and smooth.
    static func estimateNotes(_ kind: String) -> String {
        """
        One result per input row. JSON: {"means", "covariances"} (the \(kind) state, T×n and T×n×n), "loglikelihood"
        (the filter's), "columns" (the input's observed column names), "t", "estimates" (H·mean, T×m),
        "estimate_covariances" (H·P·Hᵀ, T×m×m) and "masked" (true where the row was lost).
        CSV: header t,<columns>,cov_<a>_<b> (upper triangle of H·P·Hᵀ, row by row),s0..s<n-1> (the state's mean),masked (1 or 0),
        e.g. t,x,y,cov_x_x,cov_x_y,cov_y_y,s0,s1,masked for gaze. Both eyes (columns lx,ly,rx,ry): also the gaze between
        them as the daemon publishes it, x,y,cov_x_x,cov_x_y,cov_y_y before s0 (JSON: "gaze", T×2, and "gaze_covariances", T×2×2).
        """
    }
    static let emSpec = CommandSpec(
        name: "gazefit em", summary: "Fit model parameters by EM over one or several observation files.",
        options: [
            OptionSpec("params", .value(placeholder: "INIT.json"), required: true, help: "parameters to start from"),
            OptionSpec("input", .repeatedValue(placeholder: "OBS.csv"), required: true, help: "observations; several files are fitted together as separate sequences"),
            OptionSpec("fit", .value(placeholder: "D,Q,H,R"), required: true, help: "parameters to fit: any of D, Q, H, R, mu_0, sigma_0, b, d (b and d: the offsets)"),
            OptionSpec("iterations", .value(placeholder: "N"), required: true, help: "most EM iterations to run (1 ... 1,000,000)"),
            OptionSpec("tolerance", .value(placeholder: "TOL"), help: "stop once an iteration improves the log-likelihood by less than TOL"),
            OptionSpec("tolerance-per-sample", .value(placeholder: "NATS"),
                       help: "stop, converged, once the last gain and the gain still to come per observed sample are below NATS (e.g. 1e-7)"),
            OptionSpec("acceleration", .value(placeholder: "SCHEME"), help: "none (plain EM, pykalman's iterations; default) or squarem (accelerated, monotone)"),
            outputJSON, offsetsOption,
        ] + modelOptions,
        notes: "Writes the fitted parameters (same keys as the params file) plus \"loglikelihoods\": before iteration 1, then after each.")
    static let sampleSpec = CommandSpec(
        name: "gazefit sample", summary: "Draw observations (and states) from the model with a seeded generator.",
        options: [
            OptionSpec("params", .value(placeholder: "P.json"), required: true, help: "model parameters"),
            OptionSpec("steps", .value(placeholder: "T"), required: true, help: "number of time steps"),
            OptionSpec("seed", .value(placeholder: "S"), required: true, help: "generator seed (0 ... 2^64-1); the same seed gives the same data everywhere"),
            OptionSpec("rate", .value(placeholder: "HZ"), help: "sampling rate for the t column (default 60)"),
            OptionSpec("lost-fraction", .value(placeholder: "F"), help: "fraction of samples written as lost gaze (-1 in every column), default 0"),
            OptionSpec("output", .value(placeholder: "OBS.csv"), required: true, help: "observation CSV to write"),
            OptionSpec("states", .value(placeholder: "S.csv"), help: "also write the latent states"),
            offsetsOption,
        ])

    static let refitSpec = CommandSpec(
        name: "gazefit refit", summary: "Refit each stream's model from the daemon's recordings, promote it only if it predicts held-out data better, and reload the daemon.",
        options: RefitConfiguration.options,
        notes: """
            Per stream: reads <record_dir>/<stream>/<YYYY-MM-DD>.csv of the window's UTC days, newest first up to
            max_samples (corrupt lines skipped and counted; other files listed as ignored), by the stream's model
            as the daemon runs it (daemon_config: loss rule, plausible range, rate_hz bridging, reset_after_s
            restarts, start rule); fits by multi-sequence EM from the stream's current parameters, holds back the
            most recent fraction, and installs <params_dir>/<stream>.json atomically (the old one kept as
            <stream>.prev.json) only when the held-out log-likelihood per sample improves by the margin. Then the
            daemon is told to reload. Prints a JSON report; writes it and an SVG figure per stream to report_dir.
            Exit status: 0 when every stream was judged, 1 when one failed or was locked, 2 for bad settings.
            """)

    /// The command table.
    public static let group = CommandGroup(
        name: "gazefit", summary: "Batch side of gazefilter: filter, smooth, EM and sampling over gaze files, and the periodic refit.",
        commands: [("filter", filterSpec), ("smooth", smoothSpec), ("fixed-lag", fixedLagSpec), ("em", emSpec), ("sample", sampleSpec), ("refit", refitSpec)])

    /// Runs one `gazefit` command line (without the program name) and returns the exit status.
    public static func run(_ arguments: [String]) -> Int32 {
        group.run(arguments, isBadInput: { $0 is GazeFileError }) { command, options in
            switch command {
            case "filter": try estimate(options, .filter)
            case "smooth": try estimate(options, .smooth)
            case "fixed-lag": try estimate(options, .fixedLag(try options.integer("lag", in: 0...1_000_000)!))
            case "em": try fitEM(options)
            case "sample": try sample(options)
            default: return try refit(options)
            }
            return 0
        }
    }

    // MARK: Commands

    /// Which estimates `estimate` computes.
    enum Estimate {
        case filter, smooth, fixedLag(Int)

        var command: String {
            switch self {
            case .filter: "gazefit filter"
            case .smooth: "gazefit smooth"
            case .fixedLag: "gazefit fixed-lag"
            }
        }

        var adjective: String {
            switch self {
            case .filter: "filtered"
            case .smooth: "smoothed"
            case .fixedLag: "fixed-lag smoothed"
            }
        }
    }

    /// `gazefit filter`, `smooth` and `fixed-lag`: one kind of estimate of every step, as JSON.
    static func estimate(_ options: ParsedOptions, _ kind: Estimate) throws {
        var parameters = try ParameterFile.read(try options.require("params")).parameters
        let input = try options.require("input")
        let file = try readObservations(input, for: parameters, options: options)
        try applyTransitionOffsets(options, to: &parameters, steps: [(input, file.observations.count)])
        let start = try model(options).start
        // What the data determine, row by row, by the daemon's own rules: gaze.clean's estimate
        // once H·mu is finite and its state once identified; gaze.smooth's per the smoother.
        let means: StateTrajectory, logLikelihood: Double, estimateKnown: [Bool], stateKnown: [Bool]
        let steps = file.observations.count
        do {
            switch kind {
            case .filter:
                let result = try parameters.filter(file.observations, start: start)
                (means, logLikelihood) = (result.filtered, result.logLikelihood)
                estimateKnown = (0..<steps).map { $0 >= result.observationUnknownSteps }
                stateKnown = (0..<steps).map { $0 >= result.diffuseSteps }
            case .smooth:
                let result = try parameters.smooth(file.observations, start: start)
                (means, logLikelihood) = (result.smoothed, result.filter.logLikelihood)
                estimateKnown = [Bool](repeating: result.filter.diffuseSteps < steps, count: steps)
                stateKnown = estimateKnown
            case .fixedLag(let lag):
                let result = try parameters.fixedLagSmooth(file.observations, lag: lag, start: start)
                (means, logLikelihood, estimateKnown, stateKnown) = (result.estimates, result.logLikelihood, result.known, result.known)
            }
        } catch {
            throw ComputationError("\(input): \(error)")
        }
        guard means.means.allSatisfy(\.isFinite) && means.covariances.allSatisfy(\.isFinite) && logLikelihood.isFinite else {
            throw ComputationError("\(input): the \(kind.adjective) estimates are not finite (the model overflows on this data)")
        }
        let format = try EstimateTable.Format.chosen(flag: options.value("format"), output: options.value("output"),
                                                     command: kind.command)
        let table = EstimateTable(columnNames: file.columnNames, times: file.times, mask: file.observations.mask,
                                  states: means, estimateKnown: estimateKnown, stateKnown: stateKnown,
                                  observation: parameters.observation, offset: parameters.observationOffset,
                                  logLikelihood: logLikelihood)
        try emit(table.text(format), to: options.value("output"))
    }

    static func fitEM(_ options: ParsedOptions) throws {
        var initial = try ParameterFile.read(try options.require("params")).parameters
        let fitting: FittedParameters
        do { fitting = try FittedParameters(names: try options.require("fit")) } catch let error as ParameterError {
            throw UsageError(command: "gazefit em", "--fit: \(error)")
        }
        let iterations = try options.integer("iterations", in: 1...1_000_000)!
        let tolerance = try options.number("tolerance", requirement: "a non-negative number") { $0 >= 0 }
        let inputs = options.values("input")
        let sequences = try inputs.map { (path) throws -> ObservationSequence in
            let observations = try readObservations(path, for: initial, options: options).observations
            guard !observations.isEmpty else { throw GazeFileError(path: path, line: 2, "has no samples after the header") }
            return observations
        }
        try applyTransitionOffsets(options, to: &initial, steps: zip(inputs, sequences).map { ($0, $1.count) })
        let start = try model(options).start
        let tolerancePerSample = try options.number("tolerance-per-sample", requirement: "a positive number") { $0 > 0 }
        var acceleration = EMAcceleration.none
        if let text = options.value("acceleration") {
            guard let scheme = EMAcceleration(rawValue: text) else {
                throw UsageError(command: "gazefit em", "--acceleration must be none or squarem, got \"\(text)\"")
            }
            acceleration = scheme
        }
        let result: EMResult
        do {
            result = try initial.fitEM(to: sequences, configuration: EMConfiguration(
                fitting: fitting, maximumIterations: iterations, tolerance: tolerance, tolerancePerSample: tolerancePerSample,
                start: start, acceleration: acceleration))
        } catch .filter(let iteration, let sequence, let error) {
            throw ComputationError("\(inputs[sequence]): EM iteration \(iteration): \(error)")
        } catch .unidentified {
            throw GazeFileError(path: inputs.joined(separator: ", "), "\(EMError.unidentified)")
        } catch .configuration(let problem) {
            throw UsageError(command: "gazefit em", problem)
        } catch {
            throw ComputationError("\(inputs.joined(separator: ", ")): \(error)")
        }
        if let iteration = result.decreasedAt {
            try? StandardStream.error.write("gazefit em: warning: iteration \(iteration) lowered the log-likelihood; stopped with the parameters of iteration \(iteration - 1) (\(ModelParameters.decreaseCauses))\n")
        }
        let output = ParameterFile(parameters: result.parameters, extra: [
            "loglikelihoods": JSONValue(result.logLikelihoods), "converged": .bool(result.converged), "iterations": .integer(result.iterations)])
        try emit(output.encoded(), to: options.value("output"))
    }

    static func sample(_ options: ParsedOptions) throws {
        var parameters = try ParameterFile.read(try options.require("params")).parameters
        let steps = try options.integer("steps", in: 1...100_000_000)!
        try applyTransitionOffsets(options, to: &parameters, steps: [("--steps", steps)])
        guard let seed = UInt64(try options.require("seed")) else {
            throw UsageError(command: "gazefit sample", "--seed must be a whole number in 0...\(UInt64.max)")
        }
        let rate = try options.number("rate", requirement: "a positive number") { $0 > 0 } ?? 60
        let lostFraction = try options.number("lost-fraction", requirement: "a number in [0, 1]") { (0...1).contains($0) } ?? 0
        var generator = SeededGenerator(seed: seed)
        let sampled = parameters.sample(steps: steps, using: &generator)
        var observations = sampled.observations
        var lossGenerator = SeededGenerator(seed: seed ^ 0x6C6F_7374)
        if lostFraction > 0 {
            var withLosses = ObservationSequence(dimension: observations.dimension)
            for t in 0..<observations.count {
                let lost = lossGenerator.nextUniform() < lostFraction
                withLosses.append(lost ? Array(repeating: -1, count: observations.dimension) : observations[t])
            }
            observations = withLosses
        }
        let times = (0..<steps).map { Double($0) / rate }
        guard times.last!.isFinite else {
            throw UsageError(command: "gazefit sample", "--rate \(rate) is too small: the times of \(steps) steps overflow")
        }
        guard sampled.states.means.allSatisfy(\.isFinite) && observations.values.allSatisfy({ !$0.isInfinite }) else {
            throw ComputationError("\(try options.require("params")): the sampled states overflow within \(steps) steps (D is unstable)")
        }
        // Both files appear together or not at all.
        var files = [(path: try options.require("output"), text: ObservationFile.csv(
            times: times, observations: observations, columnNames: ObservationFile.defaultColumnNames(dimension: observations.dimension)))]
        if let statesPath = options.value("states") {
            var states = ObservationSequence(dimension: parameters.stateDimension)
            for t in 0..<steps { states.append(sampled.states.mean(at: t)) }
            files.append((statesPath, ObservationFile.csv(times: times, observations: states,
                                                          columnNames: (0..<parameters.stateDimension).map { "s\($0)" })))
        }
        try AtomicFile.write(texts: files)
    }

    static func refit(_ options: ParsedOptions) throws -> Int32 {
        let configuration = try RefitConfiguration.load(options)
        let streams = options.values("stream")
        // Test hook (see README): stop at an install step so a test can kill the job exactly there.
        var stopBefore: InstallStep?
        if let point = ProcessInfo.processInfo.environment["GAZEFIT_TEST_STOP_BEFORE"], !point.isEmpty {
            guard let step = InstallStep(rawValue: point) else {
                throw UsageError(command: "gazefit refit", "GAZEFIT_TEST_STOP_BEFORE must be backup-rename or params-rename, got \"\(point)\"")
            }
            stopBefore = step
        }
        let job = RefitJob(configuration: configuration, dryRun: options.flag("dry-run"), stopBefore: stopBefore) { line in
            try? StandardStream.error.write("gazefit refit: \(line)\n")
        }
        let outcome = job.run(streams: streams.isEmpty ? nil : streams)
        try StandardStream.output.write(outcome.report)
        return outcome.status
    }

    // MARK: Helpers

    /// Reads an observation file and checks it has the model's m columns.
    static func readObservations(_ path: String, for parameters: ModelParameters, options: ParsedOptions) throws -> ObservationFile {
        let file = try ObservationFile.read(path, model: try model(options))
        guard file.observations.dimension == parameters.observationDimension else {
            throw GazeFileError(path: path, line: 1,
                "has \(file.observations.dimension) observed columns, the parameters observe \(parameters.observationDimension) (H has \(parameters.observationDimension) rows)")
        }
        return file
    }

    /// Reads `--transition-offsets` (if given) into the parameters' per-step offsets; each
    /// sequence (named, with its step count) must have exactly one row per transition.
    static func applyTransitionOffsets(_ options: ParsedOptions, to parameters: inout ModelParameters,
                                       steps: [(name: String, count: Int)]) throws(GazeFileError) {
        guard let path = options.value("transition-offsets") else { return }
        let offsets = try TransitionOffsetFile.read(path, stateDimension: parameters.stateDimension)
        for (name, count) in steps where offsets.rows != max(count - 1, 0) {
            throw GazeFileError(path: path, "has \(offsets.rows) rows, but \(name) has \(count) steps: expected one row per transition (\(max(count - 1, 0)))")
        }
        parameters.transitionOffsets = offsets
    }

    /// The stream model the flags give (`--loss`, `--plausible`, `--start`), over the gaze defaults.
    static func model(_ options: ParsedOptions) throws(UsageError) -> StreamModel {
        var model = StreamModel()
        try modelSettings.apply(options, to: &model, command: "gazefit")
        return model
    }

    /// Writes `text` atomically to `path`, or to stdout without one.
    static func emit(_ text: String, to path: String?) throws {
        if let path { try AtomicFile.write(text: text, to: path) } else { try StandardStream.output.write(text) }
    }
}

/// The numbers could not be computed (singular covariance, invalid EM update): exit status 1.
struct ComputationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
