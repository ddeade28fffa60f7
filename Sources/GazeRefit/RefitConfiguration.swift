import Foundation
import CommandLineSupport
import GazeFilterConfiguration
import GazeKit
import LinearDynamics

/// Every setting of `gazefit refit`, described once in `settings`: from `config/gazefit.json`
/// (or `--config`), flags win. What the refit shares with the daemon (where recordings and
/// parameters live, the pid file, and each stream's model: loss rule, plausible range, rate,
/// restarts, start rule) it learns from the daemon's own config file (`daemon_config`), read
/// with the daemon's own code; a path given here as well wins over the daemon's.
public struct RefitConfiguration: Sendable, Equatable {
    /// How the running daemon is told to reload after parameters are installed.
    public enum ReloadMethod: String, Sendable, Equatable, CaseIterable {
        /// SIGHUP to the pid in `pidFile`.
        case pidFile = "pid-file"
        /// `systemctl reload <unit>`.
        case systemd
        /// Nothing (the daemon picks the file up at its next reload or restart).
        case none
    }

    /// The daemon's config file, whose streams, paths and pid file the refit uses.
    public var daemonConfig: String?
    /// The daemon's recordings: `StreamPaths.recording`. Nil: the daemon's `record_dir`.
    public var recordDirectoryOverride: String?
    /// Where per-stream parameters live; refits write here. Nil: the daemon's `params_dir`.
    public var parametersDirectoryOverride: String?
    /// The parameters a stream without its own file starts from. Nil: the daemon's `params`.
    public var defaultParametersOverride: String?
    /// The parameters a binocular stream without its own file starts from. Nil: the daemon's `binocular_params`.
    public var defaultBinocularParametersOverride: String?
    /// Where reports (JSON and SVG) go; nil prints the JSON summary only.
    public var reportDirectory: String? = DefaultLocations.current.reportDirectory
    /// Only recordings of the last this many hours, by whole UTC days: the files dated on or after
    /// the UTC date of now − `windowHours` (so 24 means yesterday's and today's files).
    public var windowHours = 24.0
    /// At most this many samples per stream, the most recent.
    public var maximumSamples = 2_000_000
    /// Sequences shorter than this are not used.
    public var minimumSequenceLength = 10
    /// Streams with fewer observed samples than this are skipped.
    public var minimumSamples = 500
    /// The parameters EM fits.
    public var fitting: FittedParameters = [.transition, .transitionCovariance, .observation, .observationCovariance]
    /// EM's iteration cap; its stopping rule per observed sample (converged: the last gain and
    /// the gain still to come are both below it, MODEL.md "EM"); an optional total tolerance.
    public var iterations = 500
    public var tolerancePerSample: Double? = 1e-7
    public var tolerance: Double?
    /// SQUAREM (monotone, with a fallback step) or plain EM.
    public var acceleration = EMAcceleration.squarem
    /// The most recent fraction of the data held out to judge the fit.
    public var holdoutFraction = 0.2
    /// Held-out log-likelihood per observed sample the new parameters must gain over the current ones.
    public var minimumImprovement = 0.001
    /// How to tell the daemon.
    public var reload = ReloadMethod.pidFile
    /// The daemon's pid file (for `pid-file` reloads). Nil: the daemon's `pid_file`.
    public var pidFileOverride: String?
    /// The daemon's unit (for `systemd` reloads).
    public var unit = "gazefilterd.service"
    /// The daemon's configuration as `daemon_config` gives it (the daemon's defaults without one).
    public var daemon = DaemonConfiguration()

    public init() {}

    /// Where recordings, parameters and the pid file are when neither this config nor the daemon's
    /// says: the daemon's own defaults (`DefaultLocations`), so both sides find the same files.
    public enum Fallback {
        public static var recordDirectory: String { DefaultLocations.current.recordDirectory }
        public static var parametersDirectory: String { DefaultLocations.current.parametersDirectory }
        public static var defaultParameters: String { DefaultLocations.current.parameters }
        public static var defaultBinocularParameters: String { DefaultLocations.current.binocularParameters }
        public static var pidFile: String { DefaultLocations.current.pidFile }
    }

