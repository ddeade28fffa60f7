import CommandLineSupport
import Foundation
import GazeKit

/// Every setting of `gazefilterd`: read from the JSON config file (`--config`), then
/// overridden by flags. The same keys in both places, with dashes in flags and
/// underscores in the file (`--reset-after` ↔ `"reset_after_s"`).
public struct DaemonConfiguration: Sendable, Equatable {
    /// Whether a socket binds its endpoint or connects to it.
    public enum SocketMode: String, Sendable, Equatable { case bind, connect }

    /// Where raw samples arrive (SUB), default `tcp://127.0.0.1:5555`, bound.
    public var inputEndpoint = "tcp://127.0.0.1:5555"
    public var inputMode = SocketMode.bind
    /// Where estimates are published (PUB), default `tcp://127.0.0.1:5556`, bound.
    public var outputEndpoint = "tcp://127.0.0.1:5556"
    public var outputMode = SocketMode.bind
    /// Messages a socket queues before it drops (ZMQ_SNDHWM / ZMQ_RCVHWM).
    public var highWaterMark = 100_000
    /// The parameter file every stream starts from.
    public var parametersPath = "config/params/default.json"
    /// A directory of per-stream parameter files, `<stream>.json`, that win where present.
    public var parametersDirectory: String?
    /// Where raw samples are recorded for refits; nil records nothing.
    public var recordDirectory: String?
    /// A file to write the daemon's pid into (for `gazefit refit` to signal it).
    public var pidFile: String?
    /// Seconds between statistics on `gaze.stats` and on stderr.
    public var statisticsInterval = 1.0
    /// The stderr log level.
    public var logLevel = LogLevel.info
    /// The most streams served at once; samples of further streams are counted as rejected.
    public var maximumStreams = 1024
    /// Settings for every stream not listed in `streamOverrides`.
    public var streamDefaults = StreamSettings()
    /// Per-stream settings by stream name.
    public var streamOverrides: [String: StreamSettings] = [:]

    /// The defaults.
    public init() {}

    /// The settings of one stream.
    public func settings(for stream: String) -> StreamSettings { streamOverrides[stream] ?? streamDefaults }

    /// The flags, in `--help` order; each maps to a config key.
    public static let options: [OptionSpec] = [
        OptionSpec("config", .value(placeholder: "FILE"), help: "JSON file holding any of the settings below (flags win)"),
        OptionSpec("input", .value(placeholder: "ENDPOINT"), help: "raw gaze SUB socket (default tcp://127.0.0.1:5555) [input]"),
        OptionSpec("input-connect", help: "connect the input socket instead of binding it [input_mode]"),
        OptionSpec("output", .value(placeholder: "ENDPOINT"), help: "cleaned gaze PUB socket (default tcp://127.0.0.1:5556) [output]"),
        OptionSpec("output-connect", help: "connect the output socket instead of binding it [output_mode]"),
        OptionSpec("high-water-mark", .value(placeholder: "N"), help: "messages queued per socket before dropping (default 100000) [high_water_mark]"),
        OptionSpec("params", .value(placeholder: "P.json"), help: "model parameters (default config/params/default.json) [params]"),
        OptionSpec("params-dir", .value(placeholder: "DIR"), help: "per-stream parameters DIR/<stream>.json, preferred where present [params_dir]"),
        OptionSpec("record-dir", .value(placeholder: "DIR"), help: "record every raw sample to DIR/<stream>/<UTC date>.csv [record_dir]"),
        OptionSpec("pid-file", .value(placeholder: "FILE"), help: "write the daemon's pid here [pid_file]"),
        OptionSpec("init", .value(placeholder: "MODE"), help: "first-sample (default): a stream starts at its first unmasked sample; params: at mu_0 [init]"),
        OptionSpec("rate", .value(placeholder: "HZ"), help: "default stream rate; gaps over 1.5 periods are bridged with predict-only steps [rate_hz]"),
        OptionSpec("reset-after", .value(placeholder: "SECONDS"), help: "a stream silent this long starts afresh (default 5) [reset_after_s]"),
        OptionSpec("stats-interval", .value(placeholder: "SECONDS"), help: "statistics period on gaze.stats and stderr (default 1) [stats_interval_s]"),
        OptionSpec("log-level", .value(placeholder: "LEVEL"), help: "debug, info (default), warning or error [log_level]"),
        OptionSpec("max-streams", .value(placeholder: "N"), help: "most streams served at once (default 1024) [max_streams]"),
    ]

    /// Config file keys, and per-stream keys under `"streams": {"<name>": {...}}`.
    static let fileKeys: Set<String> = ["input", "input_mode", "output", "output_mode", "high_water_mark", "params", "params_dir",
                                        "record_dir", "pid_file", "init", "rate_hz", "reset_after_s", "stats_interval_s",
                                        "log_level", "max_streams", "streams"]
    static let streamKeys: Set<String> = ["rate_hz", "reset_after_s", "init"]

