import CommandLineSupport
import GazeKit

/// Every setting of `gazefilterd`, described once in `settings`: read from the JSON config
/// file (`--config`), then overridden by flags. Per-stream settings (the `StreamModel`'s) sit
/// at the top of the file and in flags as every stream's defaults, and under
/// `"streams": {"<name>": {...}}` for one stream. `gazefit refit` reads the same file with
/// this same code (`daemon_config`) to learn each stream's model.
public struct DaemonConfiguration: Sendable, Equatable {
    /// Whether a socket binds its endpoint or connects to it.
    public enum SocketMode: String, Sendable, Equatable, CaseIterable { case bind, connect }

    /// Where raw samples arrive (SUB), bound or connected.
    public var inputEndpoint = "tcp://127.0.0.1:5555"
    public var inputMode = SocketMode.bind
    /// Where estimates are published (PUB), bound or connected.
    public var outputEndpoint = "tcp://127.0.0.1:5556"
    public var outputMode = SocketMode.bind
    /// Messages a socket queues before it drops (ZMQ_SNDHWM / ZMQ_RCVHWM); 0 means no limit.
    public var highWaterMark = 100_000
    /// The parameter file every stream starts from.
    /// Default: found from anywhere (`DefaultLocations.parameters`).
    public var parametersPath = DefaultLocations.current.parameters
    /// The parameter file every binocular stream starts from (m = 4: lx, ly, rx, ry), read only
    /// when a stream is binocular. Default: `binocular.json` beside the found default parameters.
    public var binocularParametersPath = DefaultLocations.current.binocularParameters
    /// A directory of per-stream parameter files (`StreamPaths.parameters`) that win where present
    /// (default: `<state>/params`, where the refit installs them).
    public var parametersDirectory: String? = DefaultLocations.current.parametersDirectory
    /// Where raw samples are recorded for refits (default `<state>/recordings`); nil records nothing.
    public var recordDirectory: String? = DefaultLocations.current.recordDirectory
    /// A file to write the daemon's pid into, for `gazefit refit` to signal it (default `<state>/gazefilterd.pid`).
    public var pidFile: String? = DefaultLocations.current.pidFile
    /// Seconds between statistics on `gaze.stats` and on stderr.
    public var statisticsInterval = 1.0
    /// Shortest time between two statistics lines logged at info (only lines whose counts changed are logged).
    public var statisticsLogInterval = 60.0
    /// The stderr log level.
    public var logLevel = LogLevel.info
    /// The most streams served at once; samples of further streams are counted as rejected.
    public var maximumStreams = 1024
    /// A stream that sent nothing for this long is evicted: its recording file closed, its slot freed.
    public var evictAfterSeconds = 600.0
    /// The most recording files open at once (the daemon caps it further to a quarter of RLIMIT_NOFILE).
    public var maximumOpenRecordings = 256
    /// The daemon's CURVE certificate (`gazefilterd keygen` output, `NAME.key_secret`): when set,
    /// both sockets are CURVE servers and only clients whose public key is allowed get in or out.
    public var curveSecretKey: String?
    /// A directory of allowed clients' public certificates (`*.key`), re-read on SIGHUP.
    public var curveAllowedKeys: String?
    /// Whether binding a non-loopback address without CURVE is allowed (with a warning).
    public var allowInsecureRemote = false
    /// The model of every stream not listed in `streamOverrides`.
    public var streamDefaults = StreamModel()
    /// Per-stream models by stream name (the file's `streams`), each starting from the defaults.
    public var streamOverrides: [String: StreamModel] = [:]
    /// The stream-name prefixes served from the input socket (it subscribes `gaze.raw.<prefix>`);
    /// `[""]`, the default, serves every stream. Daemons behind one forwarder split a site's
    /// trackers by giving each its own prefixes.
    public var subscriptions: [String] = [""]
    /// Streams whose source is a Pupil Capture/Service (their `streams` entry has `pupil_remote`).
    public var pupilSources: [String: PupilSourceSettings] = [:]

    /// The defaults.
    public init() {}

    /// The model of one stream.
    public func model(for stream: String) -> StreamModel { streamOverrides[stream] ?? streamDefaults }

    /// This configuration with every stream's `binocular` as in `other` (a reload keeps the
    /// eyes of the streams in force: they decide wire format, recording layout and parameter shape).
    public func keepingEyes(of other: DaemonConfiguration) -> DaemonConfiguration {
        var kept = self
        kept.streamDefaults.binocular = other.streamDefaults.binocular
        for name in kept.streamOverrides.keys { kept.streamOverrides[name]!.binocular = other.model(for: name).binocular }
        return kept
    }

