import CommandLineSupport
import Foundation
import GazeKit
import LinearDynamics

/// Every setting of `gazefit refit`: from `config/gazefit.json` (or `--config`), flags win.
public struct RefitConfiguration: Sendable, Equatable {
    /// How the running daemon is told to reload after parameters are installed.
    public enum ReloadMethod: String, Sendable, Equatable {
        /// SIGHUP to the pid in `pidFile`.
        case pidFile = "pid-file"
        /// `systemctl reload <unit>`.
        case systemd
        /// Nothing (the daemon picks the file up at its next reload or restart).
        case none
    }

    /// The daemon's recordings: `<recordDirectory>/<stream>/<UTC date>.csv`.
    public var recordDirectory = "/var/lib/gazefilter/recordings"
    /// Where per-stream parameters live (the daemon's `params_dir`); refits write here.
    public var parametersDirectory = "/var/lib/gazefilter/params"
    /// The parameters a stream without its own file starts from (the daemon's `params`).
    public var defaultParameters = "/etc/gazefilter/params/default.json"
    /// Where reports (JSON and SVG) go; nil prints the JSON summary only.
    public var reportDirectory: String? = "/var/lib/gazefilter/reports"
    /// Only recordings of the last this many hours, by whole UTC days: the files dated on or after
    /// the UTC date of now − `windowHours` (so 24 means yesterday's and today's files).
    public var windowHours = 24.0
    /// At most this many samples per stream, the most recent.
    public var maximumSamples = 2_000_000
    /// A pause in `t` longer than this (seconds) splits the recording into sequences.
    public var splitGapSeconds = 0.5
    /// Sequences shorter than this are not used.
    public var minimumSequenceLength = 10
    /// Streams with fewer samples than this are skipped.
    public var minimumSamples = 500
    /// The parameters EM fits.
    public var fitting: FittedParameters = [.transition, .transitionCovariance, .observation, .observationCovariance]
    /// EM iteration cap and convergence tolerance (log-likelihood improvement per iteration).
    public var iterations = 50
    public var tolerance: Double? = 0.01
    /// The most recent fraction of the data held out to judge the fit.
    public var holdoutFraction = 0.2
    /// Held-out log-likelihood per observed sample the new parameters must gain over the current ones.
    public var minimumImprovement = 0.001
    /// How to tell the daemon.
    public var reload = ReloadMethod.pidFile
    /// The daemon's pid file (for `pid-file` reloads).
    public var pidFile = "/run/gazefilter/gazefilterd.pid"
    /// The daemon's unit (for `systemd` reloads).
    public var unit = "gazefilterd.service"

    public init() {}

    /// Accepted `window_hours`: above 0, up to ten years (keeps date arithmetic far from overflow).
    public static let windowHoursRange = 0.0...87_600.0
    /// Accepted `max_samples` (a billion samples would already need tens of GB).
    public static let maximumSamplesRange = 1...100_000_000
    /// Accepted `min_samples`.
    public static let minimumSamplesRange = 1...100_000_000
    /// Accepted `min_sequence`.
    public static let minimumSequenceRange = 1...1_000_000
    /// Accepted `iterations`.
    public static let iterationsRange = 1...1_000_000
    /// Accepted `split_gap_s`: above 0, up to a day.
    public static let splitGapRange = 0.0...86_400.0

    /// The flags of `gazefit refit` (config keys in brackets).
    public static let options: [OptionSpec] = [
        OptionSpec("config", .value(placeholder: "FILE"), help: "JSON settings (see config/gazefit.json); flags win"),
        OptionSpec("stream", .repeatedValue(placeholder: "NAME"), help: "refit only this stream (default: every stream with recordings)"),
        OptionSpec("dry-run", help: "fit, judge and report, but install nothing and signal no one"),
        OptionSpec("record-dir", .value(placeholder: "DIR"), help: "the daemon's recordings [record_dir]"),
        OptionSpec("params-dir", .value(placeholder: "DIR"), help: "per-stream parameters, written here [params_dir]"),
        OptionSpec("default-params", .value(placeholder: "P.json"), help: "parameters of streams without their own file [default_params]"),
        OptionSpec("report-dir", .value(placeholder: "DIR"), help: "where JSON and SVG reports go [report_dir]"),
        OptionSpec("window-hours", .value(placeholder: "H"), help: "use the recordings dated on or after the UTC day of now − H hours: whole days, so 24 reads yesterday's and today's files (default 24, at most 87600) [window_hours]"),
        OptionSpec("max-samples", .value(placeholder: "N"), help: "at most N samples per stream, the most recent; older files are not read once N are collected (default 2000000, at most 100000000) [max_samples]"),
        OptionSpec("split-gap", .value(placeholder: "SECONDS"), help: "a pause longer than this, or a backward jump in t (clock restart) longer than this, splits sequences (default 0.5) [split_gap_s]"),
        OptionSpec("fit", .value(placeholder: "D,Q,H,R"), help: "parameters to fit (default D,Q,H,R) [fit]"),
        OptionSpec("iterations", .value(placeholder: "N"), help: "EM iteration cap (default 50) [iterations]"),
        OptionSpec("tolerance", .value(placeholder: "TOL"), help: "stop when an iteration gains less (default 0.01) [tolerance]"),
        OptionSpec("holdout", .value(placeholder: "FRACTION"), help: "most recent fraction held out to judge the fit (default 0.2) [holdout_fraction]"),
        OptionSpec("min-improvement", .value(placeholder: "NATS"), help: "held-out log-likelihood per sample the fit must gain (default 0.001) [min_improvement]"),
        OptionSpec("min-samples", .value(placeholder: "N"), help: "skip streams with fewer observed (unmasked) samples (default 500) [min_samples]"),
        OptionSpec("reload", .value(placeholder: "METHOD"), help: "pid-file (default), systemd or none [reload]"),
        OptionSpec("pid-file", .value(placeholder: "FILE"), help: "the daemon's pid file [pid_file]"),
        OptionSpec("unit", .value(placeholder: "UNIT"), help: "the daemon's systemd unit [unit]"),
    ]

