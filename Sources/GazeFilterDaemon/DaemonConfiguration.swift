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
    /// A stream that sent nothing for this long is evicted: its recording file closed, its slot freed.
    public var evictAfterSeconds = 600.0
    /// The most recording files open at once (further capped to a quarter of RLIMIT_NOFILE).
    public var maximumOpenRecordings = 256
    /// The daemon's CURVE certificate (`gazefilterd keygen` output, `NAME.key_secret`): when set,
    /// both sockets are CURVE servers and only clients whose public key is allowed get in or out.
    public var curveSecretKey: String?
    /// A directory of allowed clients' public certificates (`*.key`), re-read on SIGHUP.
    public var curveAllowedKeys: String?
    /// Whether binding a non-loopback address without CURVE is allowed (with a warning).
    public var allowInsecureRemote = false
    /// Settings for every stream not listed in `streamOverrides`.
    public var streamDefaults = StreamSettings()
    /// Per-stream settings by stream name.
    public var streamOverrides: [String: StreamSettings] = [:]

    /// The defaults.
    public init() {}

    /// The bound endpoints that anyone on the network could reach: bound (not connected)
    /// tcp/ws/pgm endpoints whose host is not loopback (`*`, `0.0.0.0`, an interface, a
    /// routable address). Empty when CURVE is on: then every client must hold an allowed key.
    public var insecureRemoteEndpoints: [String] {
        guard curveSecretKey == nil else { return [] }
        return [(inputEndpoint, inputMode), (outputEndpoint, outputMode)].compactMap { endpoint, mode in
            mode == .bind && !Self.isLocal(endpoint) ? endpoint : nil
        }
    }

    /// Whether only this machine can reach `endpoint`: ipc:// and inproc://, or a tcp host of
    /// 127.x.x.x, ::1, localhost or the loopback interface `lo`.
    static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        var host = Substring(endpoint.dropFirst(6))
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        if let semicolon = host.lastIndex(of: ";") { host = host[host.index(after: semicolon)...] }  // source;destination
        host = host.trimmingPrefix("[")
        if host.hasSuffix("]") { host = host.dropLast() }
        return host.hasPrefix("127.") || host == "::1" || host == "localhost" || host == "lo"
    }

    /// The settings of one stream.
    public func settings(for stream: String) -> StreamSettings { streamOverrides[stream] ?? streamDefaults }

    /// The flags, in `--help` order; each maps to a config key.
    public static let options: [OptionSpec] = [
        OptionSpec("config", .value(placeholder: "FILE"), help: "JSON file holding any of the settings below (flags win)"),
        OptionSpec("input", .value(placeholder: "ENDPOINT"), help: "raw gaze SUB socket (default tcp://127.0.0.1:5555) [input]"),
        OptionSpec("input-connect", help: "connect the input socket instead of binding it [input_mode]"),
        OptionSpec("output", .value(placeholder: "ENDPOINT"), help: "cleaned gaze PUB socket (default tcp://127.0.0.1:5556) [output]"),
        OptionSpec("output-connect", help: "connect the output socket instead of binding it [output_mode]"),
        OptionSpec("high-water-mark", .value(placeholder: "N"), help: "messages queued per socket before dropping (default 100000, 0 no limit) [high_water_mark]"),
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
        OptionSpec("evict-after", .value(placeholder: "SECONDS"), help: "a stream silent this long is evicted: its file closed, its slot freed (default 600) [evict_after_s]"),
        OptionSpec("curve-secret-key", .value(placeholder: "FILE"), help: "CURVE on both sockets with this certificate (gazefilterd keygen's NAME.key_secret, mode 0600) [curve_secret_key]"),
        OptionSpec("curve-allowed-keys", .value(placeholder: "DIR"), help: "allowed clients' public certificates, DIR/*.key; re-read on SIGHUP [curve_allowed_keys]"),
        OptionSpec("allow-insecure-remote", help: "allow binding a non-loopback address without CURVE (logged as a warning) [allow_insecure_remote]"),
        OptionSpec("max-open-recordings", .value(placeholder: "N"), help: "most recording files open at once, at most a quarter of the descriptor limit (default 256) [max_open_recordings]"),
    ]

    /// The accepted ranges, the same for flags and the config file.
    public enum Limits {
        /// ZMQ_SNDHWM / ZMQ_RCVHWM; 0 means no limit.
        public static let highWaterMark = 0...100_000_000
        public static let maximumStreams = 1...1_000_000
        /// Tracker rates, Hz.
        public static let rateHz = 0.001...100_000.0
        /// Silence before a stream restarts, seconds (up to a day).
        public static let resetAfterSeconds = 0.001...86_400.0
        /// Statistics period, seconds.
        public static let statisticsInterval = 0.01...86_400.0
        /// Idle time before a stream is evicted, seconds (up to a week).
        public static let evictAfterSeconds = 0.1...604_800.0
        /// Recording files open at once.
        public static let maximumOpenRecordings = 1...65_536
    }

    /// Config file keys, and per-stream keys under `"streams": {"<name>": {...}}`.
    static let fileKeys: Set<String> = ["input", "input_mode", "output", "output_mode", "high_water_mark", "params", "params_dir",
                                        "record_dir", "pid_file", "init", "rate_hz", "reset_after_s", "stats_interval_s",
                                        "log_level", "max_streams", "evict_after_s", "max_open_recordings", "curve_secret_key",
                                        "curve_allowed_keys", "allow_insecure_remote", "streams"]
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
        let file = try SettingsFile(path: path, knownKeys: Self.fileKeys)
        let modes = [SocketMode.bind.rawValue, SocketMode.connect.rawValue]
        let initializations = StreamSettings.Initialization.allCases.map(\.rawValue)
        if let text = try file.string("input") { inputEndpoint = text }
        if let text = try file.choice("input_mode", modes) { inputMode = SocketMode(rawValue: text)! }
        if let text = try file.string("output") { outputEndpoint = text }
        if let text = try file.choice("output_mode", modes) { outputMode = SocketMode(rawValue: text)! }
        if let number = try file.integer("high_water_mark", in: Limits.highWaterMark) { highWaterMark = number }
        if let text = try file.string("params") { parametersPath = text }
        if let text = try file.string("params_dir") { parametersDirectory = text }
        if let text = try file.string("record_dir") { recordDirectory = text }
        if let text = try file.string("pid_file") { pidFile = text }
        if let text = try file.choice("init", initializations) { streamDefaults.initialization = .init(rawValue: text)! }
        if let rate = try file.number("rate_hz", in: Limits.rateHz) { streamDefaults.rateHz = rate }
        if let seconds = try file.number("reset_after_s", in: Limits.resetAfterSeconds) { streamDefaults.resetAfterSeconds = seconds }
        if let seconds = try file.number("stats_interval_s", in: Limits.statisticsInterval) { statisticsInterval = seconds }
        if let text = try file.choice("log_level", LogLevel.allCases.map(\.name)) { logLevel = LogLevel(name: text)! }
        if let number = try file.integer("max_streams", in: Limits.maximumStreams) { maximumStreams = number }
        if let seconds = try file.number("evict_after_s", in: Limits.evictAfterSeconds) { evictAfterSeconds = seconds }
        if let number = try file.integer("max_open_recordings", in: Limits.maximumOpenRecordings) { maximumOpenRecordings = number }
        if let text = try file.string("curve_secret_key") { curveSecretKey = text }
        if let text = try file.string("curve_allowed_keys") { curveAllowedKeys = text }
        if let allowed = try file.boolean("allow_insecure_remote") { allowInsecureRemote = allowed }
        for (name, settings) in try file.objects("streams", knownKeys: Self.streamKeys) {
            var stream = streamDefaults
            if let rate = try settings.number("rate_hz", in: Limits.rateHz) { stream.rateHz = rate }
            if let seconds = try settings.number("reset_after_s", in: Limits.resetAfterSeconds) { stream.resetAfterSeconds = seconds }
            if let text = try settings.choice("init", initializations) { stream.initialization = .init(rawValue: text)! }
            streamOverrides[name] = stream
        }
    }

    /// Applies flags over whatever the file said.
    public mutating func apply(flags options: ParsedOptions) throws(UsageError) {
        if let text = options.value("input") { inputEndpoint = text }
        if options.flag("input-connect") { inputMode = .connect }
        if let text = options.value("output") { outputEndpoint = text }
        if options.flag("output-connect") { outputMode = .connect }
        if let number = try options.integer("high-water-mark", in: Limits.highWaterMark) { highWaterMark = number }
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
        if let rate = try options.number("rate", in: Limits.rateHz) { streamDefaults.rateHz = rate }
        if let seconds = try options.number("reset-after", in: Limits.resetAfterSeconds) { streamDefaults.resetAfterSeconds = seconds }
        if let seconds = try options.number("stats-interval", in: Limits.statisticsInterval) { statisticsInterval = seconds }
        if let text = options.value("log-level") {
            guard let level = LogLevel(name: text) else {
                throw UsageError(command: "gazefilterd", "--log-level must be debug, info, warning or error, got \"\(text)\"")
            }
            logLevel = level
        }
        if let number = try options.integer("max-streams", in: Limits.maximumStreams) { maximumStreams = number }
        if let seconds = try options.number("evict-after", in: Limits.evictAfterSeconds) { evictAfterSeconds = seconds }
        if let number = try options.integer("max-open-recordings", in: Limits.maximumOpenRecordings) { maximumOpenRecordings = number }
        if let text = options.value("curve-secret-key") { curveSecretKey = text }
        if let text = options.value("curve-allowed-keys") { curveAllowedKeys = text }
        if options.flag("allow-insecure-remote") { allowInsecureRemote = true }
    }
}