    /// Whether any stream the configuration names (or every stream, by default) is binocular:
    /// then the binocular parameters are read.
    public var hasBinocularStreams: Bool { streamDefaults.binocular || streamOverrides.values.contains { $0.binocular } }

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

    /// Every setting, in `--help` order: each one entry (key, flag, range, help).
    public static let settings = SettingsTable<DaemonConfiguration>([
        Setting("input", flag: "input", .text(placeholder: "ENDPOINT"), at: \.inputEndpoint, help: "raw gaze SUB socket"),
        Setting("input_mode", flag: nil, SettingType<SocketMode>.cases, at: \.inputMode, help: "bind or connect the input socket",
                switches: [("input-connect", "connect", "connect the input socket instead of binding it")]),
        Setting("output", flag: "output", .text(placeholder: "ENDPOINT"), at: \.outputEndpoint, help: "cleaned gaze PUB socket"),
        Setting("output_mode", flag: nil, SettingType<SocketMode>.cases, at: \.outputMode, help: "bind or connect the output socket",
                switches: [("output-connect", "connect", "connect the output socket instead of binding it")]),
        Setting("high_water_mark", flag: "high-water-mark", .integer(in: 0...100_000_000), at: \.highWaterMark,
                help: "messages queued per socket before dropping (0: no limit)"),
        Setting("params", flag: "params", .text(placeholder: "P.json"), at: \.parametersPath,
                help: "model parameters every stream starts from; by default the first found of the search in README, \"Where files live\""),
        Setting("binocular_params", flag: "binocular-params", .text(placeholder: "P.json"), at: \.binocularParametersPath,
                help: "model parameters every binocular stream starts from (H has 4 rows: lx, ly, rx, ry); read only when a stream is binocular; by default binocular.json of the same search"),
        Setting("params_dir", flag: "params-dir", SettingType.text(placeholder: "DIR").orNone, at: \.parametersDirectory,
                help: "per-stream parameters DIR/<stream>.json, preferred where present (the refit installs them here)"),
        Setting("record_dir", flag: "record-dir", SettingType.text(placeholder: "DIR").orNone, at: \.recordDirectory,
                help: "record every raw sample to DIR/<stream>/<UTC date>.csv, for the refit (none: record nothing)",
                switches: [("no-record", "none", "record nothing (the refit then has nothing to learn from)")]),
        Setting("pid_file", flag: "pid-file", SettingType.text(placeholder: "FILE").orNone, at: \.pidFile,
                help: "write the daemon's pid here, for gazefit refit's reload (none: no pid file)"),
        Setting("stats_interval_s", flag: "stats-interval", .number(in: 0.01...86_400, placeholder: "SECONDS"), at: \.statisticsInterval,
                help: "statistics period on gaze.stats (and on stderr at log level debug)"),
        Setting("stats_log_interval_s", flag: "stats-log-interval", .number(in: 0.01...86_400, placeholder: "SECONDS"), at: \.statisticsLogInterval,
                help: "at info level, a statistics line at most this often, and only when the counts changed"),
        Setting("log_level", flag: "log-level", .choice(LogLevel.allCases.map { ($0.name, $0) }, placeholder: "LEVEL"), at: \.logLevel,
                help: "the least severe stderr lines shown"),
        Setting("max_streams", flag: "max-streams", .integer(in: 1...1_000_000), at: \.maximumStreams, help: "most streams served at once"),
        Setting("subscribe", flag: "subscribe", .prefixes, at: \.subscriptions,
                help: "serve only streams whose names start with one of these comma-separated prefixes (all: an empty prefix)"),
        Setting("evict_after_s", flag: "evict-after", .number(in: 0.1...604_800, placeholder: "SECONDS"), at: \.evictAfterSeconds,
                help: "a stream silent this long is evicted: its recording file closed, its slot freed"),
        Setting("max_open_recordings", flag: "max-open-recordings", .integer(in: 1...65_536), at: \.maximumOpenRecordings,
                help: "most recording files open at once (least recently written closed first; at most a quarter of the descriptor limit)"),
        Setting("curve_secret_key", flag: "curve-secret-key", SettingType.text(placeholder: "FILE").orNone, at: \.curveSecretKey,
                help: "CURVE on both sockets with this certificate (gazefilterd keygen's NAME.key_secret, mode 0600)"),
        Setting("curve_allowed_keys", flag: "curve-allowed-keys", SettingType.text(placeholder: "DIR").orNone, at: \.curveAllowedKeys,
                help: "allowed clients' public certificates, DIR/*.key, re-read on SIGHUP"),
        Setting("allow_insecure_remote", flag: nil, .boolean, at: \.allowInsecureRemote,
                help: "allow binding a non-loopback address without CURVE (logged as a warning)",
                switches: [("allow-insecure-remote", "true", "allow binding a non-loopback address without CURVE (logged as a warning)")]),
    ] + StreamModel.settings.lifted(to: \DaemonConfiguration.streamDefaults, defaults: { DaemonConfiguration() }).settings,
        defaults: { DaemonConfiguration() })