    /// The daemon's recordings: this config's `record_dir`, else the daemon's, else the fallback.
    public var recordDirectory: String { recordDirectoryOverride ?? daemon.recordDirectory ?? Fallback.recordDirectory }
    /// Per-stream parameters: this config's `params_dir`, else the daemon's, else the fallback.
    public var parametersDirectory: String { parametersDirectoryOverride ?? daemon.parametersDirectory ?? Fallback.parametersDirectory }
    /// The default parameters: this config's `default_params`, else the daemon's `params` (its own default when unset).
    public var defaultParameters: String { defaultParametersOverride ?? daemon.parametersPath }
    /// The default parameters of binocular streams: this config's `default_binocular_params`, else the daemon's `binocular_params`.
    public var defaultBinocularParameters: String { defaultBinocularParametersOverride ?? daemon.binocularParametersPath }
    /// The daemon's pid file: this config's `pid_file`, else the daemon's, else the fallback.
    public var pidFile: String { pidFileOverride ?? daemon.pidFile ?? Fallback.pidFile }
    /// A stream's model, as the daemon runs it.
    public func model(for stream: String) -> StreamModel { daemon.model(for: stream) }

    /// A path that defaults to the daemon's (`daemon_config`), else to `fallback`.
    static func daemonPath(_ placeholder: String, fallback: String) -> SettingType<String?> {
        let text = SettingType<String>.text(placeholder: placeholder)
        return SettingType<String?>(placeholder: placeholder, requirement: text.requirement,
                                    fromText: { text.fromText($0).map { .some($0) } }, fromJSON: { text.fromJSON($0).map { .some($0) } },
                                    describe: { $0 ?? "the daemon's (daemon_config), else \(fallback)" })
    }

    /// Every setting, in `--help` order: each one entry (key, flag, range, help).
    public static let settings = SettingsTable<RefitConfiguration>([
        Setting("daemon_config", flag: "daemon-config", SettingType.text(placeholder: "FILE").orNone, at: \.daemonConfig,
                help: "the daemon's config file (gazefilterd.json): each stream's model and the paths below are read from it"),
        Setting("record_dir", flag: "record-dir", daemonPath("DIR", fallback: Fallback.recordDirectory), at: \.recordDirectoryOverride,
                help: "the daemon's recordings"),
        Setting("params_dir", flag: "params-dir", daemonPath("DIR", fallback: Fallback.parametersDirectory), at: \.parametersDirectoryOverride,
                help: "per-stream parameters, written here"),
        Setting("default_params", flag: "default-params", daemonPath("P.json", fallback: Fallback.defaultParameters), at: \.defaultParametersOverride,
                help: "parameters of streams without their own file"),
        Setting("default_binocular_params", flag: "default-binocular-params",
                daemonPath("P.json", fallback: Fallback.defaultBinocularParameters), at: \.defaultBinocularParametersOverride,
                help: "parameters of binocular streams without their own file (the daemon's binocular_params)"),
        Setting("report_dir", flag: "report-dir", SettingType.text(placeholder: "DIR").orNone, at: \.reportDirectory,
                help: "where JSON and SVG reports go (none: print the report only)"),
        Setting("window_hours", flag: "window-hours", .number(in: 0...87_600, exclusiveLower: true, placeholder: "H"), at: \.windowHours,
                help: "use the recordings dated on or after the UTC day of now − H hours: whole days, so 24 reads yesterday's and today's files"),
        Setting("max_samples", flag: "max-samples", .integer(in: 1...100_000_000), at: \.maximumSamples,
                help: "at most N samples per stream, the most recent; older files are not read once N are collected"),
        Setting("min_sequence", flag: "min-sequence", .integer(in: 1...1_000_000), at: \.minimumSequenceLength,
                help: "sequences with fewer steps are not used"),
        Setting("min_samples", flag: "min-samples", .integer(in: 1...100_000_000), at: \.minimumSamples,
                help: "skip streams with fewer observed (unmasked) samples"),
        Setting("fit", flag: "fit", .parsed(placeholder: "D,Q,H,R", requirement: "a comma-separated list of D, Q, H, R, mu_0, sigma_0, b, d",
                                            parse: { try? FittedParameters(names: $0) }, describe: { $0.description }), at: \.fitting,
                help: "the parameters EM fits"),
        Setting("iterations", flag: "iterations", .integer(in: 1...1_000_000), at: \.iterations,
                help: "EM iteration cap: a fit that reaches it is reported as not converged"),
        Setting("tolerance_per_sample", flag: "tolerance-per-sample", SettingType.number(in: 0...1, exclusiveLower: true, placeholder: "NATS").orNone,
                at: \.tolerancePerSample,
                help: "converged once the last gain and the gain still to come, per observed sample, are both below this"),
        Setting("tolerance", flag: "tolerance", SettingType.number(in: 0...1e9, placeholder: "TOL").orNone, at: \.tolerance,
                help: "also stop once an iteration gains less than this in total (nats)"),
        Setting("acceleration", flag: "acceleration", SettingType<EMAcceleration>.cases, at: \.acceleration,
                help: "squarem (accelerated, monotone) or none (plain EM)"),
        Setting("holdout_fraction", flag: "holdout", .number(in: 0...0.99, exclusiveLower: true, placeholder: "FRACTION"), at: \.holdoutFraction,
                help: "the most recent fraction held out to judge the fit"),
        Setting("min_improvement", flag: "min-improvement", .number(in: -1000...1000, placeholder: "NATS"), at: \.minimumImprovement,
                help: "held-out log-likelihood per observed sample the fit must gain"),
        Setting("reload", flag: "reload", SettingType<ReloadMethod>.cases, at: \.reload, help: "how the daemon is told: pid-file, systemd or none"),
        Setting("pid_file", flag: "pid-file", daemonPath("FILE", fallback: Fallback.pidFile), at: \.pidFileOverride, help: "the daemon's pid file"),
        Setting("unit", flag: "unit", .text(placeholder: "UNIT"), at: \.unit, help: "the daemon's systemd unit"),
    ], defaults: { RefitConfiguration() })