    /// The configuration from the config file named by `--config` (if any) and the flags.
    /// - Throws: `GazeFileError` for a bad config file, `UsageError` for a bad flag value.
    public static func load(_ options: ParsedOptions) throws -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        if let path = options.value("config") { try configuration.apply(file: path) }
        try configuration.apply(flags: options)
        return configuration
    }

    /// Applies a JSON config file.
    public mutating func apply(file path: String) throws(GazeFileError) {
        let value: JSONValue
        do { value = try JSONValue.parse(try readFile(path)) } catch let error as GazeFileError { throw error } catch {
            throw GazeFileError(path: path, "not valid JSON: \(error)")
        }
        guard let object = value.object else { throw GazeFileError(path: path, "expected a JSON object of settings") }
        for key in object.keys.sorted() where !Self.fileKeys.contains(key) {
            throw GazeFileError(path: path, "unknown setting \"\(key)\" (known: \(Self.fileKeys.sorted().joined(separator: ", ")))")
        }
        func string(_ key: String) throws(GazeFileError) -> String? {
            guard let entry = object[key] else { return nil }
            if entry == .null { return nil }
            guard let text = entry.string, !text.isEmpty else { throw GazeFileError(path: path, "\"\(key)\" must be a non-empty string") }
            return text
        }
        func number(_ key: String, in object: [String: JSONValue], positive: Bool = true) throws(GazeFileError) -> Double? {
            guard let entry = object[key], entry != .null else { return nil }
            guard let number = entry.number, number.isFinite, !positive || number > 0 else {
                throw GazeFileError(path: path, "\"\(key)\" must be a positive number")
            }
            return number
        }
        func mode(_ key: String) throws(GazeFileError) -> SocketMode? {
            guard let text = try string(key) else { return nil }
            guard let mode = SocketMode(rawValue: text) else { throw GazeFileError(path: path, "\"\(key)\" must be \"bind\" or \"connect\"") }
            return mode
        }
        func initialization(_ entry: JSONValue?) throws(GazeFileError) -> StreamSettings.Initialization? {
            guard let entry, entry != .null else { return nil }
            guard let text = entry.string, let mode = StreamSettings.Initialization(rawValue: text) else {
                throw GazeFileError(path: path, "\"init\" must be \"first-sample\" or \"params\"")
            }
            return mode
        }
        if let text = try string("input") { inputEndpoint = text }
        if let mode = try mode("input_mode") { inputMode = mode }
        if let text = try string("output") { outputEndpoint = text }
        if let mode = try mode("output_mode") { outputMode = mode }
        if let number = try number("high_water_mark", in: object) { highWaterMark = Int(number) }
        if let text = try string("params") { parametersPath = text }
        if let text = try string("params_dir") { parametersDirectory = text }
        if let text = try string("record_dir") { recordDirectory = text }
        if let text = try string("pid_file") { pidFile = text }
        if let mode = try initialization(object["init"]) { streamDefaults.initialization = mode }
        if let rate = try number("rate_hz", in: object) { streamDefaults.rateHz = rate }
        if let seconds = try number("reset_after_s", in: object) { streamDefaults.resetAfterSeconds = seconds }
        if let seconds = try number("stats_interval_s", in: object) { statisticsInterval = seconds }
        if let text = try string("log_level") {
            guard let level = LogLevel(name: text) else { throw GazeFileError(path: path, "\"log_level\" must be debug, info, warning or error") }
            logLevel = level
        }
        if let number = try number("max_streams", in: object) { maximumStreams = Int(number) }
        if let streams = object["streams"] {
            guard let table = streams.object else { throw GazeFileError(path: path, "\"streams\" must map stream names to settings") }
            for (name, entry) in table {
                guard let settings = entry.object else { throw GazeFileError(path: path, "\"streams\".\"\(name)\" must be an object") }
                for key in settings.keys where !Self.streamKeys.contains(key) {
                    throw GazeFileError(path: path, "\"streams\".\"\(name)\": unknown setting \"\(key)\" (known: rate_hz, reset_after_s, init)")
                }
                var stream = streamDefaults
                if let rate = try number("rate_hz", in: settings) { stream.rateHz = rate }
                if let seconds = try number("reset_after_s", in: settings) { stream.resetAfterSeconds = seconds }
                if let mode = try initialization(settings["init"]) { stream.initialization = mode }
                streamOverrides[name] = stream
            }
        }
    }

    /// Applies flags over whatever the file said.
    public mutating func apply(flags options: ParsedOptions) throws(UsageError) {
        if let text = options.value("input") { inputEndpoint = text }
        if options.flag("input-connect") { inputMode = .connect }
        if let text = options.value("output") { outputEndpoint = text }
        if options.flag("output-connect") { outputMode = .connect }
        if let number = try options.integer("high-water-mark", in: 0...100_000_000) { highWaterMark = number }
        if let text = options.value("params") { parametersPath = text }
        if let text = options.value("params-dir") { parametersDirectory = text }
        if let text = options.value("record-dir") { recordDirectory = text }
        if let text = options.value("pid-file") { pidFile = text }
        if let text = options.value("init") {
            guard let mode = StreamSettings.Initialization(rawValue: text) else {
                throw UsageError(command: "gazefilterd", "--init must be first-sample or params, got \"\(text)\"")
            }
            streamDefaults.initialization = mode
        }
        if let rate = try options.number("rate", requirement: "a positive number", where: { $0 > 0 }) { streamDefaults.rateHz = rate }
        if let seconds = try options.number("reset-after", requirement: "a positive number", where: { $0 > 0 }) {
            streamDefaults.resetAfterSeconds = seconds
        }
        if let seconds = try options.number("stats-interval", requirement: "a positive number", where: { $0 > 0 }) {
            statisticsInterval = seconds
        }
        if let text = options.value("log-level") {
            guard let level = LogLevel(name: text) else {
                throw UsageError(command: "gazefilterd", "--log-level must be debug, info, warning or error, got \"\(text)\"")
            }
            logLevel = level
        }
        if let number = try options.integer("max-streams", in: 1...1_000_000) { maximumStreams = number }
    }
}