    /// The key holding per-stream settings.
    public static let streamsKey = "streams"

    /// The flags, in `--help` order: `--config`, then one per setting.
    public static var options: [OptionSpec] {
        [OptionSpec("config", .value(placeholder: "FILE"), help: "JSON file holding any of the settings below (flags win)")] + settings.options
    }

    /// The configuration from the config file named by `--config` (if any) and the flags.
    /// - Throws: `GazeFileError` for a bad config file, `UsageError` for a bad flag value.
    public static func load(_ options: ParsedOptions) throws -> DaemonConfiguration {
        try load(file: options.value("config"), flags: options)
    }

    /// The configuration a config file gives (with the defaults for the rest): how
    /// `gazefit refit` learns the daemon's streams, with the daemon's own reading of the file.
    public static func read(file path: String) throws(GazeFileError) -> DaemonConfiguration {
        do { return try load(file: path, flags: nil) } catch let error as GazeFileError { throw error } catch {
            throw GazeFileError(path: path, "\(error)")
        }
    }

    /// Reads `file` (if any), applies `flags` (if any) over it, then each stream's own settings
    /// over the resulting defaults: a stream's entry in the file wins over a flag for all streams.
    static func load(file path: String?, flags: ParsedOptions?) throws -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        var streams: [String: SettingsFile] = [:]
        if let path {
            let file = try SettingsFile(path: path, knownKeys: settings.keys.union([streamsKey]))
            try settings.apply(file, to: &configuration)
            streams = try file.objects(streamsKey, knownKeys: StreamModel.settings.keys.union(PupilSourceSettings.settings.keys))
            for name in streams.keys.sorted() {
                if let problem = GazeTopic.problem(name: name) {
                    throw GazeFileError(path: path, "\"\(streamsKey)\": \"\(name)\" is not a stream name: \(problem)")
                }
            }
        }
        if let flags { try settings.apply(flags, to: &configuration, command: "gazefilterd") }
        for (name, entry) in streams {
            var model = configuration.streamDefaults
            if entry.values[PupilSourceSettings.remoteKey] != nil {
                var source = PupilSourceSettings()
                try PupilSourceSettings.settings.apply(entry, to: &source)
                configuration.pupilSources[name] = source
                model.loss = PupilSourceSettings.defaultLoss  // unless the entry says otherwise
            } else if let key = PupilSourceSettings.settings.keys.first(where: { entry.values[$0] != nil }) {
                throw GazeFileError(path: entry.path, "\(entry.context): \"\(key)\" needs \"\(PupilSourceSettings.remoteKey)\" (a Pupil source)")
            }
            try StreamModel.settings.apply(entry, to: &model)
            configuration.streamOverrides[name] = model
        }
        return configuration
    }
}

extension SettingType where Value == [String] {
    /// Stream-name prefixes: comma-separated in a flag; a list of strings (or one string,
    /// comma-separated) in a file; each empty (every stream) or a valid start of a stream name;
    /// at most 1024.
    public static var prefixes: SettingType {
        let parse: @Sendable ([String]) -> [String]? = { prefixes in
            guard (1...1024).contains(prefixes.count) else { return nil }
            for prefix in prefixes where !prefix.isEmpty {
                guard prefix.utf8.count <= GazeTopic.maximumNameLength, !prefix.hasPrefix("."),
                      prefix.utf8.allSatisfy(GazeTopic.isNameCharacter) else { return nil }
            }
            return prefixes
        }
        return SettingType(
            placeholder: "PREFIX,...", requirement: "comma-separated stream-name prefixes ([A-Za-z0-9_.:-], not starting with a dot)",
            fromText: { parse($0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)) },
            fromJSON: { json in
                if let text = json.string { return parse(text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)) }
                guard let items = json.array, items.allSatisfy({ $0.string != nil }) else { return nil }
                return parse(items.map { $0.string! })
            },
            describe: { $0 == [""] ? "all" : $0.joined(separator: ",") })
    }
}
