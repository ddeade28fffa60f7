#if canImport(Glibc)
import Glibc
#endif
import CommandLineSupport
import Foundation
import GazeFilterConfiguration
import GazeKit
import ZeroMQ

/// `gazefilterd`'s command line: parses flags and the config file, wires signals, logging,
/// systemd notification and the pid file around a `GazeFilterService`, and returns the exit
/// status (0 after a clean stop; 2 for bad flags, config or parameters; 1 when sockets fail).
public enum DaemonCommand {
    /// The command's flags and help.
    public static let spec = CommandSpec(
        name: "gazefilterd",
        summary: "Live Kalman filtering of eye-tracker gaze streams over ZeroMQ: subscribes to gaze.raw.<stream>, publishes gaze.clean.<stream>.",
        options: DaemonConfiguration.options,
        notes: """
            Config keys are shown in [brackets]. The stream settings (\(StreamModel.settings.settings.map(\.key).joined(separator: ", ")))
            may also be set per stream: "streams": {"<name>": {"rate_hz": 1000, "loss": "nan"}} (see config/gazefilterd.json).
            A stream's source is a Pupil Capture/Service when its entry has \(PupilSourceSettings.remoteKey) (then its loss rule is
            \(PupilSourceSettings.defaultLoss) unless the entry sets loss; see config/examples/pupil-core.json):
            \(PupilSourceSettings.settings.settings.map { "  \($0.key): \($0.help) (default \($0.value(in: PupilSourceSettings())))" }.joined(separator: "\n"))
            Signals: SIGHUP reloads the configuration and parameter files (a file that fails validation
            is reported and the old parameters stay); SIGTERM or SIGINT stops reading, flushes recordings,
            closes the sockets and exits 0. Wire format: docs/PROTOCOL.md.
            """)

    /// Runs the daemon with `arguments` (without the program name), or `gazefilterd keygen`.
    /// Call `SignalWaiter.blockSignals()` first.
    public static func run(_ arguments: [String]) -> Int32 {
        StandardStream.ignoreBrokenPipes()  // a closed stderr must not kill the daemon
        if arguments.first == "keygen" { return KeygenCommand.run(Array(arguments.dropFirst())) }
        let environment = ProcessInfo.processInfo.environment
        let options: ParsedOptions
        do {
            guard let parsed = try spec.parse(arguments) else {
                try? StandardStream.output.write(spec.helpText)
                return 0
            }
            options = parsed
        } catch {
            return fail(error)
        }
        let configuration: DaemonConfiguration
        do { configuration = try DaemonConfiguration.load(options) } catch { return fail(error) }

        let insecure = configuration.insecureRemoteEndpoints
        if !insecure.isEmpty && !configuration.allowInsecureRemote {
            return fail(UsageError(command: "gazefilterd",
                "refusing to bind \(insecure.joined(separator: " and ")) without CURVE: anyone who can reach it could inject or read gaze; "
                + "set curve_secret_key (see gazefilterd keygen), bind a loopback address, or set allow_insecure_remote"))
        }
        let control = ServiceControl()
        let logger = Logger(program: "gazefilterd", level: configuration.logLevel, environment: environment)
        if !insecure.isEmpty {
            logger.warning("allow_insecure_remote: \(insecure.joined(separator: " and ")) bound without CURVE: anyone who can reach it can inject or read gaze")
        }
        SignalWaiter.start(control: control) { signal in
            logger.info(signal == SIGHUP ? "SIGHUP: reloading" : "signal \(signal): shutting down")
        }
        let descriptors = DescriptorLimit.raise()
        let openRecordings = min(configuration.maximumOpenRecordings, max(1, descriptors / 4))
        if openRecordings < configuration.maximumOpenRecordings && configuration.recordDirectory != nil {
            logger.warning("descriptor limit \(descriptors): at most \(openRecordings) recording files open at once (max_open_recordings \(configuration.maximumOpenRecordings))")
        }
        let service: GazeFilterService
        do {
            service = try GazeFilterService(
                configuration: configuration, reloadConfiguration: { try DaemonConfiguration.load(options) },
                control: control, logger: logger, notifier: SystemdNotifier(environment: environment),
                maximumOpenRecordings: openRecordings)
        } catch {
            return fail(error)
        }
        if let pidFile = configuration.pidFile {
            do {
                let directory = (pidFile as NSString).deletingLastPathComponent
                if !directory.isEmpty { try FileSystem.createDirectory(directory) }
                try AtomicFile.write(text: "\(getpid())\n", to: pidFile)
            } catch { return fail(error) }
        }
        defer { if let pidFile = configuration.pidFile { unlink(pidFile) } }
        do {
            try service.run()
        } catch let error as GazeFilterService.EndpointError {
            logger.error("\(error)")
            return 1
        } catch {
            logger.error("\(error) (input \(configuration.inputEndpoint), output \(configuration.outputEndpoint))")
            return 1
        }
        return 0
    }

    /// Prints one line for a start-up error and returns exit status 2. A usage error already
    /// starts with the program's name; everything else gets it here, so the prefix appears once.
    static func fail(_ error: any Error) -> Int32 {
        let line = error is UsageError ? "\(error)" : "gazefilterd: \(error)"
        try? StandardStream.error.write(line + "\n")
        return 2
    }
}