    static let keys: Set<String> = ["record_dir", "params_dir", "default_params", "report_dir", "window_hours", "max_samples",
                                    "split_gap_s", "min_sequence", "min_samples", "fit", "iterations", "tolerance",
                                    "holdout_fraction", "min_improvement", "reload", "pid_file", "unit"]

    /// Settings from the config file (if any) and the flags.
    public static func load(_ options: ParsedOptions) throws -> RefitConfiguration {
        var configuration = RefitConfiguration()
        if let path = options.value("config") { try configuration.apply(file: path) }
        try configuration.apply(flags: options)
        return configuration
    }

    /// Applies a JSON config file.
    public mutating func apply(file path: String) throws(GazeFileError) {
        let file = try SettingsFile(path: path, knownKeys: Self.keys)
        if let v = try file.string("record_dir") { recordDirectory = v }
        if let v = try file.string("params_dir") { parametersDirectory = v }
        if let v = try file.string("default_params") { defaultParameters = v }
        if file.isNull("report_dir") { reportDirectory = nil } else if let v = try file.string("report_dir") { reportDirectory = v }
        if let v = try file.number("window_hours", requirement: "a positive number of hours up to \(Int(Self.windowHoursRange.upperBound))",
                                   where: { Self.windowHoursRange.contains($0) && $0 > 0 }) { windowHours = v }
        if let v = try file.integer("max_samples", in: Self.maximumSamplesRange) { maximumSamples = v }
        if let v = try file.number("split_gap_s", requirement: "a positive number of seconds up to \(Int(Self.splitGapRange.upperBound))",
                                   where: { Self.splitGapRange.contains($0) && $0 > 0 }) { splitGapSeconds = v }
        if let v = try file.integer("min_sequence", in: Self.minimumSequenceRange) { minimumSequenceLength = v }
        if let v = try file.integer("min_samples", in: Self.minimumSamplesRange) { minimumSamples = v }
        if let v = try file.string("fit") {
            do { fitting = try FittedParameters(names: v) } catch { throw GazeFileError(path: path, "\"fit\": \(error)") }
        }
        if let v = try file.integer("iterations", in: Self.iterationsRange) { iterations = v }
        if file.isNull("tolerance") { tolerance = nil } else if let v = try file.number("tolerance", requirement: "a non-negative number", where: { $0 >= 0 }) { tolerance = v }
        if let v = try file.number("holdout_fraction", requirement: "a fraction between 0 and 1", where: { $0 > 0 && $0 < 1 }) { holdoutFraction = v }
        if let v = try file.number("min_improvement", requirement: "a number", where: { _ in true }) { minimumImprovement = v }
        if let v = try file.choice("reload", [ReloadMethod.pidFile, .systemd, .none].map(\.rawValue)) { reload = ReloadMethod(rawValue: v)! }
        if let v = try file.string("pid_file") { pidFile = v }
        if let v = try file.string("unit") { unit = v }
    }

    /// Applies flags.
    public mutating func apply(flags options: ParsedOptions) throws(UsageError) {
        let command = "gazefit refit"
        if let v = options.value("record-dir") { recordDirectory = v }
        if let v = options.value("params-dir") { parametersDirectory = v }
        if let v = options.value("default-params") { defaultParameters = v }
        if let v = options.value("report-dir") { reportDirectory = v }
        if let v = try options.number("window-hours", requirement: "a positive number of hours up to \(Int(Self.windowHoursRange.upperBound))",
                                      where: { Self.windowHoursRange.contains($0) && $0 > 0 }) { windowHours = v }
        if let v = try options.integer("max-samples", in: Self.maximumSamplesRange) { maximumSamples = v }
        if let v = try options.number("split-gap", requirement: "a positive number of seconds up to \(Int(Self.splitGapRange.upperBound))",
                                      where: { Self.splitGapRange.contains($0) && $0 > 0 }) { splitGapSeconds = v }
        if let v = options.value("fit") {
            do { fitting = try FittedParameters(names: v) } catch { throw UsageError(command: command, "--fit: \(error)") }
        }
        if let v = try options.integer("iterations", in: Self.iterationsRange) { iterations = v }
        if let v = try options.number("tolerance", requirement: "a non-negative number", where: { $0 >= 0 }) { tolerance = v }
        if let v = try options.number("holdout", requirement: "a fraction between 0 and 1", where: { $0 > 0 && $0 < 1 }) { holdoutFraction = v }
        if let v = try options.number("min-improvement") { minimumImprovement = v }
        if let v = try options.integer("min-samples", in: Self.minimumSamplesRange) { minimumSamples = v }
        if let v = options.value("reload") {
            guard let method = ReloadMethod(rawValue: v) else { throw UsageError(command: command, "--reload must be pid-file, systemd or none, got \"\(v)\"") }
            reload = method
        }
        if let v = options.value("pid-file") { pidFile = v }
        if let v = options.value("unit") { unit = v }
    }
}