    /// Settings of earlier versions that now belong elsewhere, with where they went.
    static let retiredKeys = [
        "split_gap_s": "sequences split where the daemon restarts a stream, at its reset_after_s (set it in the daemon's config, named by daemon_config)",
    ]

    /// The flags of `gazefit refit`: the job's own, then one per setting.
    public static var options: [OptionSpec] {
        [OptionSpec("config", .value(placeholder: "FILE"), help: "JSON settings (see config/gazefit.json); flags win"),
         OptionSpec("stream", .repeatedValue(placeholder: "NAME"), help: "refit only this stream (default: every stream with recordings)"),
         OptionSpec("dry-run", help: "fit, judge and report, but install nothing and signal no one")] + settings.options
    }

    /// Settings from the config file (if any) and the flags, then the daemon's config (if named).
    /// - Throws: `GazeFileError` for a bad config file (either), `UsageError` for a bad flag.
    public static func load(_ options: ParsedOptions) throws -> RefitConfiguration {
        var configuration = RefitConfiguration()
        if let path = options.value("config") {
            let file = try SettingsFile(path: path, knownKeys: settings.keys.union(retiredKeys.keys))
            for key in retiredKeys.keys.sorted() where file.values[key] != nil {
                throw GazeFileError(path: path, "\"\(key)\" is no longer a refit setting: \(retiredKeys[key]!)")
            }
            try settings.apply(file, to: &configuration)
        }
        try settings.apply(options, to: &configuration, command: "gazefit refit")
        if let daemonConfig = configuration.daemonConfig {
            // A relative daemon_config in a config file is relative to that file, so that the shipped
            // pair (config/gazefit.json → gazefilterd.json) works from the checkout and installed alike.
            var path = daemonConfig
            if let file = options.value("config"), options.value("daemon-config") == nil, !path.hasPrefix("/") {
                path = ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent(path)
            }
            configuration.daemon = try DaemonConfiguration.read(file: path)
        }
        return configuration
    }
}
